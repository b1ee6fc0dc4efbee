#!/usr/bin/env bash
# hybrid_config.sh: qkd-hybrid stops at start with a message naming file and field on a bad
# node config, names the file of a bad identity key, refuses a bad option value, and answers
# --help / --version; scripts/hybrid-config.sh writes configs the daemon accepts.
set -euo pipefail
BIN=${QKD_BIN:?} SRC=${QKD_SRC:?}
export OPENSSL=${QKD_OPENSSL_BIN:-openssl}
T=$(mktemp -d /tmp/hyb-config-XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

"$SRC/certs/generate_certs.sh" --out "$T/certs" --nodes alice,bob >/dev/null 2>&1
"$SRC/scripts/hybrid-config.sh" --out "$T/cfg" --certs "$T/certs" --nodes alice,bob >/dev/null
[ -s "$T/cfg/identity/alice.key" ] && [ -s "$T/cfg/identity/bob.pub" ] || fail "no identity keys"
[ "$(stat -c %a "$T/cfg/identity/alice.key")" = 600 ] || fail "identity key not 0600"
ok "hybrid-config.sh wrote configs and ML-DSA-65 identity keys"
before=$(sha256sum "$T/cfg/identity/alice.key")
"$SRC/scripts/hybrid-config.sh" --out "$T/cfg" --certs "$T/certs" --nodes alice,bob >/dev/null
[ "$before" = "$(sha256sum "$T/cfg/identity/alice.key")" ] || fail "identity key replaced"
ok "hybrid-config.sh keeps existing identity keys"

expect_fail() { # WHAT PATTERN ARGS...
    local what=$1 pat=$2
    shift 2
    local rc=0 out
    out=$(timeout 20 "$BIN/qkd-hybrid" "$@" 2>&1) || rc=$?
    [ "$rc" = 1 ] || fail "$what: exit $rc (want 1): $out"
    grep -qF -- "$pat" <<<"$out" || fail "$what: message lacks '$pat': $out"
    ok "$what -> '$(head -n1 <<<"$out")'"
}

python3 - "$T/cfg/alice.json" "$T/bad-uuid.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c["peers"][0]["uuid"] = "not-a-uuid"; json.dump(c, open(sys.argv[2], "w"))
PY
expect_fail "bad peer uuid" "bad-uuid.json: peers[0].uuid" --config "$T/bad-uuid.json"
python3 - "$T/cfg/alice.json" "$T/no-kme.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); del c["kme"]["address"]; json.dump(c, open(sys.argv[2], "w"))
PY
expect_fail "missing kme.address" "no-kme.json: kme.address" --config "$T/no-kme.json"
python3 - "$T/cfg/alice.json" "$T/bad-id.json" "$T/certs/alice/node.key" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c["identity_key"] = sys.argv[3]; json.dump(c, open(sys.argv[2], "w"))
PY
expect_fail "identity key of another type" "node.key" --config "$T/bad-id.json"
echo '{"name": "alice",' >"$T/trunc.json"
expect_fail "truncated JSON" "trunc.json" --config "$T/trunc.json"
expect_fail "missing file" "nope.json" --config "$T/nope.json"
expect_fail "no config" "--config" 
expect_fail "bad option value" "max-chunk" --config "$T/cfg/alice.json" --max-chunk 9000
expect_fail "unknown test fault" "test-fault" --config "$T/cfg/alice.json" --test-fault x
"$BIN/qkd-hybrid" --help | grep -- "--config" >/dev/null || fail "--help"
"$BIN/qkd-hybrid" --version | grep "[0-9]" >/dev/null || fail "--version"
ok "--help and --version"
echo PASS
