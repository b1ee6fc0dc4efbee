#!/usr/bin/env python3
"""kat.py: independent recomputation (hashlib/hmac only) of the qkd-hybrid combiner
known-answer values pinned in tests/unit/test_hybrid_combiner.c and listed in docs/hybrid.md.
Run: python3 tests/unit/hybrid_kat/kat.py [--check tests/unit/test_hybrid_combiner.c]
(--check: exit 1 unless every vector pinned in the C test equals the value computed here)."""
import re
import sys
import hashlib
import hmac as _hmac
import struct

H = hashlib.sha256


def hkdf_extract(salt, ikm):
    return _hmac.new(salt if salt else b"\0" * 32, ikm, H).digest()


def hkdf_expand(prk, info, n):
    out, t, c = b"", b"", 1
    while len(out) < n:
        t = _hmac.new(prk, t + info + bytes([c]), H).digest()
        out += t
        c += 1
    return out[:n]


def lv(b):  # 4-byte big-endian length, then the bytes
    return struct.pack(">I", len(b)) + b


# --- KDFix-compatible combiners (the Python module's definitions) ---
def fit(k, n):  # KDFix enforce_key_size: truncate or zero-pad
    return k[:n] if len(k) >= n else k + b"\0" * (n - len(k))


def xoring(keys, n):
    keys = sorted(keys)
    out = fit(keys[0], n)
    for k in keys[1:]:
        out = bytes(a ^ b for a, b in zip(out, fit(k, n)))
    return out


def hmac_raw(keys):  # KDFix hmac_kdf: key = first, message = the rest concatenated
    return _hmac.new(keys[0], b"".join(keys[1:]), H).digest()


def hmac_comb(keys, n, presorted=False):
    keys = keys if presorted else sorted(keys)
    h = hmac_raw(keys)
    if n <= 32:
        return h[:n]
    return hkdf_expand(h, b"QKD-HYBRID-v1 hmac", n)  # qkd-hybrid extension for n > 32


def xorhmac(keys, n):
    keys = sorted(keys)
    if len(keys) == 1:
        return hmac_comb(keys, n, True)
    a = hmac_comb(keys, n, True)
    b = hmac_comb(list(reversed(keys)), n, True)
    return bytes(x ^ y for x, y in zip(a, b))


# --- context-bound combiners ---
def transcript_hash(srcs):
    t = b"".join(lv(name) + lv(pub) + lv(ct) for name, _, pub, ct in srcs)
    return H(t).digest()


def fixed_info(method, srcs, ini, res, n):
    names = b",".join(name for name, _, _, _ in srcs)
    return (lv(b"QKD-HYBRID-v1 " + method) + lv(names) + lv(ini) + lv(res) +
            struct.pack(">I", n))


def salt(ksid, index):
    return b"QKD-HYBRID-v1" + ksid + struct.pack(">I", index)


def hkdf_comb(srcs, ksid, index, ini, res, n):
    z = b"".join(k for _, k, _, _ in srcs)
    prk = hkdf_extract(salt(ksid, index), z)
    info = fixed_info(b"hkdf", srcs, ini, res, n) + lv(transcript_hash(srcs))
    return hkdf_expand(prk, info, n)


def catkdf_core(psk, ks, ma, mb, context, label, n):  # ETSI TS 103 744 8.2 with HKDF (7.4.2)
    secret = psk + b"".join(ks)
    f = H(lv(context) + lv(ma) + lv(mb)).digest()  # 7.2.3 concatenate-and-hash
    return hkdf_expand(hkdf_extract(label, secret), f, n)


def catkdf_comb(srcs, ksid, index, ini, res, n):
    ma = b"".join(lv(pub) for _, _, pub, _ in srcs)
    mb = b"".join(lv(ct) for _, _, _, ct in srcs)
    ctx = fixed_info(b"catkdf", srcs, ini, res, n)
    return catkdf_core(b"", [k for _, k, _, _ in srcs], ma, mb, ctx, salt(ksid, index), n)


# --- fixed inputs ---
KA = bytes((7 * i + 3) & 0xFF for i in range(32))
KB = bytes(0xA5 ^ i for i in range(48))
KC = bytes((255 - 3 * i) & 0xFF for i in range(24))
INPUT = [KC, KA, KB]  # order handed to the combiner
KSID = bytes.fromhex("00112233445566778899aabbccddeeff")
INDEX = 7
INI = b"a1a1a1a1-0000-4000-8000-000000000001"
RES = b"b2b2b2b2-0000-4000-8000-000000000002"
SRCS = [
    (b"QKD", KA, b"", b""),
    (b"ML-KEM-768", KB[:32], bytes(i & 0xFF for i in range(1184)), bytes((i * 5) & 0xFF for i in range(1088))),
    (b"X25519", KC + KA[:8], bytes(range(32)), bytes(range(32, 64))),
]
LENS = [16, 32, 64, 100]


def main():
    # sanity: RFC 5869 case 1 and ETSI TS 103 744 V1.1.1 C.2.1 through the same helpers
    assert hkdf_expand(hkdf_extract(bytes(range(13)), b"\x0b" * 22), bytes(range(0xF0, 0xFA)), 42).hex() == (
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")
    la = bytes.fromhex("0102030405060708090A0B0C0D0E0F10")
    lb = bytes.fromhex("0202030405060708090A0B0C0D0E0F10")
    pa1 = bytes.fromhex(
        "119F2F047902782AB0C9E27A54AFF5EB9B964829CA99C06B02DDBA95B0A3F6D08F52B726664CAC366FC"
        "98AC7A012B2682CBD962E5ACB544671D41B9445704D1D")
    pa2 = bytes.fromhex(
        "4484D7AADB44B40CC180DC568B2C142A60E6E2863F5988614A6215254B2F5F6F79B48F329AD1A2DED2"
        "0B7ABAB10F7DBF59C3E20B59A700093060D2A44ACDC0083A53CF0808E0B3A827C45176BEE0DC6EC7CC1"
        "6461E38461C12451BB95191407C1E942BB50D4C7B25A49C644B630159E6C403653838E689FBF4A7ADEA"
        "693ED0657BA4A724786AF7953F7BA6E15F9BBF9F5007FB711569E72ACAB05D3463A458536CAB647F00C"
        "205D27D5311B2A5113D4B26548000DB237515931A040804E769361F94FF0167C78353D2630A1E6F595A"
        "1F80E87F6A5BCD679D7A64C5006F6191D4ADEFA1EA67F6388B7017D453F4FE2DFE80CCC709000B52175"
        "BFC3ADE52ECCB0CEBE1654F89D39131C357EACB61E5F13C80AB0165B7714D6BE6DF65F8DE73FF47B7F3"
        "304639F0903653ECCFA252F6E2104C4ABAD3C33AF24FD0E56F58DB92CC66859766035419AB2DF600")
    pb1 = bytes.fromhex(
        "809F04289C64348C01515EB03D5CE7AC1A8CB9498F5CAA50197E58D43A86A7AEB29D84E811197F25EBA"
        "8F5194092CB6FF440E26D4421011372461F579271CDA3")
    pb2 = bytes.fromhex(
        "0FDEB26DBD96E0CD272283CA5BDD1435BC9A7F9AB7FC24F83CA926DEED038AE4E47F39F9886E0BD7EEB"
        "EAACD12AB435CC92AA3383B2C01E6B9E02BC3BEF9C6C2719014562A96A0F3E784E3FA44E5C62ED8CEA7"
        "9E1108B6FECD5BF8836BF2DAE9FEB1863C4C8B3429220E2797F601FB4B8EBAFDD4F17355508D259CA60"
        "721D167F6E5480B5133E824F76D3240E97F31325DBB9A53E9A3EEE2E0712734825615A027857E2000D4"
        "D00E11988499A738452C93DA895BFA0E10294895CCF25E3C261CBE38F5D7E19ABE4E322094CB8DEC5BF"
        "7484902BABDE33CC69595F6013B20AABA9698C1DEA2BC6F65D57519294E6FEEA3B549599D480948374D"
        "2D21B643573C276E1A5B0745301F648D7982AB46A3065639960182BF365819EFC0D4E61E87D2820DBC0"
        "E849E99E875B21501D1CA7588A1D458CD70C7DF793D4993B9B1679886CAE8013A8DD854F010A100C993"
        "3FA642DC0AEA9985786ED36B98D3")
    k1 = bytes.fromhex("057D636096CB80B67A8C038C890E887D1ADFA4195E9B3CE241C8A778C59CDA67")
    k2 = bytes.fromhex("35F7F8FF388714DEDC41F139078CEDC9")
    assert catkdf_core(b"", [k1, k2], la + pa1 + pa2, lb + pb1 + pb2, b"CONCATENATION TEST VECTOR 1",
                       la + lb, 16).hex() == "5c366f23281d33eb85cab026d3d9a35a"
    print("checks ok")
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        return check(sys.argv[2])
    for n in LENS:
        print("xoring  %3d %s" % (n, xoring(INPUT, n).hex()))
    for n in LENS:
        print("hmac    %3d %s" % (n, hmac_comb(INPUT, n).hex()))
    for n in LENS:
        print("xorhmac %3d %s" % (n, xorhmac(INPUT, n).hex()))
    for n in LENS:
        print("hkdf    %3d %s" % (n, hkdf_comb(SRCS, KSID, INDEX, INI, RES, n).hex()))
    for n in LENS:
        print("catkdf  %3d %s" % (n, catkdf_comb(SRCS, KSID, INDEX, INI, RES, n).hex()))
    print("hmac1   32 %s" % hmac_comb([KA], 32).hex())
    print("xorhmac1 32 %s" % xorhmac([KA], 32).hex())
    print("xoring2 32 %s" % xoring([KB, KA], 32).hex())
    return 0


def check(c_file):
    """Compares the {HYB_COMB_<M>, L, "hex"...} vectors of the C test with this module."""
    fns = {
        "XORING": lambda n: xoring(INPUT, n),
        "HMAC": lambda n: hmac_comb(INPUT, n),
        "XORHMAC": lambda n: xorhmac(INPUT, n),
        "HKDF": lambda n: hkdf_comb(SRCS, KSID, INDEX, INI, RES, n),
        "CATKDF": lambda n: catkdf_comb(SRCS, KSID, INDEX, INI, RES, n),
    }
    text = open(c_file).read()
    found = 0
    for m, n, body in re.findall(r'\{HYB_COMB_([A-Z]+), (\d+),((?:\s*"[0-9a-f]*")+)\}', text):
        got = "".join(re.findall(r'"([0-9a-f]*)"', body))
        want = fns[m](int(n)).hex()
        if got != want:
            print("MISMATCH %s %s: C test has %s, Python gives %s" % (m, n, got, want))
            return 1
        found += 1
    if found != 20:
        print("expected 20 vectors in %s, found %d" % (c_file, found))
        return 1
    print("all %d vectors agree" % found)
    return 0


if __name__ == "__main__":
    sys.exit(main())
