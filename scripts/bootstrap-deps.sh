#!/usr/bin/env bash
# bootstrap-deps.sh: install the build and test dependencies of the QKD node (Debian/Ubuntu).
# Where the system OpenSSL is older than 3.5, build OpenSSL 3.5 from Debian 13's source
# package into a cached prefix keyed by the Debian version built
# ($QKD_DEPS_ROOT/openssl-<version>, QKD_DEPS_ROOT default /opt/qkd) with a stable symlink
# $QKD_DEPS_ROOT/openssl that CMake finds by itself. The source is fetched by
# scripts/lib/debsrc.sh: the newest listed version whose files the archive really has.
# Where the system has no libllhttp-dev (Debian 12), fetch Debian 13's llhttp BINARY packages
# into $QKD_DEPS_ROOT/llhttp-<version> (symlink $QKD_DEPS_ROOT/llhttp); see the llhttp block.
# Idempotent: a machine with a working prefix never downloads again.
set -euo pipefail

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
QKD_DEPS_ROOT=${QKD_DEPS_ROOT:-/opt/qkd}
PKGS=(build-essential cmake pkg-config libcjson-dev uuid-dev libcmocka-dev
      clang clang-format valgrind python3 ca-certificates dpkg-dev debootstrap procps
      iproute2 xxd libexplain51 python3-pip)
# --- issue 13 (observability): the status page's screenshot test (docs/observability.md) ---
PKGS+=(chromium)
# --- ETSI 014: the one dependency of PyPI's etsi-qkd-014-client (tests/integration/
# interop_etsi014.sh installs that wheel itself, --no-deps, into its cache) ---
PKGS+=(python3-requests)

log() { printf '[bootstrap] %s\n' "$*" >&2; }

apt_updated=0
apt_update() {
  [ "$apt_updated" -eq 1 ] && return 0
  # Third-party lists that cannot be reached must not stop us; Debian's own must work.
  $SUDO apt-get update -qq 2>&1 | grep -v '^W:' >&2 || true
  apt_updated=1
}

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing: ${missing[*]}"
  apt_update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# libFuzzer and sanitizer runtimes of the installed clang (libclang-rt-<major>-dev).
clang_major=$(clang --version 2>/dev/null | sed -n 's/.*clang version \([0-9]*\).*/\1/p' | head -n 1)
if [ -n "$clang_major" ] && ! dpkg-query -W -f='${Status}' "libclang-rt-$clang_major-dev" 2>/dev/null | grep -q 'install ok installed'; then
  log "installing libclang-rt-$clang_major-dev (libFuzzer)"
  apt_update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "libclang-rt-$clang_major-dev" >&2 || log "WARN: libclang-rt-$clang_major-dev unavailable; fuzz targets cannot link"
fi

# --- Classic McEliece and sntrup761 libraries (optional; docs/hybrid.md "Key sources") ---
# Debian 13's libmceliece / libntruprime (+ librandombytes, libcpucycles) into
# $QKD_DEPS_ROOT/pqkem unless the system has them (trixie: apt packages). Never fails the
# bootstrap: without them qkd-hybrid builds and refuses those sources. scripts/lib/pqkem.sh.
. "$(dirname "$0")/lib/debsrc.sh"
if [ -f /usr/include/mceliece.h ] && [ -f /usr/include/ntruprime.h ]; then
  log "libmceliece and libntruprime installed by the system"
elif apt-cache show libmceliece-dev libntruprime-dev >/dev/null 2>&1; then
  log "installing libmceliece-dev libntruprime-dev"
  apt_update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    libmceliece-dev libntruprime-dev >&2 || log "WARN: libmceliece-dev / libntruprime-dev not installed; building without Classic McEliece and sntrup761"
else
  ( . "$(dirname "$0")/lib/pqkem.sh"
    DEBSRC_DIR=$(mktemp -d /tmp/qkd-pqkem.XXXXXX)
    DEBSRC_SUITE=trixie
    trap 'rm -rf "$DEBSRC_DIR"' EXIT
    if debsrc_init 2>/dev/null; then pqkem_bootstrap
    else log "WARN: Debian 13's source index is unreachable; building without Classic McEliece and sntrup761"; fi ) || true
fi

# --- llhttp (issue 13: the HTTP layer, docs/observability.md) -----------------------------
# Debian 13 ships libllhttp-dev; Debian 12 does not. Debian builds libllhttp from the
# node-undici source package, whose listed version is missing from the archive's pool (404)
# and whose build needs node and TypeScript; so on hosts without libllhttp-dev we fetch
# trixie's BINARY packages libllhttp-dev and libllhttp9.2 (newest listed version that
# downloads, scripts/lib/debsrc.sh) over a private apt configuration and unpack them with
# dpkg-deb -x into $QKD_DEPS_ROOT/llhttp-<version>. The library needs only glibc 2.2.5-era
# symbols (checked with objdump -T below), so it runs on Debian 12.
. "$(dirname "$0")/lib/debsrc.sh"
llhttp_prefix_ok() { [ -f "$1/.qkd-built" ] && [ -f "$1/include/llhttp.h" ] && ls "$1"/lib/libllhttp.so.* >/dev/null 2>&1; }
llhttp_bootstrap() {
  if dpkg-query -W -f='${Status}' libllhttp-dev 2>/dev/null | grep -q 'install ok installed'; then
    log "system libllhttp-dev present"; return 0
  fi
  if apt-cache show libllhttp-dev >/dev/null 2>&1; then
    log "installing libllhttp-dev from the system's suite"; apt_update
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends libllhttp-dev >&2 && return 0
  fi
  if llhttp_prefix_ok "$QKD_DEPS_ROOT/llhttp"; then
    log "llhttp ($(cat "$QKD_DEPS_ROOT/llhttp/.qkd-built")) already at $QKD_DEPS_ROOT/llhttp"; return 0
  fi
  local p
  for p in $(ls -d "$QKD_DEPS_ROOT"/llhttp-* 2>/dev/null | sort -rV); do
    if llhttp_prefix_ok "$p"; then
      $SUDO ln -sfn "$p" "$QKD_DEPS_ROOT/llhttp"; log "llhttp found at $p; linked $QKD_DEPS_ROOT/llhttp"; return 0
    fi
  done
  log "no libllhttp-dev on this system: fetching Debian 13 (trixie) binary packages"
  local tmp mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian} signed=""
  local keyring=${DEBIAN_KEYRING:-/usr/share/keyrings/debian-archive-keyring.gpg}
  tmp=$(mktemp -d /tmp/qkd-llhttp.XXXXXX)
  mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial" "$tmp/deb" "$tmp/root"
  [ -r "$keyring" ] && signed=" [signed-by=$keyring]"
  printf 'deb%s %s trixie main\n' "$signed" "$mirror" >"$tmp/sources.list"
  LLHTTP_APT=(-o "Dir::Etc::SourceList=$tmp/sources.list" -o "Dir::Etc::SourceParts=-"
    -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache=$tmp/cache"
    -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache=")
  LLHTTP_TMP=$tmp
  apt-get -q "${LLHTTP_APT[@]}" -o "APT::Sandbox::User=root" update >"$tmp/update.log" 2>&1 ||
    { cat "$tmp/update.log" >&2; log "ERROR: apt-get update of trixie failed"; rm -rf "$tmp"; return 1; }
  llhttp_list() { apt-cache "${LLHTTP_APT[@]}" madison "$1" 2>/dev/null | awk -F'|' '{gsub(/ /, "", $2); print $2}'; }
  llhttp_dl() { ( cd "$LLHTTP_TMP/deb" && apt-get -q "${LLHTTP_APT[@]}" -o "APT::Sandbox::User=root" download "$1=$2" ) >"$LLHTTP_TMP/download.log" 2>&1 ||
    { grep -E '^(E|Err):' "$LLHTTP_TMP/download.log" | head -n 2 >&2; rm -f "$LLHTTP_TMP"/deb/"$1"_*.deb; return 1; }; }
  local ver libver
  ver=$(DEBSRC_LOG_TAG=bootstrap debsrc_pick libllhttp-dev llhttp_list llhttp_dl) || { rm -rf "$tmp"; return 1; }
  libver=$(DEBSRC_LOG_TAG=bootstrap debsrc_pick libllhttp9.2 llhttp_list llhttp_dl) || { rm -rf "$tmp"; return 1; }
  for p in "$tmp"/deb/*.deb; do dpkg-deb -x "$p" "$tmp/root"; done
  local prefix=$QKD_DEPS_ROOT/llhttp-$ver
  $SUDO rm -rf "$prefix"; $SUDO mkdir -p "$prefix/lib" "$prefix/include"
  $SUDO cp -a "$tmp"/root/usr/include/llhttp.h "$prefix/include/"
  $SUDO cp -a "$tmp"/root/usr/lib/*/libllhttp.so* "$prefix/lib/"
  # The runtime needs nothing newer than this host's glibc (objdump -T: GLIBC_x.y symbols).
  local need have
  need=$(objdump -T "$prefix"/lib/libllhttp.so.*.* 2>/dev/null | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -n 1)
  have=$(ldd --version 2>/dev/null | head -n 1 | grep -o '[0-9]\+\.[0-9]\+$')
  if [ -n "$need" ] && [ -n "$have" ] && [ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | tail -n 1)" != "$have" ]; then
    log "ERROR: trixie's libllhttp needs glibc $need; this host has $have"; rm -rf "$tmp"; return 1
  fi
  printf 'debian binary libllhttp-dev %s libllhttp9.2 %s (glibc >= %s)\n' "$ver" "$libver" "${need:-?}" | $SUDO tee "$prefix/.qkd-built" >/dev/null
  $SUDO ln -sfn "$prefix" "$QKD_DEPS_ROOT/llhttp"
  rm -rf "$tmp"
  log "llhttp $ver installed at $prefix (symlink $QKD_DEPS_ROOT/llhttp)"
}
llhttp_bootstrap || exit 1

# --- OpenSSL >= 3.5 -------------------------------------------------------------------

ossl_version() { # $1 = prefix; prints its OpenSSL version when that build runs
  LD_LIBRARY_PATH="$1/lib" "$1/bin/openssl" version 2>/dev/null | awk '{print $2}'
}
ossl_ok() { # $1 = version string; true when 3.5.0 or newer
  [ -n "$1" ] && [ "$(printf '3.5.0\n%s\n' "$1" | sort -V | head -n 1)" = "3.5.0" ]
}
prefix_ok() { # $1 = prefix: complete (marker written after install) and runs as >= 3.5
  [ -f "$1/.qkd-built" ] && [ -x "$1/bin/openssl" ] && ossl_ok "$(ossl_version "$1")"
}

# Returns (never exits) on success, so a block added after it runs on every machine too.
openssl_bootstrap() {
  if ossl_ok "$(openssl version 2>/dev/null | awk '{print $2}')"; then
    log "system OpenSSL is >= 3.5; no local build needed"
    return 0
  fi
  if prefix_ok "$QKD_DEPS_ROOT/openssl"; then
    log "OpenSSL $(ossl_version "$QKD_DEPS_ROOT/openssl") ($(cat "$QKD_DEPS_ROOT/openssl/.qkd-built")) already at $QKD_DEPS_ROOT/openssl"
    return 0
  fi
  # A complete prefix of any version already built here: link it, download nothing.
  for p in $(ls -d "$QKD_DEPS_ROOT"/openssl-* 2>/dev/null | sort -rV); do
    if prefix_ok "$p"; then
      $SUDO ln -sfn "$p" "$QKD_DEPS_ROOT/openssl"
      log "OpenSSL $(ossl_version "$p") found at $p; linked $QKD_DEPS_ROOT/openssl"
      return 0
    fi
  done

  log "system OpenSSL is older than 3.5: building 3.5 from Debian 13 (trixie) source"
  DEBSRC_DIR=$(mktemp -d /tmp/qkd-debsrc.XXXXXX)
  DEBSRC_SUITE=trixie
  trap 'rm -rf "$DEBSRC_DIR"' EXIT
  debsrc_init
  IFS=$'\t' read -r ver srcdir < <(debsrc_fetch openssl) || true
  [ -n "${srcdir:-}" ] || exit 1
  prefix=${QKD_OPENSSL_PREFIX:-$QKD_DEPS_ROOT/openssl-$ver}
  log "configuring OpenSSL $ver into $prefix"
  $SUDO rm -rf "$prefix"
  $SUDO mkdir -p "$prefix"
  ( cd "$srcdir" &&
    ./Configure --prefix="$prefix" --openssldir="$prefix/ssl" --libdir=lib \
        shared no-tests no-docs "-Wl,-rpath,$prefix/lib" >&2 &&
    make -s -j"$(nproc)" >&2 &&
    $SUDO make -s install_sw install_ssldirs >&2 )
  prefix_v=$(ossl_version "$prefix")
  ossl_ok "$prefix_v" || { log "ERROR: the OpenSSL built at $prefix does not run as >= 3.5 (got '$prefix_v')"; exit 1; }
  printf 'debian source openssl %s\n' "$ver" | $SUDO tee "$prefix/.qkd-built" >/dev/null
  $SUDO ln -sfn "$prefix" "$QKD_DEPS_ROOT/openssl"
  log "OpenSSL $prefix_v (Debian source $ver) installed at $prefix (symlink $QKD_DEPS_ROOT/openssl)"
}
openssl_bootstrap
