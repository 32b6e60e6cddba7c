#!/usr/bin/env bash
# Installs what cream needs to build, test and run its scripts, once per machine:
#   1. Debian/Ubuntu packages (compiler, CMake, SentencePiece, yaml-cpp, ...);
#   2. the Python packages of requirements.txt (torch 2.11.0, whose wheel is the
#      LibTorch we build against, transformers, tokenizers, ...) in a virtual
#      environment OUTSIDE the clone: $CREAM_VENV, default ~/.cache/cream/venv.
# Idempotent: a second run checks and returns in seconds. Concurrent runs take
# turns (flock). Prints the venv's python path on stdout when asked: --print-python.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CREAM_VENV="${CREAM_VENV:-$HOME/.cache/cream/venv}"

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config
  libgloo-dev            # headers c10d's Gloo backend needs (the torch wheel ships none)
  libsentencepiece-dev sentencepiece
  libpcre2-dev libutf8proc-dev  # tokenizer.json: Split regexes, NFC
  zlib1g-dev libzstd-dev # gzip and zstd inputs of `cream data prepare`
  zstd                   # scripts/walkthrough_smoke.sh compresses its input
  nlohmann-json3-dev libcli11-dev libspdlog-dev libyaml-cpp-dev
  libgtest-dev googletest
  python3 python3-venv   # the virtual environment below
  perl-doc               # plain English text for demos and haystacks
  wordnet-base           # adjective / noun lists for LongChat-Lines labels
  time bc jq util-linux  # scripts/bench_*.sh; flock
)

install_debian_packages() {
  local missing=() pkg status
  for pkg in "${PACKAGES[@]}"; do
    # a variable, not a pipe into `grep -q`: under pipefail an early grep exit can
    # SIGPIPE dpkg-query and report an installed package as missing
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "setup.sh: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  echo "setup.sh: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The venv is current when its stamp holds the sha256 of requirements.txt; a
# failed install leaves no stamp, so the next run tries again.
install_python_packages() {
  local want stamp="$CREAM_VENV/.cream-requirements.sha256"
  want=$(sha256sum "$ROOT/requirements.txt" | cut -d' ' -f1)
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && return 0
  echo "setup.sh: installing requirements.txt into $CREAM_VENV (torch and its CUDA libraries: ~5 GB, once per machine)" >&2
  [ -x "$CREAM_VENV/bin/python" ] || python3 -m venv "$CREAM_VENV"
  "$CREAM_VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$ROOT/requirements.txt"
  echo "$want" > "$stamp"
}

if [ "${1:-}" = "--print-python" ]; then
  echo "$CREAM_VENV/bin/python"
  exit 0
fi
install_debian_packages
mkdir -p "$(dirname "$CREAM_VENV")"
(
  flock 9
  install_python_packages
) 9>"$CREAM_VENV.lock"
