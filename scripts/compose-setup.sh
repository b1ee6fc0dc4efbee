#!/usr/bin/env bash
# compose-setup.sh: make `docker compose` (Compose v2) available. When `docker compose version`
# already works it does nothing. Otherwise it fetches Debian 13's `docker-compose` package (2.26+,
# a static Go binary that also runs on Debian 12), unpacks it and installs its CLI plugin as
# /usr/local/lib/docker/cli-plugins/docker-compose. The package list used for the download lives
# in a private temp dir (its own sources list, lists and cache), so the system's apt sources,
# pinning and installed packages are never changed. Idempotent.
set -euo pipefail
SUITE=${COMPOSE_SUITE:-trixie}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
PLUGIN_DIR=${COMPOSE_PLUGIN_DIR:-/usr/local/lib/docker/cli-plugins}
KEYRING=${DEBIAN_KEYRING:-/usr/share/keyrings/debian-archive-keyring.gpg}
log() { printf '[compose-setup] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

command -v docker >/dev/null || die "the docker CLI is not installed"
if docker compose version >/dev/null 2>&1; then
  log "present: $(docker compose version)"
  exit 0
fi
command -v apt-get >/dev/null || die "apt-get not found: install Compose v2 by hand (docker-compose-plugin)"
command -v dpkg-deb >/dev/null || die "dpkg-deb not found"
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"

tmp=$(mktemp -d /tmp/compose-setup.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial" "$tmp/deb" "$tmp/root"
signed=""; [ -r "$KEYRING" ] && signed=" [signed-by=$KEYRING]"
printf 'deb%s %s %s main\n' "$signed" "$MIRROR" "$SUITE" >"$tmp/sources.list"
APT=(apt-get -q -o "Dir::Etc::SourceList=$tmp/sources.list" -o "Dir::Etc::SourceParts=-"
     -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache=$tmp/cache"
     -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache=" -o "APT::Sandbox::User=root")
log "reading the $SUITE package list from $MIRROR (private to this run)"
"${APT[@]}" update >"$tmp/update.log" 2>&1 || { cat "$tmp/update.log" >&2; die "apt-get update of $SUITE failed"; }
# The index may name a version its pool no longer has: try the listed ones newest first.
DEBSRC_LOG_TAG=compose-setup; . "$(dirname "$0")/lib/debsrc.sh"
list_bin() { "${APT[@]/apt-get/apt-cache}" madison "$1" 2>/dev/null | awk -F'|' '{gsub(/ /, "", $2); print $2}'; }
download_bin() { ( cd "$tmp/deb" && "${APT[@]}" download "$1=$2" ) >"$tmp/download.log" 2>&1 ||
  { grep -E '^(E|Err):' "$tmp/download.log" | head -n 2 >&2; rm -f "$tmp"/deb/*.deb; return 1; }; }
ver=$(debsrc_pick docker-compose list_bin download_bin) || die "could not download docker-compose from $SUITE"
log "docker-compose $ver from $SUITE"
deb=$(ls "$tmp"/deb/docker-compose_*.deb)
log "unpacking $(basename "$deb")"
dpkg-deb -x "$deb" "$tmp/root"
src=""
for cand in "$tmp/root/usr/libexec/docker/cli-plugins/docker-compose" \
            "$tmp/root/usr/lib/docker/cli-plugins/docker-compose" \
            "$tmp/root/usr/bin/docker-compose"; do
  [ -f "$cand" ] && { src=$cand; break; }
done
[ -n "$src" ] || die "no docker-compose binary in $(basename "$deb")"
$SUDO install -d -m 0755 "$PLUGIN_DIR"
$SUDO install -m 0755 "$src" "$PLUGIN_DIR/docker-compose"
docker compose version >/dev/null 2>&1 || die "installed $PLUGIN_DIR/docker-compose but \`docker compose version\` still fails"
log "installed: $(docker compose version)"
