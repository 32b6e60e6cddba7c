// `cream bench`: the speed and memory of a training step (or of a long eval forward)
// for a preset shape with random weights made on the device, printed as one JSON line:
// tokens/s, MFU, peak memory and every setting. README.md "Benchmarks" describes the
// fields and the FLOPs formula; bench_train.cpp and bench_eval.cpp do the timing.
#include <algorithm>
#include <cstdio>
#include <functional>
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>
#include <torch/cuda.h>

#include "bench.h"
#include "cli_common.h"
#include "command_registry.h"
#include "cream/model/presets.h"
#include "cream/train/device.h"
#include "cream/train/memory_plan.h"
#include "cream/util/error.h"
#include "cream/util/parse.h"

namespace cream::cli {
namespace {

// The flags as typed; resolve() checks them and turns them into BenchSettings.
struct BenchFlags {
  std::string preset = "tiny";
  // Shape overrides of the preset (0: keep the preset's).
  int64_t layers = 0, hidden = 0, heads = 0, kv_heads = 0, intermediate = 0, vocab = 0;
  int64_t seq = 4096;
  int64_t micro_batch = 1;
  int64_t micro_batches = 1;
  int64_t steps = 5;
  int64_t warmup = 1;
  std::string memory_mode;        // "": bf16-sr for bf16, fp32-masters for fp32 (as train.memory_mode)
  std::string grad_accumulation;  // "": fp32 for bf16-sr / bf16-rtn
  std::string checkpointing = "none";
  std::string dtype = "bf16";
  std::string device = "auto";
  int64_t eval_length = 0;
  double peak_tflops = 0;
  int threads = 0;
  uint64_t seed = 0;
  bool no_memory_check = false;
  // Which flags were typed (the eval timing refuses the training-only ones).
  std::function<bool(const char*)> given;
};

template <typename Enum>
Enum parse_enum(const std::string& text, const std::string& flag) {
  std::string valid;
  for (const auto value : config::all_values<Enum>()) {
    if (text == config::to_string(value)) return value;
    valid += (valid.empty() ? "" : ", ") + std::string(config::to_string(value));
  }
  throw Error(flag + ": unknown value \"" + text + "\" (valid: " + valid + ")");
}

// "none" -> 0, "all" -> 1, "every:K" -> K (recompute layers 0, K, 2K, ...). The YAML key's
// own values (train.activation_checkpointing: true / false) mean all / none here too.
int64_t parse_checkpointing(const std::string& text) {
  if (text == "none" || text == "false") return 0;
  if (text == "all" || text == "true") return 1;
  const std::string prefix = "every:";
  if (text.compare(0, prefix.size(), prefix) == 0) {
    const auto stride = util::parse_integer(text.substr(prefix.size()));
    if (stride && *stride >= 1) return *stride;
  }
  throw Error("--checkpointing: expected none, all, every:K with K >= 1, true or false, got \"" + text + "\"");
}


model::LlamaConfig resolve_shape(const BenchFlags& f, bool& custom) {
  model::LlamaConfig c;
  try {
    c = model::preset(f.preset);
  } catch (const Error& e) {
    throw Error(std::string("--preset: ") + e.what());
  }
  custom = f.layers || f.hidden || f.heads || f.kv_heads || f.intermediate || f.vocab;
  if (f.layers) c.num_hidden_layers = f.layers;
  if (f.intermediate) c.intermediate_size = f.intermediate;
  if (f.vocab) c.vocab_size = f.vocab;
  if (f.hidden) c.hidden_size = f.hidden;
  if (f.heads) c.num_attention_heads = f.heads;
  // A new head count without --kv-heads means plain multi-head attention.
  if (f.kv_heads || f.heads) c.num_key_value_heads = f.kv_heads ? f.kv_heads : f.heads;
  CREAM_CHECK(c.hidden_size % c.num_attention_heads == 0, "--heads: " + std::to_string(c.num_attention_heads) +
                                                              " does not divide the hidden size " +
                                                              std::to_string(c.hidden_size));
  CREAM_CHECK(c.num_attention_heads % c.num_key_value_heads == 0,
              "--kv-heads: " + std::to_string(c.num_key_value_heads) + " does not divide the head count " +
                  std::to_string(c.num_attention_heads));
  if (f.hidden || f.heads) c.head_dim = c.hidden_size / c.num_attention_heads;
  c.validate("cream bench --preset " + f.preset);
  return c;
}

// The memory options against the dtype, clipping and accumulation they need (the
// rules train.memory_mode follows, named by flag).
void resolve_memory(const BenchFlags& f, bench::BenchSettings& s) {
  s.memory_mode = f.memory_mode.empty()
                      ? (s.dtype == config::Dtype::bf16 ? config::MemoryMode::bf16_sr : config::MemoryMode::fp32_masters)
                      : parse_enum<config::MemoryMode>(f.memory_mode, "--memory-mode");
  const std::string mode = config::to_string(s.memory_mode);
  CREAM_CHECK(s.dtype == config::Dtype::bf16 || s.memory_mode == config::MemoryMode::fp32_masters,
              "--memory-mode: " + mode + " keeps bf16 weights; with --dtype fp32 the only mode is fp32-masters");
  const bool lean = s.memory_mode == config::MemoryMode::bf16_sr || s.memory_mode == config::MemoryMode::bf16_rtn;
  CREAM_CHECK(lean || f.grad_accumulation.empty(),
              "--grad-accumulation: only applies with --memory-mode bf16-sr or bf16-rtn, not " + mode);
  if (lean)
    s.grad_accumulation = f.grad_accumulation.empty()
                              ? config::GradAccumulation::fp32
                              : parse_enum<config::GradAccumulation>(f.grad_accumulation, "--grad-accumulation");
  CREAM_CHECK(s.memory_mode != config::MemoryMode::step_in_backward || s.micro_batches == 1,
              "--micro-batches: step-in-backward cannot accumulate micro-batches (it updates each tensor as soon as "
              "its gradient is final); use 1, or another --memory-mode");
}

// The eval forward holds only the weights: the training-only flags would be ignored.
void refuse_training_flags(const BenchFlags& f) {
  for (const char* flag : {"--memory-mode", "--grad-accumulation", "--checkpointing", "--micro-batches"})
    CREAM_CHECK(!f.given(flag), std::string(flag) + ": does not apply with --eval-length (an eval forward keeps "
                                                    "only the weights and no gradients)");
}

bench::BenchSettings resolve(const BenchFlags& f) {
  CREAM_CHECK(f.seq >= 2, "--seq: must be >= 2, got " + std::to_string(f.seq));
  CREAM_CHECK(f.micro_batch >= 1, "--micro-batch: must be >= 1");
  CREAM_CHECK(f.micro_batches >= 1, "--micro-batches: must be >= 1");
  CREAM_CHECK(f.steps >= 1, "--steps: must be >= 1");
  CREAM_CHECK(f.warmup >= 0, "--warmup: must be >= 0");
  CREAM_CHECK(f.eval_length == 0 || f.eval_length >= 2, "--eval-length: must be >= 2 (or 0: time training)");
  CREAM_CHECK(f.peak_tflops >= 0, "--peak-tflops: must be > 0 (or 0: the device table)");
  bench::BenchSettings s;
  s.preset = f.preset;
  s.config = resolve_shape(f, s.custom_shape);
  s.seq = f.seq;
  s.micro_batch = f.micro_batch;
  s.micro_batches = f.micro_batches;
  s.steps = f.steps;
  s.warmup = f.warmup;
  s.dtype = parse_enum<config::Dtype>(f.dtype, "--dtype");
  s.eval_length = f.eval_length;
  if (s.eval_length > 0) refuse_training_flags(f);
  resolve_memory(f, s);
  s.checkpointing_stride = parse_checkpointing(f.checkpointing);
  s.peak_tflops = f.peak_tflops;
  s.seed = f.seed;
  s.device = parse_device(f.device, "--device");
  return s;
}

// A training bench that cannot fit is refused before it allocates anything (on the CPU
// the alternative is the kernel's OOM killer), by the same plan `cream train` checks.
void check_memory(const bench::BenchSettings& s) {
  train::MemorySettings m;
  m.dtype = s.dtype;
  m.mode = s.memory_mode;
  m.grad_accumulation = s.grad_accumulation.value_or(config::GradAccumulation::fp32);
  m.micro_batch = s.micro_batch;
  m.sequence_length = s.seq;
  m.accumulation = s.micro_batches;
  m.checkpointing = s.checkpointing_stride > 0;
  m.checkpointing_stride = std::max<int64_t>(s.checkpointing_stride, 1);
  m.cuda = s.device.is_cuda();
  const auto plan = train::plan_memory(s.config, m);
  const auto device = train::this_machine_device(s.device.is_cuda() ? config::Device::cuda : config::Device::cpu);
  if (train::plan_fits(plan, device)) return;
  const bool device_fits = plan.peak + device.reserve <= device.capacity;
  using train::format_gib;
  throw Error("bench: memory plan: " +
              (device_fits ? "host " + format_gib(plan.host) + " exceeds this machine's RAM " + format_gib(device.host_capacity)
                           : "peak " + format_gib(plan.peak) + " (at " + plan.peak_at + ") + reserve " +
                                 format_gib(device.reserve) + " exceeds " + device.name + "'s " + format_gib(device.capacity)) +
              "; try --checkpointing all, another --memory-mode, a shorter --seq or a smaller preset "
              "(--no-memory-check runs anyway)");
}

void run_bench(const BenchFlags& flags) {
  set_threads(flags.threads);
  const auto settings = resolve(flags);
  if (settings.eval_length == 0 && !flags.no_memory_check) check_memory(settings);
  train::configure_cuda_math(settings.device);
  const auto json = settings.eval_length > 0 ? bench::run_eval(settings) : bench::run_train(settings);
  std::cout << json.dump() << std::endl;
}

void setup_bench(CLI::App& root) {
  auto f = std::make_shared<BenchFlags>();
  auto* cmd = root.add_subcommand("bench", "Time training steps (or, with --eval-length, an eval forward) of a "
                                           "preset Llama with random weights; prints one JSON line");
  // A repeated flag takes its last value, so scripts can append overrides to defaults.
  cmd->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  cmd->add_option("--preset", f->preset, "Model shape: " + [] {
    std::string names;
    for (const auto& name : model::preset_names()) names += (names.empty() ? "" : ", ") + name;
    return names;
  }())->capture_default_str();
  cmd->add_option("--layers", f->layers, "Override the preset's decoder layers");
  cmd->add_option("--hidden", f->hidden, "Override the hidden size (head_dim = hidden / heads)");
  cmd->add_option("--heads", f->heads, "Override the attention heads (kv heads follow unless --kv-heads)");
  cmd->add_option("--kv-heads", f->kv_heads, "Override the key/value heads");
  cmd->add_option("--intermediate", f->intermediate, "Override the MLP size");
  cmd->add_option("--vocab", f->vocab, "Override the vocabulary size");
  cmd->add_option("--seq", f->seq, "Tokens per sequence of a training step")->capture_default_str();
  cmd->add_option("--micro-batch", f->micro_batch, "Sequences per forward pass")->capture_default_str();
  cmd->add_option("--micro-batches", f->micro_batches, "Forward passes accumulated per optimizer step")
      ->capture_default_str();
  cmd->add_option("--steps", f->steps, "Timed steps")->capture_default_str();
  cmd->add_option("--warmup", f->warmup, "Untimed steps first")->capture_default_str();
  cmd->add_option("--memory-mode", f->memory_mode,
                  "fp32-masters, bf16-sr, bf16-rtn, offload or step-in-backward (default: bf16-sr for bf16, "
                  "fp32-masters for fp32)");
  cmd->add_option("--grad-accumulation", f->grad_accumulation, "fp32 or bf16 (bf16-sr / bf16-rtn; default fp32)");
  cmd->add_option("--checkpointing", f->checkpointing, "Activation checkpointing: none, all or every:K")
      ->capture_default_str();
  cmd->add_option("--dtype", f->dtype, "Compute dtype: bf16 or fp32")->capture_default_str();
  cmd->add_option("--device", f->device, "auto, cpu, cuda (cuda:LOCAL_RANK) or cuda:N")->capture_default_str();
  cmd->add_option("--eval-length", f->eval_length, "Time an eval forward (no gradients) at this length instead");
  cmd->add_option("--peak-tflops", f->peak_tflops, "Peak TFLOP/s for MFU (default: from the GPU's name)");
  cmd->add_option("--threads", f->threads, "Intra-op threads (0: LibTorch default)")->capture_default_str();
  cmd->add_flag("--no-memory-check", f->no_memory_check,
                "Run even when the memory plan says the training step does not fit this machine");
  cmd->add_option("--seed", f->seed, "Seed of the weights and tokens")->capture_default_str();
  f->given = [cmd](const char* flag) { return cmd->count(flag) > 0; };
  cmd->callback([f] { run_bench(*f); });
}

const bool kRegistered = register_command("bench", 95, setup_bench);

}  // namespace
}  // namespace cream::cli
