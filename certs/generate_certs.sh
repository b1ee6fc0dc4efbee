#!/usr/bin/env bash
# generate_certs.sh: makes the certificate authority and the node and client certificates of a
# QKD network (layout in docs/certificates.md). Idempotent: files that exist are kept, missing
# ones are created; the CA is created only when absent. Needs bash, POSIX tools and openssl.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: generate_certs.sh [--out DIR] [--algo ecdsa|mldsa65] [--nodes alice,bob[,charlie]]
                         [--client NAME]... [--ca-name NAME]

  --out DIR        where to write (default: certs/generated in the repository)
  --algo ALGO      ecdsa (P-256, default) or mldsa65 (ML-DSA-65, needs OpenSSL >= 3.5)
  --nodes LIST     comma-separated node names (default: alice,bob,charlie)
  --client NAME    an extra client identity DIR/clients/NAME.pem|.key (CN=NAME); repeatable;
                   never a node's name (of --nodes or of a node already in DIR) nor a
                   node's SAE name (<node>-app, <node>-sae2, <node>-sae3)
  --ca-name NAME   the CA's common name (default: "QKD Network CA")
  -h, --help       this text

Writes DIR/ca.pem, DIR/ca.key, DIR/<node>/node.pem|node.key (CN=<node>, serverAuth+clientAuth),
DIR/<node>/client.pem|client.key (CN=<node>-app, clientAuth), the node's two more ETSI 014
SAEs DIR/<node>/sae2.pem|sae2.key (CN=<node>-sae2) and sae3.pem|sae3.key (CN=<node>-sae3),
clientAuth, and DIR/clients/<name>.pem|.key.
Existing files are never overwritten. Private keys are mode 0600. Certificates are valid for
10 years. The openssl binary is $OPENSSL, else $QKD_DEPS_ROOT/openssl/bin/openssl (default /opt/qkd), else openssl.
EOF
}

die() {
    echo "generate_certs.sh: $*" >&2
    exit 1
}

script_dir=$(cd "$(dirname "$0")" && pwd)
out="$script_dir/generated"
algo=ecdsa
nodes=alice,bob,charlie
ca_name="QKD Network CA"
clients=()
days=3650

while [ $# -gt 0 ]; do
    case "$1" in
    --out) [ $# -ge 2 ] || die "--out needs a value"; out=$2; shift 2 ;;
    --out=*) out=${1#*=}; shift ;;
    --algo) [ $# -ge 2 ] || die "--algo needs a value"; algo=$2; shift 2 ;;
    --algo=*) algo=${1#*=}; shift ;;
    --nodes) [ $# -ge 2 ] || die "--nodes needs a value"; nodes=$2; shift 2 ;;
    --nodes=*) nodes=${1#*=}; shift ;;
    --client) [ $# -ge 2 ] || die "--client needs a value"; clients+=("$2"); shift 2 ;;
    --client=*) clients+=("${1#*=}"); shift ;;
    --ca-name) [ $# -ge 2 ] || die "--ca-name needs a value"; ca_name=$2; shift 2 ;;
    --ca-name=*) ca_name=${1#*=}; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
    esac
done

case "$algo" in
ecdsa | mldsa65) ;;
*) die "--algo must be ecdsa or mldsa65, not '$algo'" ;;
esac
case "$ca_name" in
"" | */* | *\\*) die "--ca-name must be non-empty and contain no '/' or '\\'" ;;
esac

# A name used in a file name and a certificate: letters, digits, '.', '_', '-'.
check_name() {
    case "$1" in
    "" | .* | *[!A-Za-z0-9._-]*) die "bad $2 name '$1' (use letters, digits, '.', '_', '-')" ;;
    esac
}

node_list=()
old_ifs=$IFS
IFS=,
for n in $nodes; do
    [ -n "$n" ] || continue
    check_name "$n" node
    node_list+=("$n")
done
IFS=$old_ifs
[ ${#node_list[@]} -gt 0 ] || die "--nodes names no node"
# An application certificate named like a node could pass for that node where only the name
# is read; peer links require the node role too, but such a name is refused here as well.
for cl in ${clients[@]+"${clients[@]}"}; do
    check_name "$cl" client
    for n in "${node_list[@]}"; do
        [ "$cl" != "$n" ] || die "client name '$cl' is a node name; choose another"
        # the node's SAE identities (docs/certificates.md): a second certificate with one of
        # those CNs would be that SAE for the ETSI 014 key servers
        for sfx in app sae2 sae3; do
            [ "$cl" != "$n-$sfx" ] || die "client name '$cl' is an SAE of node $n; choose another"
        done
    done
    if [ -e "$out/$cl/node.pem" ] && [ ! -e "$out/clients/$cl.pem" ]; then
        die "client name '$cl' is the name of node $out/$cl; choose another"
    fi
    case "$cl" in
    *-app | *-sae2 | *-sae3)
        if [ -e "$out/${cl%-*}/node.pem" ] && [ ! -e "$out/clients/$cl.pem" ]; then
            die "client name '$cl' is an SAE of node $out/${cl%-*}; choose another"
        fi
        ;;
    esac
done

# The openssl binary.
if [ -n "${OPENSSL:-}" ]; then
    ossl=$OPENSSL
elif [ -x "${QKD_DEPS_ROOT:-/opt/qkd}/openssl/bin/openssl" ]; then
    ossl=${QKD_DEPS_ROOT:-/opt/qkd}/openssl/bin/openssl
else
    ossl=openssl
fi
ver_line=$("$ossl" version 2>/dev/null) || die "cannot run openssl ($ossl); set OPENSSL"
if [ "$algo" = mldsa65 ]; then
    ver=$(printf '%s\n' "$ver_line" | awk '{print $2}')
    major=$(printf '%s' "$ver" | cut -d. -f1)
    minor=$(printf '%s' "$ver" | cut -d. -f2)
    case "$major.$minor" in
    *[!0-9.]* | .*) die "cannot tell the version of $ossl ('$ver_line')" ;;
    esac
    if [ "$major" -lt 3 ] || { [ "$major" -eq 3 ] && [ "$minor" -lt 5 ]; }; then
        die "--algo mldsa65 needs OpenSSL >= 3.5, but $ossl is '$ver_line'" \
            "(set OPENSSL to a 3.5 binary, e.g. /opt/qkd/openssl/bin/openssl)"
    fi
fi

umask 077
mkdir -p "$out" || die "cannot create $out"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qkd-certs.XXXXXX") || die "cannot create a temporary directory"
trap 'rm -rf "$tmp"' EXIT

created=0
kept=0

# new_key FILE: a fresh private key of the chosen algorithm, mode 0600.
new_key() {
    local f=$1 t
    t="$tmp/key.pem"
    rm -f "$t"
    if [ "$algo" = ecdsa ]; then
        "$ossl" genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$t" 2>"$tmp/err" ||
            die "cannot generate a P-256 key for $f: $(cat "$tmp/err")"
    else
        "$ossl" genpkey -algorithm ML-DSA-65 -out "$t" 2>"$tmp/err" ||
            die "cannot generate an ML-DSA-65 key for $f: $(cat "$tmp/err")"
    fi
    chmod 600 "$t"
    mv "$t" "$f"
    created=$((created + 1))
}

# ensure_key FILE CERT: creates FILE unless it exists; a certificate without its key is an error.
ensure_key() {
    local f=$1 cert=$2
    if [ -f "$f" ]; then
        chmod 600 "$f" 2>/dev/null || true
        kept=$((kept + 1))
        return 0
    fi
    [ ! -f "$cert" ] || die "$cert exists but its key $f is missing; remove $cert to re-issue it"
    new_key "$f"
}

digest_opt() {
    if [ "$algo" = ecdsa ]; then echo -sha256; fi
}

# The CA: self-signed, CA:true, keyCertSign.
cat >"$tmp/ca.cnf" <<EOF
[req]
distinguished_name = dn
prompt = no
x509_extensions = v3_ca
[dn]
CN = placeholder
[v3_ca]
basicConstraints = critical,CA:true
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EOF
ca_pem="$out/ca.pem"
ca_key="$out/ca.key"
if [ -f "$ca_pem" ]; then
    kept=$((kept + 1))
    if [ -f "$ca_key" ]; then kept=$((kept + 1)); fi
else
    if [ -f "$ca_key" ]; then kept=$((kept + 1)); else new_key "$ca_key"; fi
    # shellcheck disable=SC2046
    "$ossl" req -x509 -new -config "$tmp/ca.cnf" -key "$ca_key" -subj "/CN=$ca_name" \
        -days "$days" $(digest_opt) -set_serial "0x1$("$ossl" rand -hex 15)" \
        -out "$tmp/ca.pem" 2>"$tmp/err" || die "cannot create the CA certificate: $(cat "$tmp/err")"
    chmod 644 "$tmp/ca.pem"
    mv "$tmp/ca.pem" "$ca_pem"
    created=$((created + 1))
fi

# issue CERT KEY CN SECTION [SAN]: a certificate for KEY signed by the CA, unless CERT exists.
issue() {
    local cert=$1 key=$2 cn=$3 section=$4 san=${5:-}
    ensure_key "$key" "$cert"
    if [ -f "$cert" ]; then
        kept=$((kept + 1))
        return 0
    fi
    [ -f "$ca_key" ] || die "$cert must be issued but the CA key $ca_key is missing"
    {
        echo "[req]"
        echo "distinguished_name = dn"
        echo "prompt = no"
        echo "[dn]"
        echo "CN = placeholder"
        echo "[node]"
        echo "basicConstraints = critical,CA:false"
        echo "keyUsage = critical,digitalSignature"
        echo "extendedKeyUsage = serverAuth,clientAuth"
        echo "subjectKeyIdentifier = hash"
        echo "authorityKeyIdentifier = keyid,issuer"
        if [ -n "$san" ]; then echo "subjectAltName = $san"; fi
        echo "[client]"
        echo "basicConstraints = critical,CA:false"
        echo "keyUsage = critical,digitalSignature"
        echo "extendedKeyUsage = clientAuth"
        echo "subjectKeyIdentifier = hash"
        echo "authorityKeyIdentifier = keyid,issuer"
    } >"$tmp/leaf.cnf"
    "$ossl" req -new -config "$tmp/leaf.cnf" -key "$key" -subj "/CN=$cn" \
        -out "$tmp/leaf.csr" 2>"$tmp/err" || die "cannot create a request for $cert: $(cat "$tmp/err")"
    # shellcheck disable=SC2046
    "$ossl" x509 -req -in "$tmp/leaf.csr" -CA "$ca_pem" -CAkey "$ca_key" \
        -set_serial "0x1$("$ossl" rand -hex 15)" -days "$days" $(digest_opt) \
        -extfile "$tmp/leaf.cnf" -extensions "$section" -out "$tmp/leaf.pem" 2>"$tmp/err" ||
        die "cannot issue $cert: $(cat "$tmp/err")"
    chmod 644 "$tmp/leaf.pem"
    mv "$tmp/leaf.pem" "$cert"
    created=$((created + 1))
}

for n in "${node_list[@]}"; do
    mkdir -p "$out/$n"
    chmod 755 "$out/$n"
    issue "$out/$n/node.pem" "$out/$n/node.key" "$n" node \
        "DNS:$n,DNS:kme_$n,DNS:keygen_$n,DNS:hybrid_$n,DNS:localhost,IP:127.0.0.1"
    issue "$out/$n/client.pem" "$out/$n/client.key" "$n-app" client
    # two more SAEs of the node for ETSI 014 (docs/certificates.md "Layout")
    issue "$out/$n/sae2.pem" "$out/$n/sae2.key" "$n-sae2" client
    issue "$out/$n/sae3.pem" "$out/$n/sae3.key" "$n-sae3" client
done
if [ ${#clients[@]} -gt 0 ]; then
    mkdir -p "$out/clients"
    chmod 755 "$out/clients"
    for cl in "${clients[@]}"; do
        issue "$out/clients/$cl.pem" "$out/clients/$cl.key" "$cl" client
    done
fi
chmod 755 "$out"

echo "generate_certs.sh: $out: $created file(s) created, $kept kept ($algo, $($ossl version | awk '{print $1, $2}'))"
