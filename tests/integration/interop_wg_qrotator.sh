#!/usr/bin/env bash
# interop_wg_qrotator.sh: ETSI's C client library, as PyPI's wg-qrotator ships it prebuilt
# (wg_qrotator/kms_so/libclient_api.so, needs Debian's libexplain51), driven through ctypes the
# way wg-qrotator's kms.py does (interop_etsi_lib.py), against alice's and bob's key servers
# and against two qkd-hybrid daemons' ETSI listeners: 100 keys identical at both ends, CLOSE 0
# at both. The package is installed once with pip (--no-deps: only the prebuilt library and
# its struct layouts are used; its Python dependencies build from sources that need more than
# a package registry) into a cache outside the clone:
#   ${QKD_CACHE_DIR:-/var/cache/qkd}/pip/wg-qrotator-$WGQ_VERSION
# The container test image installs it there when it is built. When it is not cached and no
# package registry can be reached, the test prints SKIP and exits 77 (ctest: skipped).
. "$(dirname "$0")/kme_lib.sh"
. "$(dirname "$0")/interop_lib.sh"
. "$(dirname "$0")/pip_wheel.sh"

WGQ_VERSION=0.1.4
WGQ_SHA256=fd1ea0d9655b3a9214e7bcaf8991f1714dc5d451d51a712b45f3e2392052044a # the wheel
CACHE=${QKD_CACHE_DIR:-/var/cache/qkd}
PKG=$CACHE/pip/wg-qrotator-$WGQ_VERSION
SO=$PKG/wg_qrotator/kms_so/libclient_api.so
PY=${QKD_PYTHON3:-python3}

pip_wheel_cached wg-qrotator "$WGQ_VERSION" "$WGQ_SHA256" "$PKG" wg_qrotator/kms_so/libclient_api.so
missing=$(ldd "$SO" 2>/dev/null | awk '/not found/ {print $1}')
[ -z "$missing" ] || die "libclient_api.so cannot load: missing $missing (Debian: libexplain51, trixie: libexplain51t64; scripts/bootstrap-deps.sh installs it)"
# the calls interop_etsi_lib.py mirrors are still the ones kms.py makes
for call in 'openConnect.argtypes' 'c_char(0)' 'self.ksid,' 'client_api.close('; do
    grep -qF "$call" "$PKG/wg_qrotator/kms.py" || die "kms.py of $WGQ_VERSION no longer has '$call'"
done

start_pair 2000000
start_hybrids
A_CERT=$CERTS/alice/client.pem A_KEY=$CERTS/alice/client.key
B_CERT=$CERTS/bob/client.pem B_KEY=$CERTS/bob/client.key

# drive TIMEOUT_S LABEL A_ADDR B_ADDR [args] : the library prints a line per call on stdout
# (its own "[INFO] SSL connection ..."); only the driver's verdicts are shown.
drive() {
    local to=$1 label=$2 a=$3 b=$4 rc=0
    shift 4
    timeout "$to" "$PY" "$(dirname "$0")/interop_etsi_lib.py" "$PKG" "$a" "$A_CERT" "$A_KEY" \
        "$b" "$B_CERT" "$B_KEY" --count 100 --label "$label" "$@" >"$T/logs/drive.out" 2>&1 || rc=$?
    grep -E '^(ok|FAIL):' "$T/logs/drive.out"
    if [ "$rc" -ne 0 ]; then
        grep -vE '^(ok|FAIL):|SSL connection on|^ (OPEN_CONNECT|GET_KEY|CLOSE)$' "$T/logs/drive.out" | tail -n 5
        fail "wg-qrotator's libclient_api against the $label (exit $rc)"
    else
        ok "wg-qrotator's libclient_api against the $label"
    fi
}
drive 120 "key servers" "127.0.0.1:${KME_PORT_OF[alice]}" "127.0.0.1:${KME_PORT_OF[bob]}" --metadata
drive 180 "hybrid daemons" "${HYB_ADDR[alice]}" "${HYB_ADDR[bob]}"
grep -q "refused" "$T"/logs/kme-*.log && fail "a key server refused a call: $(grep -h refused "$T"/logs/kme-*.log | head -3)"
finish
