#!/bin/sh
# Trusts extra CA certificates (a TLS-intercepting corporate proxy, a private mirror).
#
#   install-ca-certs.sh DIR [ROOT]
#
# Every *.pem / *.crt file in DIR (one or more PEM certificates each) is added to the
# system store of the root filesystem ROOT (default /): through update-ca-certificates
# where the base has it (Debian, Ubuntu), else appended to the bundle directly.
# pip, requests and Python's ssl then use that bundle (PIP_CERT / SSL_CERT_FILE /
# REQUESTS_CA_BUNDLE point at it in the Dockerfile). An empty DIR does nothing.
set -eu
DIR=$1
ROOT=${2:-/}
BUNDLE=etc/ssl/certs/ca-certificates.crt
found=0
for cert in "$DIR"/*.pem "$DIR"/*.crt; do
    [ -f "$cert" ] || continue
    grep -q -- "-----BEGIN CERTIFICATE-----" "$cert" || { echo "not a PEM certificate: $cert" >&2; exit 1; }
    name=$(basename "$cert"); name=${name%.*}
    mkdir -p "$ROOT/usr/local/share/ca-certificates/robustedge-extra"
    # update-ca-certificates only picks up *.crt files.
    cp "$cert" "$ROOT/usr/local/share/ca-certificates/robustedge-extra/$name.crt"
    found=$((found + 1))
done
[ "$found" -gt 0 ] || exit 0
if [ -x "$ROOT/usr/sbin/update-ca-certificates" ]; then
    if [ "$ROOT" = / ]; then update-ca-certificates >/dev/null; else chroot "$ROOT" update-ca-certificates >/dev/null; fi
else
    mkdir -p "$(dirname "$ROOT/$BUNDLE")"
    cat "$ROOT"/usr/local/share/ca-certificates/robustedge-extra/*.crt >>"$ROOT/$BUNDLE"
fi
echo "trusting $found extra CA certificate file(s) from $DIR"
