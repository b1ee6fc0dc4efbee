#!/bin/sh
# certs_sae.sh GENERATE_CERTS OUT: adds the ETSI 014 identities of kme_etsi014.py to the
# qkd_certs fixture: alice-sae2, alice-sae3, bob-sae2, bob-sae3 (clientAuth, CN = the SAE_ID)
# and mallory-app, an identity of the same CA that is in no key server's SAE directory. Where
# generate_certs.sh issues every node's SAEs itself (DIR/<node>/sae2.pem, sae3.pem; see
# docs/certificates.md) it refuses those names as clients: then only mallory-app is added.
set -eu
gen=$1
out=$2
if grep -q 'sae2\.pem' "$gen"; then
    exec "$gen" --out "$out" --nodes alice,bob,charlie --client mallory-app
fi
exec "$gen" --out "$out" --nodes alice,bob,charlie --client alice-sae2 --client alice-sae3 \
    --client bob-sae2 --client bob-sae3 --client mallory-app
