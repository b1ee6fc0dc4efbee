#!/bin/bash
# certs_names.sh: generate_certs.sh refuses a client name equal to a node name (of --nodes, or
# of a node already issued in the output directory) and creates nothing then; other client
# names are issued with clientAuth only, nodes with serverAuth and clientAuth. Each node gets
# its three ETSI 014 SAEs (<node>-app, <node>-sae2, <node>-sae3; clientAuth), a client name
# equal to one of them is refused, and a second run keeps every file.
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
cn() { "$OSSL" x509 -in "$1" -noout -subject -nameopt RFC2253 2>/dev/null | sed "s/^subject=//"; }
for n in alice bob; do
    check "$n: application certificate is SAE $n-app" "CN=$n-app" "$(cn "$T/a/$n/client.pem")"
    for s in sae2 sae3; do
        check "$n: $s certificate is SAE $n-$s" "CN=$n-$s" "$(cn "$T/a/$n/$s.pem")"
        check "$n: $s certificate is clientAuth only" "TLSWebClientAuthentication" "$(eku "$T/a/$n/$s.pem")"
        "$OSSL" verify -CAfile "$T/a/ca.pem" "$T/a/$n/$s.pem" >/dev/null 2>&1
        check "$n: $s certificate chains to the CA" 0 $?
        check "$n: $s key is mode 0600" 600 "$(stat -c %a "$T/a/$n/$s.key")"
    done
done
"$GEN" --out "$T/a" --nodes alice,bob --client bob-sae2 >"$T/out" 2>&1
check "--client bob-sae2 refused (an SAE of node bob)" 1 $?
grep -q "client name 'bob-sae2' is an SAE of node" "$T/out"
check "the error names the SAE" 0 $?
"$GEN" --out "$T/a" --nodes carol --client alice-sae3 >"$T/out" 2>&1
check "--client alice-sae3 refused: alice is a node already in the directory" 1 $?
[ -e "$T/a/clients/alice-sae3.pem" ]
check "no alice-sae3 client certificate" 1 $?
before=$(cd "$T/a" && find . -type f | sort | xargs sha256sum)
"$GEN" --out "$T/a" --nodes alice,bob >"$T/out" 2>&1
check "second run succeeds" 0 $?
grep -q " 0 file(s) created" "$T/out"
check "second run creates nothing" 0 $?
check "second run keeps every file unchanged" "$before" "$(cd "$T/a" && find . -type f | sort | xargs sha256sum)"
rm -f "$T/a/bob/sae3.pem" "$T/a/bob/sae3.key"
"$GEN" --out "$T/a" --nodes alice,bob >"$T/out" 2>&1
check "a removed SAE certificate is issued again" "CN=bob-sae3" "$(cn "$T/a/bob/sae3.pem")"
[ "$FAILS" -eq 0 ] && echo "all checks passed"
exit $((FAILS != 0))
