#!/bin/bash
# certs_names.sh: generate_certs.sh refuses a client name equal to a node name (of --nodes, or
# of a node already issued in the output directory) and creates nothing then; other client
# names are issued with clientAuth only, nodes with serverAuth and clientAuth.
set -u
GEN="${QKD_SRC:?}/certs/generate_certs.sh"
T=$(mktemp -d "${TMPDIR:-/tmp}/certs-names.XXXXXX")
trap 'rm -rf "$T"' EXIT
FAILS=0
check() {
    if [ "$2" = "$3" ]; then
        echo "ok: $1"
    else
        echo "FAIL: $1: expected '$2', got '$3'" >&2
        FAILS=$((FAILS + 1))
    fi
}
OSSL=${QKD_OPENSSL_BIN:-openssl}
export OPENSSL=$OSSL

"$GEN" --out "$T/a" --nodes alice,bob --client bob >"$T/out" 2>&1
check "--client bob with node bob refused" 1 $?
grep -q "client name 'bob' is a node name" "$T/out"
check "the error names the client" 0 $?
check "nothing created" 0 "$(find "$T/a" -type f 2>/dev/null | wc -l)"

"$GEN" --out "$T/a" --nodes alice,bob --client app >"$T/out" 2>&1
check "--client app issued" 0 $?
"$GEN" --out "$T/a" --nodes carol --client alice >"$T/out" 2>&1
check "--client alice refused: alice is a node already in the directory" 1 $?
[ -e "$T/a/clients/alice.pem" ]
check "no alice client certificate" 1 $?
eku() { "$OSSL" x509 -in "$1" -noout -ext extendedKeyUsage 2>/dev/null | tail -1 | tr -d ' '; }
check "node certificate: serverAuth and clientAuth" \
    "TLSWebServerAuthentication,TLSWebClientAuthentication" "$(eku "$T/a/bob/node.pem")"
check "client certificate: clientAuth only" "TLSWebClientAuthentication" "$(eku "$T/a/clients/app.pem")"
[ "$FAILS" -eq 0 ] && echo "all checks passed"
exit $((FAILS != 0))
