#!/usr/bin/env python3
"""interop_etsi014.py: drives PyPI's etsi-qkd-014-client (a third-party ETSI GS QKD 014 client)
against two running key servers, alice and bob (docs/etsi014.md): status, keys made at
alice (GET with defaults, POST with number and size) fetched identical at bob, once only,
additional slaves, and 401 for an SAE that is not a slave of the key. Prints one 'ok:' or
'FAIL:' line per check; exit 0 only when every check passed. Keys are never printed: with
--keys-out FILE their base64 and hex forms are written there (one a line) so the caller can check
that no log holds them.

usage: interop_etsi014.py PKG_DIR ALICE_HOST:PORT BOB_HOST:PORT CA CERTDIR [--keys-out FILE]
  PKG_DIR  where pip installed etsi_qkd_014_client (--target)
  CERTDIR  generate_certs.sh's output: CERTDIR/<node>/client.pem|.key (<node>-app),
           CERTDIR/<node>/sae2.pem|.key, CERTDIR/<node>/sae3.pem|.key
"""
import argparse
import base64
import sys
import time
import uuid

FAILS = 0


def ok(msg):
    print(f"ok: {msg}", flush=True)


def fail(msg):
    global FAILS
    FAILS += 1
    print(f"FAIL: {msg}", flush=True)


def check(msg, cond, detail=""):
    if cond:
        ok(msg)
    else:
        fail(f"{msg}{': ' + detail if detail else ''}")
    return cond


def describe(code, data):
    """A short text for an answer: the code and the error message (never key bytes)."""
    msg = getattr(data, "message", None)
    if msg is not None:
        return f"HTTP {code}, message {msg!r}"
    n = len(getattr(data, "keys", []) or [])
    return f"HTTP {code}" + (f", {n} key(s)" if n else "")


def key_bytes(k):
    try:
        return base64.b64decode(k.key, validate=True)
    except (ValueError, TypeError):
        return None


def is_uuid(s):
    try:
        uuid.UUID(s)
        return len(s) == 36
    except (ValueError, TypeError, AttributeError):
        return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pkg")
    ap.add_argument("alice")
    ap.add_argument("bob")
    ap.add_argument("ca")
    ap.add_argument("certs")
    ap.add_argument("--keys-out")
    ap.add_argument("--wait-s", type=float, default=15.0,
                    help="how long the first enc_keys may answer 503 (key not there yet)")
    a = ap.parse_args()
    sys.path.insert(0, a.pkg)
    from etsi_qkd_014_client import QKD014Client  # noqa: E402 (the pinned wheel, by path)

    def sae(host, node, name):
        f = "client" if name == "app" else name
        return QKD014Client(host, f"{a.certs}/{node}/{f}.pem", f"{a.certs}/{node}/{f}.key", a.ca)

    alice_app = sae(a.alice, "alice", "app")
    bob_app = sae(a.bob, "bob", "app")
    bob_sae2 = sae(a.bob, "bob", "sae2")
    bob_sae3 = sae(a.bob, "bob", "sae3")
    delivered = []

    def keys_ok(label, code, data, n, bits):
        if not check(f"{label}: 200", code == 200, describe(code, data)):
            return None
        keys = data.keys
        good = (len(keys) == n and all(is_uuid(k.key_id) for k in keys)
                and all(key_bytes(k) is not None and len(key_bytes(k)) == bits // 8 for k in keys))
        sizes = [len(key_bytes(k) or b"") * 8 for k in keys]
        check(f"{label}: {n} key(s) of {bits} bits with UUID key_IDs", good,
              f"{len(keys)} key(s), sizes {sizes}, ids {[k.key_id for k in keys]}")
        check(f"{label}: key_IDs and keys distinct",
              len({k.key_id for k in keys}) == len(keys) and len({k.key for k in keys}) == len(keys))
        delivered.extend(k.key for k in keys)
        return keys

    def same(label, made, code, data):
        if not check(f"{label}: 200", code == 200, describe(code, data)):
            return
        want = {k.key_id: k.key for k in made}
        got = {k.key_id: k.key for k in data.keys}
        check(f"{label}: the same {len(want)} key(s) under the same key_IDs", want == got,
              f"key_IDs asked {sorted(want)}, answered {sorted(got)}"
              + ("" if set(want) != set(got) else " (key bytes differ)"))

    # 1. status at alice for slave bob-app
    code, st = alice_app.get_status("bob-app")
    if check("get_status(bob-app) at alice: 200", code == 200, describe(code, st)):
        check("status: source_KME_ID alice, target_KME_ID bob",
              (st.source_kme_id, st.target_kme_id) == ("alice", "bob"),
              f"got {st.source_kme_id!r}, {st.target_kme_id!r}")
        check("status: master_SAE_ID alice-app, slave_SAE_ID bob-app",
              (st.master_sae_id, st.slave_sae_id) == ("alice-app", "bob-app"),
              f"got {st.master_sae_id!r}, {st.slave_sae_id!r}")
        check("status: key_size 256", st.key_size == 256, f"got {st.key_size}")
        check("status: min_key_size <= key_size <= max_key_size, max_key_per_request >= 3",
              st.min_key_size <= st.key_size <= st.max_key_size and st.max_key_per_request >= 3,
              f"min {st.min_key_size}, max {st.max_key_size}, per request {st.max_key_per_request}")
        check("status: max_SAE_ID_count >= 1 (additional slaves)", st.max_sae_id_count >= 1,
              f"got {st.max_sae_id_count}")

    # 2. get_key with defaults (a GET): 1 key of 256 bits; 503 only while the link fills
    end = time.monotonic() + a.wait_s
    while True:
        code, data = alice_app.get_key("bob-app")
        if code != 503 or time.monotonic() >= end:
            break
        time.sleep(0.5)
    made = keys_ok("get_key(bob-app) at alice (GET, defaults)", code, data, 1, 256)
    if made:
        ids = [k.key_id for k in made]
        code, data = bob_app.get_key_with_key_IDs("alice-app", ids)
        same("get_key_with_key_IDs(alice-app) at bob as bob-app", made, code, data)
        code, data = bob_app.get_key_with_key_IDs("alice-app", ids)
        check("the same key_ID again at bob: 400", code == 400, describe(code, data))

    # 3. get_key number=3 size=512 (a POST)
    made = keys_ok("get_key(bob-app, number=3, size=512) at alice (POST)",
                   *alice_app.get_key("bob-app", number=3, size=512), 3, 512)
    if made:
        ids = [k.key_id for k in made]
        code, data = bob_sae3.get_key_with_key_IDs("alice-app", ids)
        check("bob-sae3 (not the slave) asks for bob-app's keys: 401", code == 401,
              describe(code, data))
        code, data = bob_app.get_key_with_key_IDs("alice-app", ids)
        same("3 keys of 512 bits at bob as bob-app (after the refused call)", made, code, data)
        code, data = bob_app.get_key_with_key_IDs("alice-app", ids[:1])
        check("one of them again: 400", code == 400, describe(code, data))

    # 4. an additional slave: bob-sae2 beside bob-app; bob-sae3 is neither
    made = keys_ok("get_key(bob-app, additional_slave_sae_ids=[bob-sae2]) at alice (POST)",
                   *alice_app.get_key("bob-app", additional_slave_sae_ids=["bob-sae2"]), 1, 256)
    if made:
        ids = [k.key_id for k in made]
        code, data = bob_sae3.get_key_with_key_IDs("alice-app", ids)
        check("bob-sae3, not among the slaves: 401", code == 401, describe(code, data))
        code, data = bob_app.get_key_with_key_IDs("alice-app", ids)
        same("bob-app (the slave) gets it", made, code, data)
        code, data = bob_sae2.get_key_with_key_IDs("alice-app", ids)
        same("bob-sae2 (the additional slave) gets it", made, code, data)
        code, data = bob_app.get_key_with_key_IDs("alice-app", ids)
        check("bob-app again, after both slaves have it: 400", code == 400, describe(code, data))
        code, data = bob_sae2.get_key_with_key_IDs("alice-app", ids)
        check("bob-sae2 again: 400", code == 400, describe(code, data))

    check("every key delivered at alice is distinct", len(set(delivered)) == len(delivered),
          f"{len(set(delivered))} distinct of {len(delivered)}")
    if a.keys_out:
        with open(a.keys_out, "w", encoding="ascii") as f:
            for k in delivered:  # base64 as served, and hex
                f.write(k + "\n" + base64.b64decode(k).hex() + "\n")
    print(f"{'all checks passed' if FAILS == 0 else f'{FAILS} check(s) failed'}", flush=True)
    return 1 if FAILS else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as exc:  # a transport error or an answer the client cannot parse
        print(f"FAIL: {type(exc).__name__}: {exc}", flush=True)
        sys.exit(1)
