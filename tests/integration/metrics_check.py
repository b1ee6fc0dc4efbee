#!/usr/bin/env python3
"""metrics_check.py: helpers of the metrics integration tests (docs/observability.md).

  metrics_check.py value URL NAME [label=value ...]   print one sample's value (sum over matches)
  metrics_check.py parse URL...                       parse each /metrics with prometheus_client
                                                      (PYTHONPATH must hold it), print families
  metrics_check.py get URL [OUT]                      print the HTTP status of GET URL (body to OUT)
  metrics_check.py colours PNG                        count the distinct colours of a PNG
"""
import struct
import sys
import urllib.error
import urllib.request
import zlib


def fetch(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()


def value(url, name, want):
    total, found = 0.0, False
    for line in fetch(url + "/metrics").splitlines():
        if not line or line.startswith("#"):
            continue
        head, _, val = line.rpartition(" ")
        mname, _, labels = head.partition("{")
        if mname != name:
            continue
        if all(f'{k}="{v}"' in labels for k, v in want):
            total += float(val)
            found = True
    if not found:
        sys.exit(f"no sample {name} {want} at {url}")
    print(int(total) if total == int(total) else total)


def get(url, out=None):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            code, body = r.status, r.read()
    except urllib.error.HTTPError as e:
        code, body = e.code, e.read()
    if out:
        open(out, "wb").write(body)
    print(code)


def parse(urls):
    from prometheus_client.parser import text_string_to_metric_families
    for url in urls:
        text = fetch(url + "/metrics")
        fams = list(text_string_to_metric_families(text))
        names = sorted(f.name for f in fams)
        assert names, url
        for f in fams:
            for s in f.samples:
                for k, v in s.labels.items():
                    # no KSID (a UUID) and no hex key material in any label
                    assert not (len(v) == 36 and v.count("-") == 4), (s, url)
                    assert len(v) < 64, (s, url)
        print(f"{url}: {len(fams)} families, {sum(len(f.samples) for f in fams)} samples: "
              + " ".join(names))


def colours(path):
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, w = 8, b"", 0
    while pos < len(data):
        n, typ = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if typ == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and ctype in (2, 6), (depth, ctype)
            bpp = 3 if ctype == 2 else 4
        elif typ == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * bpp
    prev = bytearray(stride)
    seen = set()
    i = 0
    for _ in range(h):
        f = raw[i]
        line = bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        for x in range(0, stride, bpp * 4):  # every 4th pixel is plenty
            seen.add(bytes(line[x:x + 3]))
        prev = line
    print(len(seen))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "value":
        value(sys.argv[2], sys.argv[3], [a.split("=", 1) for a in sys.argv[4:]])
    elif cmd == "get":
        get(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
    elif cmd == "parse":
        parse(sys.argv[2:])
    elif cmd == "colours":
        colours(sys.argv[2])
    else:
        sys.exit(__doc__)
