#!/usr/bin/env bash
# Installs what building and running the images here needs, from Debian, when missing:
# podman + buildah (daemonless build/run), runc (the OCI runtime that works here),
# debootstrap (the base image without a registry), catatonit (podman --init),
# containernetworking-plugins. Needs root and apt-get; otherwise says what to install.
set -euo pipefail
declare -A need=([podman]=podman [buildah]=buildah [debootstrap]=debootstrap [runc]=runc
                 [catatonit]=catatonit)
missing=()
for tool in "${!need[@]}"; do
    if [ "$tool" = catatonit ]; then
        [ -x /usr/libexec/podman/catatonit ] || command -v catatonit >/dev/null || missing+=(catatonit)
    else
        command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || missing+=("${need[$tool]}")
    fi
done
[ "${#missing[@]}" -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "missing: ${missing[*]} (install them: apt-get install ${missing[*]})" >&2
    exit 2
fi
echo "installing ${missing[*]} from Debian ..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" containernetworking-plugins iptables >/dev/null
