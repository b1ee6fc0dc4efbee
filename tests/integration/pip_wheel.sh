# pip_wheel.sh: sourced by the interop tests. pip_wheel_cached installs one pinned third-party
# wheel from PyPI (version and SHA-256 pinned, --require-hashes --no-deps, no compile) into a
# folder of the cache outside the clone, once; later runs find it there. Needs PY (python3), T
# (pip's request file and $T/logs/pip.log go there) and the caller's ok and die.
#
# pip_wheel_cached NAME VERSION SHA256 DEST PROBE: returns when DEST/PROBE exists (cached or
# just installed); when no package registry answered (or there is no pip) prints SKIP and exits
# 77 (ctest: skipped); any other pip failure dies.
pip_wheel_cached() {
    local name=$1 version=$2 sha=$3 dest=$4 probe=$5
    if [ -e "$dest/$probe" ]; then
        ok "$name $version cached in $dest"
        return 0
    fi
    local tmp="$dest.tmp.$$"
    rm -rf "$tmp"
    mkdir -p "$(dirname "$dest")" 2>/dev/null || true
    if "$PY" -m pip --version >/dev/null 2>&1 &&
        printf '%s==%s --hash=sha256:%s\n' "$name" "$version" "$sha" >"$T/req-$name.txt" &&
        timeout 300 "$PY" -m pip install --disable-pip-version-check --no-deps --no-compile \
            --only-binary :all: --require-hashes -r "$T/req-$name.txt" --target "$tmp" \
            >"$T/logs/pip.log" 2>&1 &&
        [ -e "$tmp/$probe" ]; then
        rm -rf "$dest"
        mv "$tmp" "$dest" || die "cannot move $tmp to $dest"
        ok "$name $version installed into $dest"
        return 0
    fi
    rm -rf "$tmp"
    # Skipped only when no registry answered (or there is no pip to ask one); a registry that
    # answered but could not give the package is a failure.
    local unreachable='from versions: none|NewConnectionError|Temporary failure in name resolution|Network is unreachable|ConnectTimeout|Max retries exceeded'
    local why
    if ! "$PY" -m pip --version >/dev/null 2>&1; then
        why="there is no pip for $PY to fetch it (Debian: python3-pip)"
    elif grep -qE "$unreachable" "$T/logs/pip.log" 2>/dev/null; then
        why="pip reached no package registry"
    else
        die "pip could not install $name==$version: $(tail -n 5 "$T/logs/pip.log")"
    fi
    echo "SKIP: $name $version is not cached in $dest and $why:"
    tail -n 3 "$T/logs/pip.log" 2>/dev/null
    exit 77
}
