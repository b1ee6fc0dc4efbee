#!/bin/bash
# kme_etsi014_cli.sh: qkd-client rest and qkd-bench rest against two key servers serving ETSI
# GS QKD 014 (docs/client.md): status at alice for slave bob-app; enc at alice -> dec at bob
# gives the same keys (GET and POST, sizes 64 and 8192, 5 keys per call); a key_ID fetched
# twice -> HTTP 400 (exit 40); a caller that is not an SAE of the node, and an SAE of the
# right node that is not the key's slave -> HTTP 401 (exit 41); qkd-bench rest with 1 and 16
# connections. Every wait is bounded; a qkd-kme without the 014 listener fails at once.
. "$(dirname "$0")/kme_lib.sh"

"$QKD_BIN/qkd-kme" --help 2>&1 | grep -q -- "--etsi014-listen" ||
    die "qkd-kme has no --etsi014-listen option: the ETSI 014 server is not built in yet"

SAES="alice-app=alice,bob-app=bob,app2=bob"
e14_args() { # NODE : the 014 options of NODE's key server
    echo --etsi014-listen 127.0.0.1:0 --etsi014-port-file "$T/run/e14-$1.port" --sae "$SAES"
}

# start_pair (kme_lib.sh) with each node's own 014 port file
start_keygen_pair alice bob 2000000
# shellcheck disable=SC2046
start_kme alice --peer-listen 127.0.0.1:0 --peer-port-file "$(peer_port_file alice)" \
    --link "peer=bob,role=leader,ring=$(ring_name alice bob)" $(e14_args alice)
wait_file "$(peer_port_file alice)" 10 || die "alice peer listener"
# shellcheck disable=SC2046
start_kme bob --link \
    "peer=alice,role=follower,ring=$(ring_name bob alice),addr=127.0.0.1:$(cat "$(peer_port_file alice)")" \
    $(e14_args bob)
wait_peer_up bob alice 10 || die "peer sync bob-alice did not come up"
wait_ring_attached alice bob 10 || die "alice did not attach its ring"
wait_ring_attached bob alice 10 || die "bob did not attach its ring"
for n in alice bob; do
    wait_file "$T/run/e14-$n.port" 10 || die "$n: no ETSI 014 port file (--etsi014-port-file)"
done
ALICE_URL="https://127.0.0.1:$(cat "$T/run/e14-alice.port")"
BOB_URL="https://127.0.0.1:$(cat "$T/run/e14-bob.port")"

# rest NODE IDENTITY_BASE args... : qkd-client rest at NODE's 014 listener as IDENTITY
rest() {
    local url=$ALICE_URL id=$2
    [ "$1" = bob ] && url=$BOB_URL
    shift 2
    timeout 60 "$QKD_BIN/qkd-client" --url "$url" --cert "$id.pem" --key "$id.key" \
        --ca "$CERTS/ca.pem" --timeout 20000 rest "$@"
}
ALICE_APP="$CERTS/alice/client"
BOB_APP="$CERTS/bob/client"
APP2="$CERTS/clients/app2"

# status
out=$(rest alice "$ALICE_APP" status --slave bob-app)
check "status exits 0" 0 $?
check "status source_KME_ID" alice "$(awk '$1=="source_KME_ID"{print $2}' <<<"$out")"
check "status target_KME_ID" bob "$(awk '$1=="target_KME_ID"{print $2}' <<<"$out")"
check "status master_SAE_ID" alice-app "$(awk '$1=="master_SAE_ID"{print $2}' <<<"$out")"
check "status slave_SAE_ID" bob-app "$(awk '$1=="slave_SAE_ID"{print $2}' <<<"$out")"
check "status key_size" 256 "$(awk '$1=="key_size"{print $2}' <<<"$out")"
check "status lines" 11 "$(wc -l <<<"$out")"
rest alice "$ALICE_APP" status --slave bob-app --json | python3 -c '
import json, sys
o = json.load(sys.stdin)
assert o["source_KME_ID"] == "alice" and o["slave_SAE_ID"] == "bob-app", o
assert o["max_key_per_request"] == 128 and o["min_key_size"] == 64, o'
check "status --json is the Status object" 0 $?

# enc at alice -> dec at bob, GET and POST, sizes 64 and 8192, 5 keys
for post in "" --post; do
    for size in 64 8192; do
        what="${post:-GET} size $size"
        rest alice "$ALICE_APP" enc --slave bob-app --number 5 --size $size $post >"$T/enc"
        check "$what: enc exits 0" 0 $?
        check "$what: 5 keys" 5 "$(wc -l <"$T/enc")"
        check "$what: key hex length" $((size / 4)) "$(awk '{print length($2)}' "$T/enc" | sort -u)"
        ids=()
        while read -r id _; do ids+=(--key-id "$id"); done <"$T/enc"
        rest bob "$BOB_APP" dec --master alice-app "${ids[@]}" $post >"$T/dec"
        check "$what: dec exits 0" 0 $?
        check "$what: dec keys equal enc keys" "" "$(diff "$T/enc" "$T/dec")"
    done
done

# the README's two-command example
K=$(rest alice "$ALICE_APP" enc --slave bob-app)
D=$(rest bob "$BOB_APP" dec --master alice-app --key-id "${K%% *}")
check "two-command example: same key" "$K" "$D"

# once only: a second dec of the same key_ID -> 400 -> exit 40, one error line
rest bob "$BOB_APP" dec --master alice-app --key-id "${K%% *}" >/dev/null 2>"$T/err"
check "second dec of a key_ID exits 40" 40 $?
check "error is one line" 1 "$(wc -l <"$T/err")"
grep -q "dec_keys failed: HTTP 400" "$T/err"
check "error names the call and the status" 0 $?

# --json: the Key container, keys in base64
rest alice "$ALICE_APP" enc --slave bob-app --number 2 --json >"$T/enc.json"
check "enc --json exits 0" 0 $?
python3 - "$T/enc.json" <<'PY'
import base64, json, sys, uuid
o = json.load(open(sys.argv[1]))
assert list(o) == ["keys"] and len(o["keys"]) == 2, o
for k in o["keys"]:
    assert sorted(k) == ["key", "key_ID"], k
    uuid.UUID(k["key_ID"])
    assert len(base64.b64decode(k["key"], validate=True)) == 32
PY
check "enc --json is the Key container" 0 $?

# 401: bob-app is not an SAE of alice's node; app2 is at bob's node but not the key's slave
K=$(rest alice "$ALICE_APP" enc --slave bob-app)
rest alice "$BOB_APP" dec --master alice-app --key-id "${K%% *}" >/dev/null 2>&1
check "caller not an SAE of this node -> exit 41" 41 $?
rest bob "$APP2" dec --master alice-app --key-id "${K%% *}" >/dev/null 2>&1
check "an SAE that is not the key's slave -> exit 41" 41 $?
rest bob "$BOB_APP" dec --master alice-app --key-id "${K%% *}" >/dev/null
check "the slave still gets the key after the refusals" 0 $?

# a key server that is not there: exit 2, bounded
timeout 30 "$QKD_BIN/qkd-client" --url https://127.0.0.1:1 --cert "$ALICE_APP.pem" \
    --key "$ALICE_APP.key" --ca "$CERTS/ca.pem" --timeout 5000 rest status --slave bob-app \
    >/dev/null 2>&1
check "no server -> exit 2" 2 $?

# the benchmark: 200 pairs over 1 and over 16 connection pairs, every key compared
for conns in 1 16; do
    timeout 150 "$QKD_BIN/qkd-bench" rest --master-url "$ALICE_URL" --slave-url "$BOB_URL" \
        --master-cert "$ALICE_APP.pem" --master-key "$ALICE_APP.key" \
        --slave-cert "$BOB_APP.pem" --slave-key "$BOB_APP.key" --ca "$CERTS/ca.pem" \
        --master alice-app --slave bob-app --pairs 200 --conns $conns --seconds 100 \
        >"$T/bench-$conns" 2>&1
    check "qkd-bench rest --conns $conns exits 0" 0 $?
    check "qkd-bench rest --conns $conns: 200 pairs" 200 "$(awk '$1=="pairs"{print $2}' "$T/bench-$conns")"
    cat "$T/bench-$conns"
done
finish
