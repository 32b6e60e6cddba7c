#!/usr/bin/env bash
# The one GPU check: builds cream (Release) on a GPU machine with no network and runs
# everything that needs the GPU, then prints ONE summary (pass / fail / skip per step,
# the `cream bench` JSON lines, the total time). Exit status 1 when any step failed.
#
#   scripts/fetch_device_deps.sh          # first, where there is network: fills .device-deps/
#   scripts/device_check.sh [--quick]     # then, on the GPU machine (the repo + .device-deps)
#
# It builds in build-device/ against that machine's own python torch (LibTorch from the
# wheel: torch.utils.cmake_prefix_path) and every other library from .device-deps/ (the
# host's /usr copies are never used: the `provenance` step proves it from CMakeCache,
# ninja's header list and ldd). Steps:
#   configure, build (cream + test_gpu), provenance,
#   gpu-tests   ctest -L gpu (tests/gpu: CUDA vs CPU forward/backward, SDPA vs math,
#               each memory mode lowers the loss on the 7B slice, stochastic rounding)
#   hf-parity   transformers parity tests with CREAM_TEST_DEVICE=cuda (cream and
#               transformers both on the GPU); skipped, saying so, without transformers
#   bench-*     `cream bench`: Llama-2-7B at 4K in bf16-sr (the default lean mode) and
#               in offload, the llama2-7b-slice at 4K, one eval forward of 7B at 32K
# Without a GPU each step runs its CPU fallback, so the script is tested anywhere: the
# gpu tests run their CPU dry run (CREAM_GPU_TESTS_ON_CPU=1), the parity tests run on
# the CPU, the benches use the tiny preset (and the slice at a short length) on the CPU.
#
# Time budget on one H100/H200 (16 cores): the whole run stops starting steps once
# 470 s (--quick: 230 s) have passed (without a GPU: 3600 s), and every step's timeout
# is cut to what is left, so the script ends within 8 (4) minutes even when a step
# hangs; a step left without time is listed as SKIP, never as passed.
# The build dominates. Measured here (2 cores, no ccache, cold, -j2): 680 s wall; the
# 61 torch-using files sum to 1,143 s (18-25 s each; 35-46 s without the precompiled
# header), and wait for that header, 64 s alone and serial. Estimate for 16 cores:
# 64 s + 1,143 s / 16 + link ~ 150 s (building without the precompiled header would
# cost about the same there: 61 x ~40 s / 16). Estimates for the GPU steps (not
# measured: no GPU in the session that wrote this):
#   stage          full     --quick
#   configure      ~10 s    ~10 s
#   build          ~150 s   ~150 s   (cold: no ccache there; cream + test_gpu only)
#   gpu-tests      ~40 s    ~40 s
#   bench 7B sr    ~45 s    ~30 s    (model made on the device; 3 (1) timed steps)
#   bench slice    ~20 s    ~15 s
#   bench eval 32K ~30 s    ~30 s
#   bench 7B other ~90 s    skipped  (offload: host AdamW over 6.7e9 float32 masters)
#   hf-parity      ~60 s    rest     (quick: logits parity only, last, if time is left)
# --quick therefore checks the build, the gpu tests and the 7B figure within 4 minutes
# and drops what does not fit; the full run covers everything within 8.
#
# Environment: CREAM_PYTHON (the python whose torch to build against; default: the
# venv of scripts/setup.sh if present, else python3), CREAM_DEVICE_BUILD (build
# folder), CREAM_CHECK_LOGS (one log per step; default build-device/device-check),
# CREAM_CHECK_BUDGET_S (override the deadline), CREAM_CHECK_7B_CHECKPOINTING (default
# "all", what fits 80 GB), CREAM_CHECK_7B_OTHER_MODE (the second 7B memory mode, default
# offload; step-in-backward needs no host memory).
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${CREAM_DEVICE_BUILD:-$ROOT/build-device}"
LOGS="${CREAM_CHECK_LOGS:-$BUILD/device-check}"
DEPS_ENV="${CREAM_DEVICE_DEPS:-$ROOT/.device-deps}/env.sh"
QUICK=0
for arg in "$@"; do
  case "$arg" in
    --quick) QUICK=1 ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "device_check: unknown argument $arg (usage: scripts/device_check.sh [--quick])" >&2; exit 2 ;;
  esac
done
CKPT_7B="${CREAM_CHECK_7B_CHECKPOINTING:-all}"
OTHER_7B="${CREAM_CHECK_7B_OTHER_MODE:-offload}"
START=$(date +%s)
mkdir -p "$LOGS"
rm -f "$LOGS"/*.log "$LOGS/summary.txt"   # no figure of an earlier run may be reported
SUMMARY=()   # "step|status|seconds|note"
BENCH=()     # JSON lines
FAILED=0

now() { date +%s; }
left() { echo $(( BUDGET_S - ($(now) - START) )); }

# run_step NAME LIMIT_S COMMAND...: runs COMMAND with a timeout of min(LIMIT_S, time
# left), its output in $LOGS/NAME.log (the last 40 lines shown on failure).
run_step() {
  local name="$1" limit="$2" rc t0 took note=""
  shift 2
  local remaining; remaining=$(left)
  if [ "$remaining" -lt 10 ]; then
    SUMMARY+=("$name|SKIP|0|no time left in the ${BUDGET_S}s budget"); return 1
  fi
  [ "$limit" -gt "$remaining" ] && limit=$remaining
  # a function of this script runs in a child bash (exported below), as timeout needs
  declare -F "$1" >/dev/null && set -- bash -c "$1"
  echo "== $name (timeout ${limit}s)"
  t0=$(now)
  timeout --kill-after=10 "$limit" "$@" > "$LOGS/$name.log" 2>&1
  rc=$?
  took=$(( $(now) - t0 ))
  if [ $rc -eq 0 ]; then
    SUMMARY+=("$name|pass|$took|")
    return 0
  fi
  [ $rc -eq 124 ] || [ $rc -eq 137 ] && note="timed out after ${limit}s" || note="exit $rc"
  SUMMARY+=("$name|FAIL|$took|$note (log: $LOGS/$name.log)")
  FAILED=1
  echo "-- $name failed ($note); last lines of its log:"
  tail -n 40 "$LOGS/$name.log" | sed 's/^/   | /'
  return 1
}

skip_step() { SUMMARY+=("$1|SKIP|0|$2"); echo "== $1: skipped ($2)"; }

print_summary() {
  local total=$(( $(now) - START )) line name status secs note
  echo
  echo "================ device_check summary ($([ $QUICK = 1 ] && echo quick || echo full)) ================"
  echo "machine: $MACHINE"
  printf '%-22s %-5s %6s  %s\n' step status time note
  for line in "${SUMMARY[@]}"; do
    IFS='|' read -r name status secs note <<< "$line"
    printf '%-22s %-5s %5ss  %s\n' "$name" "$status" "$secs" "$note"
  done
  if [ ${#BENCH[@]} -gt 0 ]; then
    echo "bench (the figures of the JSON lines below):"
    printf '%s\n' "${BENCH[@]}" | "$PY" -c "$BENCH_TABLE" 2>/dev/null
  fi
  echo "bench JSON lines:"
  if [ ${#BENCH[@]} -eq 0 ]; then echo "  (none)"; else printf '  %s\n' "${BENCH[@]}"; fi
  local starved
  starved=$(printf '%s\n' "${SUMMARY[@]}" | grep -c '|SKIP|0|no time left')
  echo "total: ${total}s (budget ${BUDGET_S}s); result: $([ $FAILED = 0 ] && echo PASS || echo FAIL)" \
       "$([ "$starved" -gt 0 ] && echo "($starved step(s) not run: no time left)")"
}

# One row per bench JSON line: what ran and its headline figures.
BENCH_TABLE=$(cat <<'EOF'
import json, sys
print("  %-44s %10s %6s %9s  %s" % ("run", "tokens/s", "MFU", "peak GiB", "sdpa"))
for line in sys.stdin:
    j = json.loads(line)
    if j["bench"] == "eval":
        what = "eval %s L=%d" % (j["preset"], j["eval_length"])
    else:
        what = "train %s seq=%d %s ckpt=%s" % (j["preset"], j["seq"], j["memory_mode"], j["checkpointing"])
    mfu = "-" if j.get("mfu") is None else "%.1f%%" % (100 * j["mfu"])
    peak = "-" if j.get("peak_memory_bytes") is None else "%.2f" % (j["peak_memory_bytes"] / 2**30)
    print("  %-44s %10s %6s %9s  %s" % (what, j["tokens_per_s"], mfu, peak, j.get("sdpa_backend")))
EOF
)

# --- the machine: the python whose torch we build against, the GPU, transformers ------
pick_python() {
  if [ -n "${CREAM_PYTHON:-}" ]; then echo "$CREAM_PYTHON"
  elif [ -x "${CREAM_VENV:-$HOME/.cache/cream/venv}/bin/python" ]; then echo "${CREAM_VENV:-$HOME/.cache/cream/venv}/bin/python"
  else command -v python3; fi
}
PY="$(pick_python)"
if [ ! -f "$DEPS_ENV" ]; then
  echo "device_check: $DEPS_ENV is missing: run scripts/fetch_device_deps.sh where there is network" >&2
  exit 1
fi
# shellcheck disable=SC1090
source "$DEPS_ENV"
read -r TORCH_VERSION GPU_COUNT GPU_CAP TORCH_PREFIX < <("$PY" - <<'EOF' 2>/dev/null
import torch, torch.utils
n = torch.cuda.device_count() if torch.cuda.is_available() else 0
cap = "".join(map(str, torch.cuda.get_device_capability(0))) if n else "none"
print(torch.__version__, n, cap, torch.utils.cmake_prefix_path)
EOF
)
if [ -z "${TORCH_PREFIX:-}" ]; then
  echo "device_check: $PY cannot import torch (set CREAM_PYTHON to the python that has it)" >&2
  exit 1
fi
GPU=0
[ "$GPU_COUNT" -gt 0 ] && GPU=1
if [ $GPU = 1 ]; then
  MACHINE="$("$PY" -c 'import torch; print(torch.cuda.get_device_name(0))') (sm_$GPU_CAP), torch $TORCH_VERSION, $(nproc) cores"
  ARCH="$GPU_CAP"
else
  MACHINE="no GPU: CPU fallback, torch $TORCH_VERSION, $(nproc) cores"
  ARCH=90
fi
# The 8 (4) minute budget is the GPU machine's; a cold build on a few-core machine
# without a GPU takes ~20 minutes, so the CPU fallback gets an hour.
if [ $GPU = 1 ]; then DEFAULT_BUDGET=$([ $QUICK = 1 ] && echo 230 || echo 470); else DEFAULT_BUDGET=3600; fi
BUDGET_S="${CREAM_CHECK_BUDGET_S:-$DEFAULT_BUDGET}"
HAVE_TRANSFORMERS=0
"$PY" -c 'import transformers, safetensors, sentencepiece' 2>/dev/null && HAVE_TRANSFORMERS=1
echo "device_check: $MACHINE; python $PY; build $BUILD; logs $LOGS"

# --- build --------------------------------------------------------------------------
D="$CREAM_DEVICE_DEPS_PREFIX"
configure() {
  # (checked with CMake 3.25 and 4.4, the pip `cmake` a GPU image is likely to have)
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCREAM_PYTHON="$PY" -DCMAKE_PREFIX_PATH="$TORCH_PREFIX;$D" \
    -DCMAKE_CUDA_ARCHITECTURES="$ARCH" \
    -Dnlohmann_json_DIR="$D/share/cmake/nlohmann_json" -DCLI11_DIR="$D/share/cmake/CLI11" \
    -Dyaml-cpp_DIR="$D/lib/x86_64-linux-gnu/cmake/yaml-cpp" -DGTest_DIR="$D/lib/x86_64-linux-gnu/cmake/GTest" \
    -DPKG_CONFIG_EXECUTABLE="$D/bin/pkgconf"
}

# Every library of ours came from .device-deps: the CMake package folders and pkgconf
# in the cache, no header of theirs read from /usr/include (ninja's record of every
# compile's headers), and the binary's shared libraries resolved there.
provenance() {
  local bad=0 key value
  for key in nlohmann_json_DIR CLI11_DIR yaml-cpp_DIR GTest_DIR PKG_CONFIG_EXECUTABLE; do
    value=$(grep -E "^$key:" "$BUILD/CMakeCache.txt" | cut -d= -f2-)
    echo "CMakeCache $key = $value"
    case "$value" in "$D"/*) ;; *) echo "  ^ not under $D"; bad=1 ;; esac
  done
  grep -E '^SENTENCEPIECE_INCLUDE_DIRS|^SPDLOG_INCLUDE_DIRS' "$BUILD/CMakeCache.txt" | head -2
  local system_headers
  system_headers=$(ninja -C "$BUILD" -t deps 2>/dev/null |
    grep -E '^ +/usr/include/(nlohmann|spdlog|fmt|yaml-cpp|CLI|gtest|gmock|sentencepiece)' | sort -u)
  local ours
  ours=$(ninja -C "$BUILD" -t deps 2>/dev/null | grep -c -F "$D/include/")
  echo "headers read from $D/include: $ours; from the system's copies: $(printf '%s' "$system_headers" | grep -c .)"
  [ -n "$system_headers" ] && { echo "$system_headers" | head; bad=1; }
  [ "$ours" -gt 0 ] || bad=1
  if command -v ldd >/dev/null; then
    local lib
    for lib in libsentencepiece.so libyaml-cpp.so libspdlog.so libfmt.so; do
      value=$(ldd "$BUILD/cream" | grep -F "$lib" | head -1)
      echo "ldd cream: $value"
      case "$value" in *"$D"/*) ;; *) echo "  ^ not resolved under $D"; bad=1 ;; esac
    done
  fi
  return $bad
}

export ROOT BUILD D PY TORCH_PREFIX ARCH
export -f configure provenance

# --- the steps ------------------------------------------------------------------------
# (-j 4: each test is its own process, and CUDA's start-up is most of a short test)
gpu_tests() {
  if [ $GPU = 1 ]; then
    run_step gpu-tests 180 ctest --test-dir "$BUILD" -L gpu -j 4 --output-on-failure
  else
    run_step gpu-tests-cpu-dry-run 180 env CREAM_GPU_TESTS_ON_CPU=1 ctest --test-dir "$BUILD" -L gpu -j 4 --output-on-failure
  fi
}

# transformers parity (quick: the logits cases only, not the training round trip)
hf_parity() {
  local parity='^hf_(logits_parity|export_roundtrip|generate_parity)$'
  [ $QUICK = 1 ] && parity='^hf_logits_parity$'
  if [ $HAVE_TRANSFORMERS = 0 ]; then
    skip_step hf-parity "$PY has no transformers / safetensors / sentencepiece"
  elif [ $GPU = 1 ]; then
    run_step hf-parity-cuda 240 env CREAM_TEST_DEVICE=cuda ctest --test-dir "$BUILD" -R "$parity" -j 2 --output-on-failure
  else
    run_step hf-parity-cpu 240 ctest --test-dir "$BUILD" -R "$parity" -j 2 --output-on-failure
  fi
}

# bench NAME LIMIT FLAGS...: one `cream bench` run; its JSON line joins the summary.
bench() {
  local name="$1" limit="$2"
  shift 2
  run_step "$name" "$limit" "$BUILD/cream" bench "$@" || return 0
  local json
  json=$(grep -E '^\{' "$LOGS/$name.log" | tail -n 1)
  [ -n "$json" ] && BENCH+=("$json")
}

benches() {
  local slice=(--preset llama2-7b-slice) steps=3
  "$BUILD/cream" bench --help 2>/dev/null | grep -q llama2-7b-slice || slice=(--preset llama2-7b --layers 2)
  if [ $GPU = 0 ]; then
    # CPU fallback: the same modes on the tiny preset, the slice at a short length
    bench bench-tiny-bf16-sr 120 --device cpu --preset tiny --seq 256 --steps 2 --warmup 1 --memory-mode bf16-sr
    bench bench-tiny-offload 120 --device cpu --preset tiny --seq 256 --steps 2 --warmup 1 --memory-mode offload \
      --checkpointing all
    bench bench-tiny-eval-2k 120 --device cpu --preset tiny --eval-length 2048 --steps 1 --warmup 0
    if [ $QUICK = 0 ]; then
      bench bench-slice-cpu 240 --device cpu "${slice[@]}" --seq 64 --steps 1 --warmup 0 --memory-mode bf16-sr
    else
      skip_step bench-slice-cpu "--quick"
    fi
    return
  fi
  [ $QUICK = 1 ] && steps=1
  # the default lean mode first: the figure the issue's goals are about
  bench bench-7b-4k-bf16-sr 150 --preset llama2-7b --seq 4096 --micro-batch 1 --steps "$steps" --warmup 1 \
    --memory-mode bf16-sr --checkpointing "$CKPT_7B"
  bench bench-slice-4k 90 "${slice[@]}" --seq 4096 --micro-batch 1 --steps "$steps" --warmup 1 \
    --memory-mode bf16-sr --checkpointing none
  bench bench-7b-eval-32k 120 --preset llama2-7b --eval-length 32768 --steps 1 --warmup 1
  if [ $QUICK = 0 ]; then
    bench "bench-7b-4k-$OTHER_7B" 180 --preset llama2-7b --seq 4096 --micro-batch 1 --steps 1 --warmup 1 \
      --memory-mode "$OTHER_7B" --checkpointing "$CKPT_7B"
  else
    skip_step "bench-7b-4k-$OTHER_7B" "--quick"
  fi
}

run_step configure 120 configure
run_step build "$([ $GPU = 1 ] && echo 420 || echo "$BUDGET_S")" cmake --build "$BUILD" -j"$(nproc)" --target cream test_gpu
if [ $? = 0 ]; then
  run_step provenance 30 provenance
  gpu_tests
  # --quick: the benches before the parity tests, so that the 4-minute deadline (a cold
  # build takes most of it) drops the parity tests first
  if [ $QUICK = 1 ]; then benches; hf_parity; else hf_parity; benches; fi
else
  skip_step tests-and-benches "the build failed"
fi

print_summary | tee "$LOGS/summary.txt"
exit $FAILED
