#!/usr/bin/env bash
# bootstrap-deps.sh: install the build and test dependencies of the QKD node (Debian/Ubuntu).
# Where the system OpenSSL is older than 3.5, build OpenSSL 3.5 from Debian 13's source
# package into a cached prefix (QKD_OPENSSL_PREFIX, default /opt/qkd/openssl-<version>) with
# a stable symlink /opt/qkd/openssl that CMake finds by itself. Idempotent: fast when
# nothing is missing.
set -euo pipefail

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
QKD_DEPS_ROOT=${QKD_DEPS_ROOT:-/opt/qkd}
PKGS=(build-essential cmake pkg-config libcjson-dev uuid-dev libcmocka-dev
      clang clang-format valgrind python3 ca-certificates dpkg-dev debootstrap procps
      iproute2 xxd libexplain51)

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

# --- OpenSSL >= 3.5 -------------------------------------------------------------------
ossl_ok() { # $1 = openssl binary; true when it reports version 3.5.0 or newer
  local v
  v=$("$1" version 2>/dev/null | awk '{print $2}')
  [ -n "$v" ] && [ "$(printf '3.5.0\n%s\n' "$v" | sort -V | head -n 1)" = "3.5.0" ]
}

if ossl_ok "$(command -v openssl || echo /nonexistent)"; then
  log "system OpenSSL is >= 3.5; no local build needed"
  exit 0
fi
if [ -x "$QKD_DEPS_ROOT/openssl/bin/openssl" ] && \
   LD_LIBRARY_PATH="$QKD_DEPS_ROOT/openssl/lib" ossl_ok "$QKD_DEPS_ROOT/openssl/bin/openssl"; then
  log "OpenSSL $(LD_LIBRARY_PATH=$QKD_DEPS_ROOT/openssl/lib $QKD_DEPS_ROOT/openssl/bin/openssl version | awk '{print $2}') already at $QKD_DEPS_ROOT/openssl"
  exit 0
fi

log "system OpenSSL is older than 3.5: building 3.5 from Debian 13 (trixie) source"
SRC_LIST=/etc/apt/sources.list.d/qkd-trixie-src.sources
if [ ! -f "$SRC_LIST" ]; then
  $SUDO tee "$SRC_LIST" >/dev/null <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  apt_updated=0
fi
apt_update

work=$(mktemp -d /tmp/qkd-openssl-src.XXXXXX)
trap 'rm -rf "$work"' EXIT
( cd "$work" && apt-get source -qq openssl/trixie >&2 )
srcdir=$(find "$work" -maxdepth 1 -type d -name 'openssl-*' | head -1)
[ -n "$srcdir" ] || { log "ERROR: apt-get source openssl/trixie produced no source tree"; exit 1; }
ver=${srcdir##*/openssl-}
prefix=${QKD_OPENSSL_PREFIX:-$QKD_DEPS_ROOT/openssl-$ver}
if [ ! -x "$prefix/bin/openssl" ]; then
  log "configuring OpenSSL $ver into $prefix"
  $SUDO mkdir -p "$prefix"
  ( cd "$srcdir" &&
    ./Configure --prefix="$prefix" --openssldir="$prefix/ssl" --libdir=lib \
        shared no-tests no-docs "-Wl,-rpath,$prefix/lib" >&2 &&
    make -s -j"$(nproc)" >&2 &&
    $SUDO make -s install_sw install_ssldirs >&2 )
fi
$SUDO ln -sfn "$prefix" "$QKD_DEPS_ROOT/openssl"
LD_LIBRARY_PATH="$QKD_DEPS_ROOT/openssl/lib" "$QKD_DEPS_ROOT/openssl/bin/openssl" version >&2
log "OpenSSL $ver installed at $prefix (symlink $QKD_DEPS_ROOT/openssl)"
