#!/usr/bin/env bash
# Fills .device-deps/ with every library cream builds against except LibTorch, for a GPU
# machine that has no network (scripts/device_check.sh builds there from this folder):
# the Debian 12 packages are downloaded here with `apt-get download` and unpacked with
# `dpkg -x` (nothing is installed). Debian 12's binaries need glibc 2.36 and libstdc++
# from GCC 12, which the GPU machine's newer Ubuntu provides.
#
#   scripts/fetch_device_deps.sh           # idempotent: downloads only missing .deb files
#   CREAM_DEVICE_DEPS=/path scripts/fetch_device_deps.sh
#
# Layout: .device-deps/debs/*.deb (the downloads), .device-deps/root/usr/... (unpacked),
# .device-deps/env.sh (sourced by device_check.sh: CMAKE_PREFIX_PATH, PKG_CONFIG_*,
# LD_LIBRARY_PATH, all computed from env.sh's own location, so the folder still works
# after the repository is copied to another path). The pkg-config files are made
# relocatable (prefix=${pcfiledir}/...); the CMake config files already locate their
# prefix from their own path, which this script checks. The folder must stay well under
# the 64 MiB the device tool carries; its size is printed at the end.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEST="${CREAM_DEVICE_DEPS:-$ROOT/.device-deps}"
MAX_MIB=32

# find_package / pkg_check_modules in CMakeLists.txt: nlohmann_json, CLI11, yaml-cpp,
# GTest (tests), sentencepiece, spdlog (-> fmt), Gloo's headers, zstd; plus pkgconf, since the GPU machine's
# image may have no pkg-config. Runtime .so packages next to their -dev packages.
PACKAGES=(
  libsentencepiece0 libsentencepiece-dev
  nlohmann-json3-dev
  libcli11-dev
  libspdlog1.10 libspdlog-dev
  libfmt9 libfmt-dev
  libyaml-cpp0.7 libyaml-cpp-dev
  libgtest-dev libgmock-dev
  pkgconf-bin libpkgconf3
  libgloo-dev             # headers of c10d's Gloo backend (src/dist; nothing of it is linked)
  libpcre2-dev libpcre2-8-0 libpcre2-16-0 libpcre2-32-0 libpcre2-posix3  # tokenizer.json regexes
  libutf8proc-dev libutf8proc2                                           # tokenizer.json NFC
  libzstd-dev             # zstd inputs of `cream data prepare` (the runtime libzstd1 is on the machine)
)

download_missing() {
  mkdir -p "$DEST/debs"
  local missing=() pkg
  for pkg in "${PACKAGES[@]}"; do
    compgen -G "$DEST/debs/${pkg}_*.deb" >/dev/null || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "fetch_device_deps: downloading ${missing[*]}" >&2
  if ! (cd "$DEST/debs" && apt-get download -q "${missing[@]}" >/dev/null); then
    echo "fetch_device_deps: apt-get download failed (stale package lists? run: apt-get update)" >&2
    exit 1
  fi
}

unpack_all() {
  rm -rf "$DEST/root.tmp"
  mkdir -p "$DEST/root.tmp"
  local deb
  for deb in "$DEST"/debs/*.deb; do dpkg -x "$deb" "$DEST/root.tmp"; done
  # documentation, manuals and lintian overrides: not needed to build
  rm -rf "$DEST/root.tmp/usr/share/doc" "$DEST/root.tmp/usr/share/man" "$DEST/root.tmp/usr/share/lintian"
  # Gloo: only its headers are used (find_path), never its CMake package, whose files
  # name /usr/lib/libgloo.so that libgloo-dev alone does not bring
  rm -rf "$DEST/root.tmp/usr/share/cmake/Gloo" "$DEST/root.tmp/usr/lib/cmake/Gloo"
  rm -rf "$DEST/root"
  mv "$DEST/root.tmp" "$DEST/root"
}

# Every absolute /usr in a .pc file (prefix=, and Debian's gtest/gmock/nlohmann_json also
# spell libdir=, includedir=, -I/usr/include) -> ${pcfiledir}/<up to usr>; an absolute /usr
# left over would point at the host's copy, so it is an error.
relocate_pkgconfig() {
  local usr="$DEST/root/usr" pc rel
  while IFS= read -r pc; do
    rel=$(realpath --relative-to="$(dirname "$pc")" "$usr")
    sed -i -E "s#(^|[= ]|-I|-L)/usr(/| |\$)#\1\${pcfiledir}/$rel\2#g" "$pc"
  done < <(find "$usr" -name '*.pc')
  if grep -n '/usr' $(find "$usr" -name '*.pc'); then
    echo "fetch_device_deps: the .pc lines above still name /usr" >&2
    exit 1
  fi
}

# Generated CMake package files find their prefix from CMAKE_CURRENT_LIST_FILE; a
# hard-coded /usr/include or /usr/lib in one would silently use the host's copy. The one
# /usr they all spell is benign: CMake's "loaded through a /lib -> /usr/lib link" idiom
# (_realOrig), which applies only when the file really is at its original /usr path.
check_cmake_configs() {
  local bad
  bad=$(grep -n -E '/usr/(include|lib)' $(find "$DEST/root/usr" -name '*.cmake') |
        grep -v -E '_realOrig|cross-prefix symbolic link|set\(_IMPORT_PREFIX "/usr/lib/x86_64-linux-gnu/cmake/' || true)
  if [ -n "$bad" ]; then
    echo "$bad" >&2
    echo "fetch_device_deps: the CMake files above hard-code /usr" >&2
    exit 1
  fi
}

write_env() {
  cat > "$DEST/env.sh" <<'EOF'
# Written by scripts/fetch_device_deps.sh. Source it (bash): points CMake, pkg-config and
# the dynamic loader at the unpacked libraries beside this file, and ONLY at them for
# pkg-config (PKG_CONFIG_LIBDIR replaces the system search path).
_cream_deps="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/root/usr"
export CREAM_DEVICE_DEPS_PREFIX="$_cream_deps"
export CMAKE_PREFIX_PATH="$_cream_deps${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
export PKG_CONFIG="$_cream_deps/bin/pkgconf"
export PKG_CONFIG_LIBDIR="$_cream_deps/lib/x86_64-linux-gnu/pkgconfig:$_cream_deps/share/pkgconfig"
export PKG_CONFIG_PATH="$PKG_CONFIG_LIBDIR"
export LD_LIBRARY_PATH="$_cream_deps/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
unset _cream_deps
EOF
}

# The unpacked pkgconf answers for every module CMakeLists.txt asks for.
self_check() {
  # shellcheck disable=SC1091
  (source "$DEST/env.sh"
   for module in sentencepiece spdlog fmt nlohmann_json CLI11 yaml-cpp gtest; do
     "$PKG_CONFIG" --exists "$module" || { echo "fetch_device_deps: pkgconf cannot find $module" >&2; exit 1; }
   done
   inc=$("$PKG_CONFIG" --variable=includedir sentencepiece)
   [ -f "$inc/sentencepiece_processor.h" ] || { echo "fetch_device_deps: sentencepiece includedir $inc is wrong" >&2; exit 1; })
}

download_missing
unpack_all
relocate_pkgconfig
check_cmake_configs
write_env
self_check
size_mib=$(( $(du -sk "$DEST" | cut -f1) / 1024 ))
echo "fetch_device_deps: $DEST ready: $(ls "$DEST"/debs/*.deb | wc -l) packages, ${size_mib} MiB" \
     "(root/ $(du -sh "$DEST/root" | cut -f1), debs/ $(du -sh "$DEST/debs" | cut -f1))"
if [ "$size_mib" -gt "$MAX_MIB" ]; then
  echo "fetch_device_deps: over ${MAX_MIB} MiB; the device tool carries 64 MiB in all" >&2
  exit 1
fi
