#!/usr/bin/env bash
# interop_etsi014.sh: a third-party ETSI GS QKD 014 client, PyPI's etsi-qkd-014-client (pure
# Python, on Debian's python3-requests), against the ETSI 014 listeners of alice's and bob's key
# servers on a local-net network (scripts/local-net.sh up: its DIR/env gives <NODE>_ETSI014_URL
# and the SAE certificates). The checks are in interop_etsi014.py: status, keys made at alice
# (GET and POST) identical at bob, once only, an additional slave, 401 for an SAE that is not a
# slave; here also: no key server log holds a delivered key. The package is installed once with
# pip (pinned version and wheel SHA-256, --require-hashes --no-deps) into a cache outside the
# clone:
#   ${QKD_CACHE_DIR:-/var/cache/qkd}/pip/etsi-qkd-014-client-$E14_VERSION
# The container test image installs it there when it is built. When it is not cached and no
# package registry can be reached, the test prints SKIP and exits 77 (ctest: skipped).
set -u
. "$(dirname "$0")/pip_wheel.sh"
: "${QKD_BIN:?QKD_BIN must point at the build bin directory}" "${QKD_SRC:?QKD_SRC must name the repository root}"

E14_VERSION=0.9.0
E14_SHA256=266f46739a09681aaf8ab3a58ea2d45f3379196706f378b38ba499edd1568198 # the wheel
CACHE=${QKD_CACHE_DIR:-/var/cache/qkd}
PKG=$CACHE/pip/etsi-qkd-014-client-$E14_VERSION
PY=${QKD_PYTHON3:-python3}
LN="$QKD_SRC/scripts/local-net.sh"
T=$(mktemp -d "${TMPDIR:-/tmp}/interop-etsi014.XXXXXX")
NET=$T/net
mkdir -p "$T/logs"
FAILS=0
NET_UP=0

cleanup() {
    local rc=$?
    [ "$NET_UP" = 1 ] && QKD_BIN=$QKD_BIN bash "$LN" down "$NET" >/dev/null 2>&1
    # sanitizer builds (scripts/test.sh): a report in any daemon's log fails the test
    if grep -lE "AddressSanitizer|LeakSanitizer|runtime error:" "$NET"/logs/*.log 2>/dev/null; then
        echo "FAIL: sanitizer report in the logs above" >&2
        FAILS=$((FAILS + 1))
    fi
    if [ "$FAILS" -ne 0 ] || [ "${KEEP_T:-0}" = 1 ]; then
        echo "logs kept in $T" >&2
        for f in "$T"/logs/*.log "$NET"/logs/kme-*.log; do
            [ -s "$f" ] && [ "${f##*/}" != driver.log ] || continue
            echo "----- $f (tail)" >&2
            tail -n 30 "$f" >&2
        done
    else
        rm -rf "$T"
    fi
    [ "$FAILS" -ne 0 ] && exit 1
    exit $rc
}
trap cleanup EXIT
ok() { echo "ok: $*"; }
fail() {
    echo "FAIL: $*" >&2
    FAILS=$((FAILS + 1))
}
die() {
    echo "FATAL: $*" >&2
    FAILS=$((FAILS + 1))
    exit 1
}

# --- the package, from the cache or installed into it --------------------------------------------
pip_wheel_cached etsi-qkd-014-client "$E14_VERSION" "$E14_SHA256" "$PKG" etsi_qkd_014_client/client.py
"$PY" -c 'import requests' 2>"$T/logs/requests.log" ||
    die "$PY cannot import requests, the client's one dependency (Debian: python3-requests; scripts/bootstrap-deps.sh installs it): $(tail -n 1 "$T/logs/requests.log")"
# what the driver relies on is still what the package does: the URL it builds from kme_hostname
# and the three calls
for call in 'f"https://{self.kme_hostname}/api/v1/keys/' 'def get_status(' 'def get_key(' \
    'def get_key_with_key_IDs('; do
    grep -qF "$call" "$PKG/etsi_qkd_014_client/client.py" ||
        die "etsi_qkd_014_client/client.py of $E14_VERSION no longer has '$call'"
done

# --- the network ------------------------------------------------------------------------------------
NET_UP=1
NODES=alice,bob SKR_BPS=${SKR_BPS:-2000000} LOCALNET_WAIT_S=30 QKD_BIN=$QKD_BIN \
    timeout 180 bash "$LN" up "$NET" >"$T/logs/local-net-up.log" 2>&1 ||
    die "local-net.sh up failed: $(tail -n 20 "$T/logs/local-net-up.log")"
# shellcheck disable=SC1091
. "$NET/env"
for v in ALICE_ETSI014_URL BOB_ETSI014_URL ALICE_APP_CERT_PEM BOB_APP_CERT_PEM BOB_SAE2_CERT_PEM \
    BOB_SAE2_KEY_PEM BOB_SAE3_CERT_PEM BOB_SAE3_KEY_PEM; do
    [ -n "${!v:-}" ] || die "$NET/env lacks $v"
done
for v in ALICE_ETSI014_URL BOB_ETSI014_URL; do
    [[ "${!v}" =~ ^https://127\.0\.0\.1:[0-9]+$ ]] || die "$v is '${!v}', not https://127.0.0.1:PORT"
done
ok "local-net exports the ETSI 014 URLs ($ALICE_ETSI014_URL, $BOB_ETSI014_URL) and the SAE certificates"

# --- the third-party client ---------------------------------------------------------------------
# kme_hostname is host:port (the client builds https://HOST:PORT/api/v1/keys/...); the node
# certificates carry IP:127.0.0.1, which the client verifies.
rc=0
timeout 180 "$PY" "$QKD_SRC/tests/integration/interop_etsi014.py" "$PKG" \
    "${ALICE_ETSI014_URL#https://}" "${BOB_ETSI014_URL#https://}" "$CA_PEM" "$NET/certs" \
    --keys-out "$T/keys.txt" >"$T/logs/driver.log" 2>&1 || rc=$?
grep -E '^(ok|FAIL):' "$T/logs/driver.log"
if [ "$rc" -ne 0 ]; then
    grep -vE '^(ok|FAIL):' "$T/logs/driver.log" | tail -n 15 >&2
    fail "etsi-qkd-014-client against alice's and bob's key servers (exit $rc)"
else
    ok "etsi-qkd-014-client against alice's and bob's key servers"
fi

# --- no log holds a delivered key (docs/kme.md: logs never carry key bytes) ----------------------
if [ -s "$T/keys.txt" ]; then
    n=$(($(wc -l <"$T/keys.txt") / 2))
    if grep -rqF -f "$T/keys.txt" "$NET/logs"; then
        fail "a delivered key (base64 or hex) appears in $NET/logs"
    else
        ok "none of the $n delivered keys appears in the logs"
    fi
fi
[ "$FAILS" -eq 0 ] && echo "all checks passed"
