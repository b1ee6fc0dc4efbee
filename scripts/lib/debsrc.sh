# debsrc.sh: fetch a Debian package robustly (sourced by bootstrap-deps.sh, compose-setup.sh).
# An archive's Sources index may name a version whose files its pool no longer has (or does
# not have yet). debsrc_pick tries the listed versions newest first and keeps the first one
# whose files download; debsrc_fetch wires it to a private apt configuration for one suite.
# Shell functions only; nothing runs when this file is sourced.

debsrc_log() { # FORMAT ARGS...: one line on stderr, tagged with the calling script's name
  local fmt=$1
  shift
  printf "[%s] $fmt" "${DEBSRC_LOG_TAG:-bootstrap}" "$@" >&2
}

# debsrc_sort_newest: read versions (one per line), print them unique, newest first, by
# Debian's version ordering (dpkg --compare-versions; "~" sorts before anything).
debsrc_sort_newest() {
  local v out=() i j t
  while IFS= read -r v; do
    [ -n "$v" ] || continue
    for t in "${out[@]+"${out[@]}"}"; do [ "$t" = "$v" ] && continue 2; done
    out+=("$v")
  done
  # insertion sort; the lists are a handful of versions long
  for ((i = 1; i < ${#out[@]}; i++)); do
    t=${out[i]}
    j=$((i - 1))
    while [ "$j" -ge 0 ] && dpkg --compare-versions "${out[j]}" lt "$t"; do
      out[j + 1]=${out[j]}
      j=$((j - 1))
    done
    out[j + 1]=$t
  done
  [ "${#out[@]}" -eq 0 ] || printf '%s\n' "${out[@]}"
}

# debsrc_pick PKG LISTER DOWNLOADER: LISTER PKG prints candidate versions (any order);
# DOWNLOADER PKG VERSION fetches one and returns non-zero when it cannot. Prints the version
# used on stdout. Returns 1 with one message on stderr naming every version tried when none
# could be fetched (or none was listed).
debsrc_pick() {
  local pkg=$1 lister=$2 downloader=$3 v tried=()
  local versions
  versions=$("$lister" "$pkg" | debsrc_sort_newest) || true
  if [ -z "$versions" ]; then
    debsrc_log 'ERROR: no version of %s is listed for the suite (is its index reachable?)\n' "$pkg"
    return 1
  fi
  while IFS= read -r v; do
    tried+=("$v")
    if "$downloader" "$pkg" "$v" </dev/null; then
      printf '%s\n' "$v"
      return 0
    fi
    debsrc_log '%s %s is listed but its files cannot be downloaded; trying an older version\n' "$pkg" "$v"
  done <<<"$versions"
  debsrc_log 'ERROR: no listed version of %s could be downloaded; tried: %s. The archive index and its pool disagree: retry later, or set DEBIAN_MIRROR to another mirror.\n' \
    "$pkg" "${tried[*]}" >&2
  return 1
}

# --- the real lister and downloader: a private apt configuration for one deb-src suite ----
# DEBSRC_DIR (work dir), DEBSRC_SUITE (default trixie), DEBIAN_MIRROR. The system's apt
# sources are never changed.
debsrc_apt() {
  apt-get -q -o "Dir::Etc::SourceList=$DEBSRC_DIR/sources.list" -o "Dir::Etc::SourceParts=-" \
    -o "Dir::State::Lists=$DEBSRC_DIR/lists" -o "Dir::Cache=$DEBSRC_DIR/cache" \
    -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache=" -o "APT::Sandbox::User=root" "$@"
}
debsrc_apt_cache() {
  apt-cache -o "Dir::Etc::SourceList=$DEBSRC_DIR/sources.list" -o "Dir::Etc::SourceParts=-" \
    -o "Dir::State::Lists=$DEBSRC_DIR/lists" -o "Dir::Cache=$DEBSRC_DIR/cache" \
    -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache=" "$@"
}

# debsrc_init: create DEBSRC_DIR's apt tree and read the suite's Sources index.
debsrc_init() {
  local mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian} suite=${DEBSRC_SUITE:-trixie}
  local keyring=${DEBIAN_KEYRING:-/usr/share/keyrings/debian-archive-keyring.gpg} signed=""
  mkdir -p "$DEBSRC_DIR/lists/partial" "$DEBSRC_DIR/cache/archives/partial" "$DEBSRC_DIR/src"
  [ -r "$keyring" ] && signed=" [signed-by=$keyring]"
  printf 'deb-src%s %s %s main\n' "$signed" "$mirror" "$suite" >"$DEBSRC_DIR/sources.list"
  debsrc_apt update >"$DEBSRC_DIR/update.log" 2>&1 || {
    cat "$DEBSRC_DIR/update.log" >&2
    debsrc_log 'ERROR: cannot read the %s source index from %s\n' "$suite" "$mirror"
    return 1
  }
}
debsrc_list_apt() { debsrc_apt_cache showsrc "$1" 2>/dev/null | sed -n 's/^Version: //p'; }
debsrc_download_apt() { # into $DEBSRC_DIR/src/<pkg>_<ver>/, unpacked with Debian's patches
  local dir="$DEBSRC_DIR/src/$1_$2"
  rm -rf "$dir" && mkdir -p "$dir"
  (cd "$dir" && debsrc_apt source -qq "$1=$2") >"$dir.log" 2>&1 && return 0
  grep -E '^(E|Err):' "$dir.log" | head -n 3 | while IFS= read -r l; do debsrc_log '  %s\n' "$l"; done
  rm -rf "$dir"
  return 1
}

# debsrc_fetch PKG: print the unpacked source tree of the newest downloadable version.
debsrc_fetch() {
  local pkg=$1 ver tree
  ver=$(debsrc_pick "$pkg" debsrc_list_apt debsrc_download_apt) || return 1
  tree=$(find "$DEBSRC_DIR/src/${pkg}_$ver" -mindepth 1 -maxdepth 1 -type d | head -n 1)
  [ -n "$tree" ] || { debsrc_log 'ERROR: %s %s downloaded but did not unpack\n' "$pkg" "$ver"; return 1; }
  debsrc_log 'using %s %s from %s\n' "$pkg" "$ver" "${DEBSRC_SUITE:-trixie}"
  printf '%s\t%s\n' "$ver" "$tree"
}
