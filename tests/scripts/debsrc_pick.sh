#!/usr/bin/env bash
# debsrc_pick.sh: the source-version fallback of scripts/lib/debsrc.sh, without a network.
# A fake lister stands for `apt-cache showsrc`, a fake downloader for the archive's pool.
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib/debsrc.sh"
fails=0
check() { # name expected actual
  if [ "$2" = "$3" ]; then echo "ok   $1"; else echo "FAIL $1: expected '$2', got '$3'"; fails=$((fails + 1)); fi
}

LISTED=""      # what the fake index lists, one per line, any order
AVAILABLE=""   # what the fake pool has, space-separated
ATTEMPTS=""    # the downloader's calls, in order
fake_list() { printf '%s\n' "$LISTED"; }
fake_download() {
  ATTEMPTS="$ATTEMPTS $2"
  case " $AVAILABLE " in *" $2 "*) return 0 ;; *) return 1 ;; esac
}
pick() { # runs debsrc_pick in this shell so ATTEMPTS is kept; stdout to $OUT, stderr to $ERR
  ATTEMPTS=""
  local rc=0
  debsrc_pick openssl fake_list fake_download >"$tmp/out" 2>"$tmp/err" || rc=$?
  OUT=$(cat "$tmp/out"); ERR=$(cat "$tmp/err"); RC=$rc
}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# Debian ordering: ~ sorts before the plain version; 3.5.10 after 3.5.9; duplicates once.
check "sort newest first" "3.5.10-1 3.5.9-1~deb13u1 3.5.7-1~deb13u2 3.5.7-1~deb13u1" \
  "$(printf '3.5.7-1~deb13u1\n3.5.9-1~deb13u1\n3.5.10-1\n3.5.7-1~deb13u2\n3.5.9-1~deb13u1\n' | debsrc_sort_newest | tr '\n' ' ' | sed 's/ $//')"
check "sort empty" "" "$(printf '' | debsrc_sort_newest)"

# Today's archive: the index names 3.5.9 whose pool files are gone; 3.5.7 downloads.
LISTED=$'3.5.7-1~deb13u2\n3.5.9-1~deb13u1'; AVAILABLE="3.5.7-1~deb13u2"
pick
check "falls back: rc" 0 "$RC"
check "falls back: version" "3.5.7-1~deb13u2" "$OUT"
check "falls back: newest tried first" " 3.5.9-1~deb13u1 3.5.7-1~deb13u2" "$ATTEMPTS"
case "$ERR" in *"3.5.9-1~deb13u1 is listed but its files cannot be downloaded"*) r=said ;; *) r="not said: $ERR" ;; esac
check "falls back: says which failed" said "$r"

# The newest downloads: nothing older is tried.
LISTED=$'3.5.7-1~deb13u2\n3.5.9-1~deb13u1'; AVAILABLE="3.5.7-1~deb13u2 3.5.9-1~deb13u1"
pick
check "newest: version" "3.5.9-1~deb13u1" "$OUT"
check "newest: one attempt" " 3.5.9-1~deb13u1" "$ATTEMPTS"

# Nothing downloads: one error naming every version tried, non-zero, nothing on stdout.
LISTED=$'3.5.7-1~deb13u2\n3.5.9-1~deb13u1\n3.5.8-1'; AVAILABLE=""
pick
check "none: rc" 1 "$RC"
check "none: no version printed" "" "$OUT"
check "none: every version tried" " 3.5.9-1~deb13u1 3.5.8-1 3.5.7-1~deb13u2" "$ATTEMPTS"
case "$ERR" in *"ERROR: no listed version of openssl could be downloaded; tried: 3.5.9-1~deb13u1 3.5.8-1 3.5.7-1~deb13u2."*) r=named ;; *) r="not named: $ERR" ;; esac
check "none: message names them all" named "$r"
check "none: one ERROR line" 1 "$(grep -c ERROR "$tmp/err")"

# Nothing listed (no deb-src index): a clear error, no download attempted.
LISTED=""; AVAILABLE="3.5.7-1"
pick
check "unlisted: rc" 1 "$RC"
check "unlisted: no attempt" "" "$ATTEMPTS"
case "$ERR" in *"no version of openssl is listed"*) r=said ;; *) r="not said: $ERR" ;; esac
check "unlisted: message" said "$r"

# Messages carry the calling script's tag (compose-setup.sh uses the same helper).
LISTED="1.0-1"; AVAILABLE=""
DEBSRC_LOG_TAG=compose-setup pick
case "$ERR" in *"[compose-setup] ERROR: no listed version of openssl"*) r=tagged ;; *) r="untagged: $ERR" ;; esac
check "tag: the caller's" tagged "$r"

[ "$fails" -eq 0 ] && echo "debsrc_pick: all passed" || { echo "debsrc_pick: $fails failed"; exit 1; }
