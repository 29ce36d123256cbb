#!/usr/bin/env bash
# Builds a slim Debian bookworm base image with Python 3.11 (Debian's python3) using
# debootstrap, without any container registry, and imports it into podman's store.
#
#   containers/build-base.sh [IMAGE]          # default localhost/robustedge-base:bookworm
#
# The result is cached twice: the image in podman's store (skipped when present) and
# a root-filesystem tarball under $ROBUSTEDGE_CACHE (default ~/.cache/robustedge),
# keyed by suite, architecture, packages and BASE_REVISION (bump it when the recipe
# below changes), so that a fresh podman store
# (a CI runner with a cached directory) only re-imports it (seconds, not minutes).
#
# Environment:
#   DEBIAN_MIRROR   mirror to bootstrap from (default: the first deb.debian.org-style
#                   URI in /etc/apt/sources.list*, else http://deb.debian.org/debian)
#   DEBIAN_SUITE    default bookworm (its python3 is 3.11, the project's Python)
#   ROBUSTEDGE_CACHE, REBUILD_BASE=1 (ignore both caches)
#   EXTRA_CA_CERTS_DIR  PEM certificates (*.pem, *.crt) to trust inside the base, for
#                   a TLS-intercepting proxy in front of an https mirror
set -euo pipefail

IMAGE=${1:-localhost/robustedge-base:bookworm}
SUITE=${DEBIAN_SUITE:-bookworm}
ARCH=$(dpkg --print-architecture)
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${ROBUSTEDGE_CACHE:-${HOME:-/root}/.cache/robustedge}
# Packages on top of minbase: the interpreter with venv/ensurepip and CA certificates
# (pip over https). No compilers: every dependency ships a wheel.
PACKAGES=python3,python3-venv,ca-certificates
BASE_REVISION=1
KEY=$(echo "$SUITE $ARCH $PACKAGES $BASE_REVISION ${EXTRA_CA_CERTS_DIR:-}" | sha256sum | cut -c1-12)
TARBALL=$CACHE/base-$SUITE-$ARCH-$KEY.tar.gz

# podman/runc here refuse ulimits above 16384 (the inherited soft/hard limit is higher).
ulimit -n 16384 2>/dev/null || true
ulimit -u 16384 2>/dev/null || true

if [ -z "${REBUILD_BASE:-}" ] && podman image exists "$IMAGE"; then
    echo "base image $IMAGE present (REBUILD_BASE=1 rebuilds it)"
    exit 0
fi

if [ -z "${DEBIAN_MIRROR:-}" ]; then
    DEBIAN_MIRROR=$(grep -rhoE 'https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
        | head -n1 | tr -d ' ' || true)
    DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
fi
SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-${DEBIAN_MIRROR%/debian*}/debian-security}

if [ -n "${REBUILD_BASE:-}" ] || [ ! -s "$TARBALL" ]; then
    command -v debootstrap >/dev/null || { echo "debootstrap missing (apt-get install debootstrap)" >&2; exit 2; }
    mkdir -p "$CACHE"
    ROOTFS=$(mktemp -d "${TMPDIR:-/tmp}/robustedge-rootfs.XXXXXX")
    chmod 755 "$ROOTFS"  # apt inside the chroot downloads as _apt
    cleanup() { umount -R "$ROOTFS/proc" 2>/dev/null || true; rm -rf "$ROOTFS"; }
    trap cleanup EXIT
    echo "debootstrap $SUITE ($ARCH) from $DEBIAN_MIRROR into $ROOTFS ..."
    started=$(date +%s)
    debootstrap --variant=minbase --arch="$ARCH" --include="$PACKAGES" \
        "$SUITE" "$ROOTFS" "$DEBIAN_MIRROR" >"$CACHE/debootstrap.log" 2>&1 \
        || { tail -n 30 "$CACHE/debootstrap.log" >&2; exit 1; }
    cat >"$ROOTFS/etc/apt/sources.list" <<EOF
deb $DEBIAN_MIRROR $SUITE main
deb $DEBIAN_MIRROR $SUITE-updates main
deb $SECURITY_MIRROR $SUITE-security main
EOF
    if [ -n "${EXTRA_CA_CERTS_DIR:-}" ]; then
        "$HERE/install-ca-certs.sh" "$EXTRA_CA_CERTS_DIR" "$ROOTFS"
    fi
    # Security updates, then slim it down: no apt lists, caches, docs, man pages.
    chroot "$ROOTFS" /bin/sh -ec '
        export DEBIAN_FRONTEND=noninteractive LC_ALL=C
        apt-get update -qq
        apt-get -y -qq upgrade >/dev/null
        apt-get clean
        rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/*.log /var/log/apt/* \
               /usr/share/doc/* /usr/share/man/* /usr/share/info/* /tmp/* \
               /usr/lib/python3*/__pycache__/* 2>/dev/null || true
    '
    umount -R "$ROOTFS/proc" 2>/dev/null || true
    # dev/ nodes and resolv.conf are provided by the container runtime.
    rm -rf "${ROOTFS:?}/dev/"* "$ROOTFS/etc/resolv.conf" "$ROOTFS/etc/hostname"
    tar --numeric-owner -C "$ROOTFS" -czf "$TARBALL.tmp" .
    mv "$TARBALL.tmp" "$TARBALL"
    echo "rootfs tarball $TARBALL ($(du -h "$TARBALL" | cut -f1)) in $(( $(date +%s) - started )) s"
fi

podman import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["/bin/bash"]' \
    --message "debootstrap $SUITE minbase + $PACKAGES" \
    "$TARBALL" "$IMAGE" >/dev/null
echo "imported $IMAGE from $TARBALL"
podman run --rm --network none "$IMAGE" python3 -c 'import sys, venv, ssl; print("base python", sys.version.split()[0])'
