"""interop_etsi_lib.py: drives ETSI's C client library (client_api, as PyPI's wg-qrotator ships
it prebuilt in wg_qrotator/kms_so/libclient_api.so) through ctypes exactly as wg-qrotator's own
kms.py (class ETSI_004) does, against two ETSI 004 servers (two key servers, or two qkd-hybrid
ETSI listeners):
  initiator at A: openConnect(cert, key, ip, port, my_sae, other_sae, NULL, 32)
  responder at B: openConnect(cert, key, ip, port, other_sae, my_sae, KSID, 32)
  then getKey(cert, key, ip, port, c_char(0), index, KSID) for index 0..N-1 at both ends
  (concurrently: a hybrid key needs both ends), then close(cert, key, ip, port, KSID) at both.
The struct layouts are wg-qrotator's own (kms_so/libclient_api_structs.py, loaded from the
installed package). Checks: one non-zero KSID at both ends, N keys of 32 bytes identical at both
ends and pairwise distinct, CLOSE 0 at both; with --metadata, every key carries JSON metadata
with "age" (the E dialect sends the whole metadata, never status 8).

usage: interop_etsi_lib.py PKG_DIR A_ADDR A_CERT A_KEY B_ADDR B_CERT B_KEY [--count N]
       [--metadata] [--label TEXT]
The library verifies no server certificate (it passes no CA) and presents the given client
certificate and key files; addresses are IPv4 "ip:port" (the library uses inet_addr)."""
import argparse
import ctypes
import importlib.util
import json
import os
import sys
import threading
from ctypes import c_char, c_char_p, c_int

ZERO_KSID = b"00000000-0000-0000-0000-000000000000"


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def ok(msg):
    print("ok: " + msg)


def load_structs(pkg):
    path = os.path.join(pkg, "wg_qrotator", "kms_so", "libclient_api_structs.py")
    spec = importlib.util.spec_from_file_location("libclient_api_structs", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def load_so(pkg, structs):
    """ETSI_004._load_so of kms.py."""
    api = ctypes.CDLL(os.path.join(pkg, "wg_qrotator", "kms_so", "libclient_api.so"))
    api.openConnect.argtypes = [c_char_p, c_char_p, c_char_p, c_int, c_char_p, c_char_p,
                                c_char_p, c_int]
    api.openConnect.restype = c_char_p
    api.getKey.argtypes = [c_char_p, c_char_p, c_char_p, c_int, c_char, c_int, c_char_p]
    api.getKey.restype = structs.QKD_Get_Key_Response
    api.close.argtypes = [c_char_p, c_char_p, c_char_p, c_int, c_char_p]
    api.close.restype = structs.QKD_Close_Response
    return api


class End:
    """One application: its key server address and its certificate."""

    def __init__(self, addr, cert, key, sae):
        self.ip, port = addr.rsplit(":", 1)
        self.port = int(port)
        self.cert, self.key, self.sae = cert.encode(), key.encode(), sae.encode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pkg")
    ap.add_argument("a_addr")
    ap.add_argument("a_cert")
    ap.add_argument("a_key")
    ap.add_argument("b_addr")
    ap.add_argument("b_cert")
    ap.add_argument("b_key")
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--metadata", action="store_true")
    ap.add_argument("--label", default="")
    o = ap.parse_args()
    tag = o.label + ": " if o.label else ""
    structs = load_structs(o.pkg)
    api = load_so(o.pkg, structs)
    a = End(o.a_addr, o.a_cert, o.a_key, "sae-alice-wg0")
    b = End(o.b_addr, o.b_cert, o.b_key, "sae-bob-wg0")

    # ETSI_004._open_connect: initiator (not inverted) and responder (inverted, with the KSID)
    ksid = api.openConnect(a.cert, a.key, a.ip.encode(), a.port, a.sae, b.sae, None, 32)
    if not ksid or ksid == ZERO_KSID:
        fail("%sinitiator openConnect at %s returned %r (refused)" % (tag, o.a_addr, ksid))
    ok("%sinitiator openConnect -> KSID %s" % (tag, ksid.decode()))
    ksid_b = api.openConnect(b.cert, b.key, b.ip.encode(), b.port, a.sae, b.sae, ksid, 32)
    if ksid_b != ksid:
        fail("%sresponder openConnect at %s returned %r, want %r" % (tag, o.b_addr, ksid_b, ksid))
    ok("%sresponder openConnect with the KSID -> the same KSID" % tag)

    # ETSI_004.get_key(index) at both ends, concurrently
    keys = {"a": [], "b": []}
    errors = []

    def fetch(end, name):
        for i in range(o.count):
            r = api.getKey(end.cert, end.key, end.ip.encode(), end.port, c_char(0), i, ksid)
            if r.status != 0:
                errors.append("%s getKey(%d): status %d" % (name, i, r.status))
                return
            if r.index != i:
                errors.append("%s getKey(%d): index %d in the response" % (name, i, r.index))
                return
            key = ctypes.string_at(r.key_buffer.data, r.key_buffer.size)
            md = ctypes.string_at(r.metadata.data, r.metadata.size) if r.metadata.size else b""
            if o.metadata:
                try:
                    if "age" not in json.loads(md):
                        raise ValueError("no age")
                except ValueError:
                    errors.append("%s getKey(%d): metadata %r is not JSON with age" % (name, i, md))
                    return
            keys[name].append(key)

    ta = threading.Thread(target=fetch, args=(a, "a"))
    tb = threading.Thread(target=fetch, args=(b, "b"))
    ta.start()
    tb.start()
    ta.join()
    tb.join()
    if errors:
        fail(tag + "; ".join(errors))
    ka, kb = keys["a"], keys["b"]
    if len(ka) != o.count or len(kb) != o.count:
        fail("%s%d and %d keys, want %d" % (tag, len(ka), len(kb), o.count))
    if any(len(k) != 32 for k in ka + kb):
        fail("%sa key is not 32 bytes" % tag)
    if ka != kb:
        bad = [i for i in range(o.count) if ka[i] != kb[i]]
        fail("%skeys differ at %d indices, first %d" % (tag, len(bad), bad[0]))
    if len(set(ka)) != o.count:
        fail("%skeys repeat" % tag)
    ok("%s%d keys of 32 bytes identical at both ends, all distinct%s" %
       (tag, o.count, ", each with JSON metadata" if o.metadata else ""))

    # ETSI_004.close at both ends
    sa = api.close(a.cert, a.key, a.ip.encode(), a.port, ksid).status
    sb = api.close(b.cert, b.key, b.ip.encode(), b.port, ksid).status
    if sa != 0 or sb != 0:
        fail("%sCLOSE statuses %d and %d, want 0 and 0" % (tag, sa, sb))
    ok("%sCLOSE 0 at both ends" % tag)


if __name__ == "__main__":
    main()
