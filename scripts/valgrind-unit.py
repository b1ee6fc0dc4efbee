#!/usr/bin/env python3
"""valgrind-unit.py BUILD_DIR: runs every ctest test labelled 'unit' under valgrind (memcheck,
definite leaks are errors) with the exact command line and environment ctest would use.
Prints one line per test and a closing 'N passed, N failed' line; exits 1 on any failure."""
import json, os, subprocess, sys

build = os.path.abspath(sys.argv[1])
info = json.loads(subprocess.run(["ctest", "--test-dir", build, "-L", "unit",
                                  "--show-only=json-v1"], check=True, capture_output=True,
                                 text=True).stdout)
passed = failed = 0
for t in info.get("tests", []):
    cmd = t.get("command")
    if not cmd:
        continue
    env = dict(os.environ)
    cwd = build
    for p in t.get("properties", []):
        if p["name"] == "ENVIRONMENT":
            for kv in p["value"]:
                k, _, v = kv.partition("=")
                env[k] = v
        elif p["name"] == "WORKING_DIRECTORY":
            cwd = p["value"]
    log = os.path.join(build, f"valgrind-{t['name']}.log")
    vg = ["valgrind", "-q", "--error-exitcode=99", "--leak-check=full",
          "--errors-for-leak-kinds=definite", "--log-file=" + log + ".vg"]
    with open(log, "w") as out:
        try:
            rc = subprocess.run(vg + cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                timeout=900).returncode
        except subprocess.TimeoutExpired:
            rc = -1
    if rc == 0:
        passed += 1
        print(f"valgrind ok:   {t['name']}")
    else:
        failed += 1
        print(f"valgrind FAIL: {t['name']} (exit {rc}); see {log} and {log}.vg")
        for f in (log + ".vg", log):
            try:
                print("".join(open(f).readlines()[-25:]))
            except OSError:
                pass
print(f"valgrind: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
