#!/usr/bin/env bash
# pqkem_fallback.sh: scripts/lib/pqkem.sh without a network (docs/hybrid.md "Key sources"):
# fakes stand for the archive. Nothing fetchable -> one warning, success, no prefix left; the
# binary fallback fills a prefix, links it and writes the marker; a complete prefix is reused
# without any fetch; a complete older prefix is linked without any fetch.
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib/debsrc.sh"
. "$(dirname "$0")/../../scripts/lib/pqkem.sh"
fails=0
check() { # name expected actual
  if [ "$2" = "$3" ]; then echo "ok   $1"; else echo "FAIL $1: expected '$2', got '$3'"; fails=$((fails + 1)); fi
}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
SUDO=""
DEBSRC_DIR=$tmp/debsrc
mkdir -p "$DEBSRC_DIR"
log() { printf '[bootstrap] %s\n' "$*" >&2; }
FETCHES=0
debsrc_list_apt() { echo "0~2024-1"; }
debsrc_fetch() { FETCHES=$((FETCHES + 1)); return 1; } # the pool has no source files
BINARY=no
pqkem_from_binary() { # stands for apt-get download + dpkg-deb -x
  FETCHES=$((FETCHES + 1))
  [ "$BINARY" = yes ] || return 1
  mkdir -p "$2/include" "$2/lib"
  case $1 in
    libmceliece) touch "$2/include/mceliece.h" "$2/lib/libmceliece.so.1" ;;
    libntruprime) touch "$2/include/ntruprime.h" "$2/lib/libntruprime.so.1" ;;
  esac
  echo "$1 0~2024-1 binary" >>"$2/.qkd-parts"
}

# 1. nothing can be fetched: one warning, success, no prefix
QKD_DEPS_ROOT=$tmp/r1
mkdir -p "$QKD_DEPS_ROOT"
rc=0
pqkem_bootstrap 2>"$tmp/err" || rc=$?
check "nothing fetchable: success" 0 "$rc"
check "nothing fetchable: one warning" 1 "$(grep -c WARN "$tmp/err")"
check "nothing fetchable: no prefix" "" "$(ls "$QKD_DEPS_ROOT")"

# 2. binary fallback: prefix keyed by versions, symlink, marker
BINARY=yes
QKD_DEPS_ROOT=$tmp/r2
mkdir -p "$QKD_DEPS_ROOT"
pqkem_bootstrap 2>"$tmp/err"
check "binary: symlink" "pqkem-2024-1_2024-1_2024-1_2024-1" "$(basename "$(readlink "$QKD_DEPS_ROOT/pqkem")")"
check "binary: marker" yes "$([ -f "$QKD_DEPS_ROOT/pqkem/.qkd-built" ] && echo yes)"
check "binary: no warning" 0 "$(grep -c WARN "$tmp/err" || true)"

# 3. a complete prefix: no fetch at all
FETCHES=0
pqkem_bootstrap 2>"$tmp/err"
check "complete prefix: no fetch" 0 "$FETCHES"

# 4. the symlink gone, the versioned prefix still there: linked again, no fetch
rm "$QKD_DEPS_ROOT/pqkem"
pqkem_bootstrap 2>"$tmp/err"
check "versioned prefix relinked: no fetch" 0 "$FETCHES"
check "versioned prefix relinked" yes "$([ -L "$QKD_DEPS_ROOT/pqkem" ] && echo yes)"

[ "$fails" -eq 0 ] || { echo "$fails check(s) failed"; exit 1; }
echo "all checks passed"
