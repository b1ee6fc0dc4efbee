#!/usr/bin/env bash
# docker-base.sh: make sure the image debian:trixie-slim exists locally. On a machine with a
# registry it is pulled; where no registry can be reached it is created from Debian's
# packages (debootstrap --variant=minbase into a folder, then `docker import`). Idempotent.
set -euo pipefail
IMAGE=${BASE_IMAGE:-debian:trixie-slim}
SUITE=${BASE_SUITE:-trixie}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
CACHE=${QKD_CACHE_DIR:-/var/cache/qkd}
log() { printf '[docker-base] %s\n' "$*" >&2; }

# BASE_REBUILD=1 rebuilds it even when present (e.g. to pick up the slimming below).
if [ "${BASE_REBUILD:-0}" != 1 ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
  log "$IMAGE present"; exit 0
fi
if [ "${BASE_REBUILD:-0}" != 1 ] && timeout 60 docker pull -q "$IMAGE" >/dev/null 2>&1; then
  log "$IMAGE pulled"; exit 0
fi
log "$IMAGE cannot be pulled: building it with debootstrap from $MIRROR"
command -v debootstrap >/dev/null || { apt-get update -qq || true; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >&2; }
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO mkdir -p "$CACHE"
root=$(mktemp -d "$CACHE/rootfs.XXXXXX")
trap '$SUDO rm -rf "$root"' EXIT
# Debian 12's debootstrap knows trixie; fall back to the sid script if it does not.
script=""
[ -e "/usr/share/debootstrap/scripts/$SUITE" ] || script=/usr/share/debootstrap/scripts/sid
$SUDO debootstrap --variant=minbase --include=ca-certificates "$SUITE" "$root" "$MIRROR" $script >&2
# Slim it the way the official -slim images are: no docs, man pages, translations or apt lists,
# and a dpkg filter so packages installed later in the image leave them out too.
$SUDO rm -rf "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
             "$root"/usr/share/groff/* "$root"/usr/share/linda/* "$root"/usr/share/lintian/* \
             "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
$SUDO find "$root"/usr/share/locale -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
printf '%s\n' '# as in the official -slim images' \
  'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
  'path-exclude /usr/share/man/*' 'path-exclude /usr/share/groff/*' 'path-exclude /usr/share/info/*' \
  'path-exclude /usr/share/lintian/*' 'path-exclude /usr/share/linda/*' \
  'path-exclude /usr/share/locale/*' 'path-include /usr/share/locale/locale.alias' \
  | $SUDO tee "$root/etc/dpkg/dpkg.cfg.d/docker-slim" >/dev/null
printf 'deb %s %s main\ndeb %s %s-updates main\ndeb http://deb.debian.org/debian-security %s-security main\n' \
  "$MIRROR" "$SUITE" "$MIRROR" "$SUITE" "$SUITE" | $SUDO tee "$root/etc/apt/sources.list" >/dev/null
$SUDO tar -C "$root" -c . | docker import \
  -c 'CMD ["bash"]' -c 'ENV LANG=C.UTF-8' - "$IMAGE" >&2
log "$IMAGE created: $(docker image inspect -f '{{.Size}}' "$IMAGE") bytes"
