# pqkem.sh: Debian 13's post-quantum KEM libraries for hosts without them (sourced by
# bootstrap-deps.sh; docs/hybrid.md "Key sources"). librandombytes, libcpucycles, libntruprime
# and libmceliece, in that (dependency) order, go into ONE prefix keyed by their versions,
# $QKD_DEPS_ROOT/pqkem-<versions>, with the stable symlink $QKD_DEPS_ROOT/pqkem that
# cmake/Dependencies.cmake finds. A marker file (.qkd-built) is written last; a prefix that has
# it is never rebuilt nor downloaded again. Each library comes from its Debian 13 source package
# (scripts/lib/debsrc.sh: the newest listed version whose files download), built as its
# debian/rules does (./configure --prefix; make; make install). When the archive's pool has
# no source files for a library (seen: the trixie pool lacked every listed version), Debian
# 13's binary packages of that same version are unpacked instead, provided the host's C
# library is new enough for them. These KEMs are optional: pqkem_bootstrap never fails the
# caller; it prints one warning and the project builds without them.
# Needs: debsrc.sh sourced, DEBSRC_DIR set up by debsrc_init, QKD_DEPS_ROOT, SUDO, log().

PQKEM_LIBS=(librandombytes libcpucycles libntruprime libmceliece)
# Binary packages per source package: the runtime library and its -dev.
pqkem_debs() {
  case $1 in
    librandombytes) echo "librandombytes1 librandombytes-dev" ;;
    libcpucycles) echo "libcpucycles1 libcpucycles-dev" ;;
    libntruprime) echo "libntruprime1 libntruprime-dev" ;;
    libmceliece) echo "libmceliece1 libmceliece-dev" ;;
  esac
}

pqkem_prefix_ok() { # $1 = prefix: complete, with both libraries and headers
  [ -f "$1/.qkd-built" ] && [ -f "$1/include/mceliece.h" ] && [ -f "$1/include/ntruprime.h" ] &&
    ls "$1"/lib/libmceliece.so* "$1"/lib/libntruprime.so* >/dev/null 2>&1
}

# pqkem_from_source PKG PREFIX: Debian source of PKG, built and installed into PREFIX.
pqkem_from_source() {
  local pkg=$1 prefix=$2 ver srcdir
  IFS=$'\t' read -r ver srcdir < <(debsrc_fetch "$pkg") || true
  [ -n "${srcdir:-}" ] || return 1
  log "building $pkg $ver from source into $prefix"
  # As debian/rules: upstream's own configure (no autotools); tests and benchmarks are not
  # installed targets, so 'make' builds only the library and its command-line tools.
  ( cd "$srcdir" &&
    export CPATH="$prefix/include" LIBRARY_PATH="$prefix/lib" LD_LIBRARY_PATH="$prefix/lib" &&
    ./configure --prefix="$prefix" >&2 &&
    make -j"$(nproc)" >&2 &&
    $SUDO make install >&2 ) || return 1
  echo "$pkg $ver source" | $SUDO tee -a "$prefix/.qkd-parts" >/dev/null
}

# pqkem_glibc_ok DIR: every shared object under DIR needs no newer glibc symbol than the host's.
pqkem_glibc_ok() {
  local have need f
  have=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}')
  [ -n "$have" ] || return 1
  for f in $(find "$1" -name '*.so*' -type f); do
    need=$(objdump -T "$f" 2>/dev/null | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -n 1)
    [ -z "$need" ] && continue
    [ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | tail -n 1)" = "$have" ] || return 1
  done
}

# pqkem_from_binary PKG PREFIX: Debian 13's binary packages of PKG unpacked into PREFIX.
pqkem_from_binary() {
  local pkg=$1 prefix=$2 dir="$DEBSRC_DIR/bin/$1" b deb arch
  arch=$(dpkg --print-architecture)
  if ! grep -q '^deb ' "$DEBSRC_DIR/sources.list"; then # the binary index, read once
    sed -n 's/^deb-src/deb/p' "$DEBSRC_DIR/sources.list" >>"$DEBSRC_DIR/sources.list"
    debsrc_apt update >"$DEBSRC_DIR/update-bin.log" 2>&1 || return 1
  fi
  mkdir -p "$dir/x"
  for b in $(pqkem_debs "$pkg"); do
    (cd "$dir" && debsrc_apt download -qq "$b:$arch") >"$dir/download.log" 2>&1 || {
      log "  $b: no binary package could be downloaded either"
      return 1
    }
  done
  for deb in "$dir"/*.deb; do dpkg-deb -x "$deb" "$dir/x"; done
  pqkem_glibc_ok "$dir/x" || { log "  $pkg: Debian 13's binaries need a newer C library than this host's"; return 1; }
  $SUDO mkdir -p "$prefix/lib" "$prefix/include"
  $SUDO cp -a "$dir"/x/usr/include/. "$prefix/include/"
  $SUDO cp -a "$dir"/x/usr/lib/*/. "$prefix/lib/"
  echo "$pkg $(dpkg-deb -f "$(ls "$dir"/*.deb | head -n 1)" Version) binary" | $SUDO tee -a "$prefix/.qkd-parts" >/dev/null
}

pqkem_versions_key() { # the listed versions of the four libraries, as one prefix name part
  local p v key=""
  for p in "${PQKEM_LIBS[@]}"; do
    v=$(debsrc_list_apt "$p" | debsrc_sort_newest | head -n 1)
    [ -n "$v" ] || return 1
    key="$key${key:+_}${v##*~}"
  done
  printf '%s\n' "${key//[^A-Za-z0-9._+-]/}"
}

# pqkem_bootstrap: make $QKD_DEPS_ROOT/pqkem unless a complete one is there. Never fails.
pqkem_bootstrap() {
  local p prefix key t0=$SECONDS
  if pqkem_prefix_ok "$QKD_DEPS_ROOT/pqkem"; then
    log "KEM libraries already at $QKD_DEPS_ROOT/pqkem ($(tr '\n' ';' <"$QKD_DEPS_ROOT/pqkem/.qkd-parts"))"
    return 0
  fi
  for p in $(ls -d "$QKD_DEPS_ROOT"/pqkem-* 2>/dev/null | sort -rV); do
    if pqkem_prefix_ok "$p"; then
      $SUDO ln -sfn "$p" "$QKD_DEPS_ROOT/pqkem"
      log "KEM libraries found at $p; linked $QKD_DEPS_ROOT/pqkem"
      return 0
    fi
  done
  key=$(pqkem_versions_key) || { log "WARN: Debian 13's KEM libraries are not listed; building without Classic McEliece and sntrup761"; return 0; }
  prefix="$QKD_DEPS_ROOT/pqkem-$key"
  $SUDO rm -rf "$prefix"
  $SUDO mkdir -p "$prefix"
  for p in "${PQKEM_LIBS[@]}"; do
    pqkem_from_source "$p" "$prefix" 2>"$DEBSRC_DIR/$p.source.log" || {
      log "$p: no Debian 13 source could be fetched or built; trying its binary packages"
      pqkem_from_binary "$p" "$prefix"
    } || {
      $SUDO rm -rf "$prefix"
      log "WARN: $p could not be fetched from Debian 13 (source or binary); building without Classic McEliece and sntrup761"
      return 0
    }
  done
  if ! pqkem_prefix_ok_parts "$prefix"; then
    $SUDO rm -rf "$prefix"
    log "WARN: the KEM libraries did not install completely; building without Classic McEliece and sntrup761"
    return 0
  fi
  printf 'debian 13 %s\n' "$key" | $SUDO tee "$prefix/.qkd-built" >/dev/null
  $SUDO ln -sfn "$prefix" "$QKD_DEPS_ROOT/pqkem"
  log "KEM libraries installed at $prefix (symlink $QKD_DEPS_ROOT/pqkem) in $((SECONDS - t0)) s"
}
pqkem_prefix_ok_parts() { # before the marker: headers and libraries present
  [ -f "$1/include/mceliece.h" ] && [ -f "$1/include/ntruprime.h" ] &&
    ls "$1"/lib/libmceliece.so* "$1"/lib/libntruprime.so* >/dev/null 2>&1
}
