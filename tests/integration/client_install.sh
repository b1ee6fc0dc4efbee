#!/usr/bin/env bash
# client_install.sh: installs libqkd004 (component qkd004) from the build tree into a temp
# prefix, then builds the example program of docs/client.md against it with find_package
# (shared and static targets) and with pkg-config, runs each with --help, and checks that the
# installed shared library exports only the public symbols.
# Usage: client_install.sh BUILD_DIR CMAKE_COMMAND
set -euo pipefail
BUILD=${1:?build dir}
CMAKE=${2:-cmake}
: "${QKD_SRC:?QKD_SRC must name the repository root}"

T=$(mktemp -d "${TMPDIR:-/tmp}/qkd-client-install.XXXXXX")
trap 'rm -rf "$T"' EXIT
P=$T/prefix
fails=0
fail() {
    echo "FAIL: $*" >&2
    fails=$((fails + 1))
}

"$CMAKE" --install "$BUILD" --prefix "$P" --component qkd004 >"$T/install.log" 2>&1 || {
    cat "$T/install.log" >&2
    echo "FAIL: cmake --install" >&2
    exit 1
}
for f in include/qkd/qkd004.h include/qkd/types.h lib/pkgconfig/qkd004.pc \
    lib/cmake/qkd004/qkd004Config.cmake lib/libqkd004.a; do
    [ -e "$P/$f" ] || fail "not installed: $f"
done
ls "$P"/lib/libqkd004.so* >/dev/null 2>&1 || fail "no shared library installed"

# The example program and its CMakeLists.txt, taken from the documentation.
mkdir -p "$T/src"
python3 - "$QKD_SRC/docs/client.md" "$T/src" <<'EOF'
import re, sys
doc = open(sys.argv[1]).read()
n = 0
for name, body in re.findall(r"<!-- example: (\S+) -->\n```\w*\n(.*?)```", doc, re.S):
    open(f"{sys.argv[2]}/{name}", "w").write(body)
    n += 1
assert n == 2, f"expected 2 examples in docs/client.md, found {n}"
EOF

# find_package, shared target
"$CMAKE" -S "$T/src" -B "$T/b1" -DCMAKE_PREFIX_PATH="$P" -DCMAKE_BUILD_TYPE=Release \
    >"$T/b1.log" 2>&1 && "$CMAKE" --build "$T/b1" >>"$T/b1.log" 2>&1 ||
    { cat "$T/b1.log" >&2; fail "find_package build (qkd004::qkd004)"; }
if [ -x "$T/b1/qkd004_example" ]; then
    "$T/b1/qkd004_example" --help | grep usage >/dev/null && echo "ok: find_package (shared) example runs" ||
        fail "find_package example --help"
    ldd "$T/b1/qkd004_example" | grep "$P/lib/libqkd004.so" >/dev/null || fail "example does not use the installed libqkd004.so: $(ldd "$T/b1/qkd004_example")"
fi

# find_package, static target
sed 's/qkd004::qkd004)/qkd004::qkd004_static)/' "$T/src/CMakeLists.txt" >"$T/src/CMakeLists.static"
mkdir -p "$T/src2" && cp "$T/src/qkd004_example.c" "$T/src2/" && cp "$T/src/CMakeLists.static" "$T/src2/CMakeLists.txt"
grep -q "qkd004::qkd004_static)" "$T/src2/CMakeLists.txt" || fail "static CMakeLists not derived"
"$CMAKE" -S "$T/src2" -B "$T/b2" -DCMAKE_PREFIX_PATH="$P" >"$T/b2.log" 2>&1 &&
    "$CMAKE" --build "$T/b2" >>"$T/b2.log" 2>&1 ||
    { cat "$T/b2.log" >&2; fail "find_package build (qkd004::qkd004_static)"; }
if [ -x "$T/b2/qkd004_example" ]; then
    "$T/b2/qkd004_example" --help | grep usage >/dev/null && echo "ok: find_package (static) example runs" ||
        fail "static example --help"
    if ldd "$T/b2/qkd004_example" | grep libqkd004 >/dev/null; then fail "static example links libqkd004.so"; fi
fi

# pkg-config
export PKG_CONFIG_PATH=$P/lib/pkgconfig
flags=$(pkg-config --cflags --libs qkd004) || fail "pkg-config qkd004"
# shellcheck disable=SC2086
cc -Wall -Wextra -Werror -o "$T/ex_pc" "$T/src/qkd004_example.c" $flags 2>"$T/pc.log" ||
    { cat "$T/pc.log" >&2; fail "pkg-config build"; }
if [ -x "$T/ex_pc" ]; then
    "$T/ex_pc" --help | grep usage >/dev/null && echo "ok: pkg-config example runs" || fail "pkg-config example --help"
    rc=0
    "$T/ex_pc" 127.0.0.1:1 a b c >/dev/null 2>&1 || rc=$?
    [ "$rc" -eq 1 ] || fail "example with unreadable certificates: exit $rc, want 1"
fi

# Only the public API is exported.
so=$(ls "$P"/lib/libqkd004.so.*.* | head -n 1)
extra=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' | sed 's/@.*//' |
    grep -v -E '^(qkd004_[a-z_]+|qkd_status_(str|ok)|qkd_ksid_[a-z_]+)$' || true)
[ -z "$extra" ] && echo "ok: only public symbols exported" || fail "internal symbols exported: $extra"
nm -D --defined-only "$so" | grep " qkd004_get_key" >/dev/null || fail "qkd004_get_key not exported"

[ "$fails" -eq 0 ] && echo "client_install: all checks passed"
exit $((fails > 0))
