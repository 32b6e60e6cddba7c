#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages cream needs to build, test and run its
# scripts. Idempotent: quiet and quick when everything is already present.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config
  libtorch-dev
  libopenblas0-pthread   # without it LibTorch falls back to reference BLAS (~35x slower fp32 matmul)
  libgloo-dev            # headers c10d's Gloo backend needs
  libsentencepiece-dev sentencepiece
  nlohmann-json3-dev libcli11-dev libspdlog-dev libyaml-cpp-dev
  libgtest-dev googletest
  python3 python3-numpy python3-torch python3-matplotlib   # reference generators and plots
  perl-doc               # plain English text for demos and haystacks
  wordnet-base           # adjective / noun lists for LongChat-Lines labels
  time bc                # scripts/bench_data.sh
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  # a variable, not a pipe into `grep -q`: under pipefail an early grep exit can
  # SIGPIPE dpkg-query and report an installed package as missing
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup.sh: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
echo "setup.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
