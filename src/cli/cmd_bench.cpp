// `cream bench`: micro-benchmarks printed as one JSON object. One sub-subcommand per
// thing measured (`cream bench train` today), so later benchmarks slot in beside it.
//
// `bench train` times full training steps of a random in-memory Llama exactly as
// Trainer::train() runs them (src/train/trainer.cpp): loss_sum on one micro-batch, backward
// of sum / labels, loss.item(), bf16 gradients cast onto the float32 masters, global-norm
// clipping at 1.0, the finiteness check, cream's AdamW on the float32 masters, zero_grad,
// and in bf16 the masters copied back into the bf16 compute model. Only data loading is
// left out (tokens are random, positions 0..T-1), so the figure is the model and optimizer.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <iostream>
#include <memory>

#include <ATen/Parallel.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <torch/torch.h>
#include <torch/version.h>

#include "cli_common.h"
#include "command_registry.h"
#include "cream/model/llama.h"
#include "cream/train/adamw.h"
#include "cream/train/grad.h"
#include "cream/util/error.h"

namespace cream::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct BenchTrainOptions {
  int64_t layers = 4;
  int64_t hidden = 256;
  int64_t heads = 4;
  int64_t kv_heads = 0;  // 0: = heads
  int64_t intermediate = 688;
  int64_t vocab = 4096;
  int64_t batch = 16;
  int64_t seq = 256;
  std::string dtype = "fp32";
  int threads = 0;
  int64_t warmup = 2;
  int64_t steps = 10;
  uint64_t seed = 0;
};

// The trainer's fixed recipe for the benched step (its config defaults, plus decay on).
constexpr double kLearningRate = 1e-4;
constexpr double kWeightDecay = 0.1;
constexpr double kGradClip = 1.0;

double rounded(double value, double scale) { return std::round(value * scale) / scale; }

model::LlamaConfig bench_config(const BenchTrainOptions& o) {
  CREAM_CHECK(o.heads > 0 && o.hidden % o.heads == 0,
              "--heads: " + std::to_string(o.heads) + " does not divide --hidden " + std::to_string(o.hidden));
  model::LlamaConfig c;
  c.hidden_size = o.hidden;
  c.intermediate_size = o.intermediate;
  c.num_attention_heads = o.heads;
  c.num_key_value_heads = o.kv_heads > 0 ? o.kv_heads : o.heads;
  c.head_dim = o.hidden / o.heads;
  c.num_hidden_layers = o.layers;
  c.vocab_size = o.vocab;
  c.max_position_embeddings = std::max<int64_t>(o.seq, 2048);
  c.rms_norm_eps = 1e-5;
  c.validate("bench train");
  return c;
}

// The trainer's float32 masters, bf16 compute copy and optimizer, built in memory.
struct BenchModel {
  model::LlamaForCausalLM master{nullptr};
  model::LlamaForCausalLM compute{nullptr};  // == master in fp32
  std::unique_ptr<train::AdamW> optimizer;
  std::vector<torch::Tensor> master_params, compute_params;
  bool mixed = false;
};

// Same rule as the trainer (HF Trainer's): no decay on biases and norm weights.
bool decays(const std::string& name) {
  const bool bias = name.size() >= 5 && name.compare(name.size() - 5, 5, ".bias") == 0;
  return !bias && name.find("norm") == std::string::npos;
}

BenchModel build_model(const model::LlamaConfig& config, bool mixed, uint64_t seed) {
  BenchModel m;
  m.mixed = mixed;
  m.master = model::LlamaForCausalLM(config, torch::TensorOptions().dtype(torch::kFloat));
  model::initialize_weights(*m.master, seed);
  m.compute = mixed ? model::LlamaForCausalLM(config, torch::TensorOptions().dtype(torch::kBFloat16)) : m.master;
  m.master_params = m.master->parameters();
  m.compute_params = m.compute->parameters();
  std::vector<train::NamedParameter> params;
  for (const auto& item : m.master->named_parameters()) params.push_back({item.key(), item.value(), decays(item.key())});
  train::AdamWOptions adamw;
  adamw.weight_decay = kWeightDecay;
  m.optimizer = std::make_unique<train::AdamW>(std::move(params), adamw);
  return m;
}

void copy_masters_to_compute(BenchModel& m) {
  if (!m.mixed) return;
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < m.master_params.size(); ++i) m.compute_params[i].copy_(m.master_params[i]);
}

void copy_grads_to_masters(BenchModel& m) {
  if (!m.mixed) return;
  for (size_t i = 0; i < m.master_params.size(); ++i) {
    auto& source = m.compute_params[i];
    if (source.grad().defined()) m.master_params[i].mutable_grad() = source.grad().to(torch::kFloat);
    source.mutable_grad() = torch::Tensor();
  }
}

// Seconds spent in each part of the step, summed over the timed steps.
struct Phases {
  double forward = 0, backward = 0, clip = 0, optimizer = 0;
};

double seconds_since(Clock::time_point& mark) {
  const auto now = Clock::now();
  const double seconds = std::chrono::duration<double>(now - mark).count();
  mark = now;
  return seconds;
}

// One optimizer step as Trainer::train() takes it (one micro-batch); returns the loss.
double train_step(BenchModel& m, const torch::Tensor& tokens, const torch::Tensor& positions, Phases& phases) {
  auto mark = Clock::now();
  const auto labels = static_cast<double>(tokens.size(0) * (tokens.size(1) - 1));
  const auto loss = m.compute->loss_sum(tokens, positions, tokens);
  phases.forward += seconds_since(mark);
  (loss.sum / labels).backward();
  const double value = loss.sum.item<double>() / labels;
  phases.backward += seconds_since(mark);
  copy_grads_to_masters(m);
  const double norm = train::clip_grad_norm(m.master_params, kGradClip);
  CREAM_CHECK(std::isfinite(value) && std::isfinite(norm), "bench train: non-finite loss or gradient norm");
  phases.clip += seconds_since(mark);
  m.optimizer->step(kLearningRate);
  m.optimizer->zero_grad();
  copy_masters_to_compute(m);
  phases.optimizer += seconds_since(mark);
  return value;
}

nlohmann::json shape_json(const BenchTrainOptions& o, const model::LlamaConfig& c) {
  return {{"layers", c.num_hidden_layers},  {"hidden", c.hidden_size},       {"heads", c.num_attention_heads},
          {"kv_heads", c.num_key_value_heads}, {"intermediate", c.intermediate_size}, {"vocab", c.vocab_size},
          {"batch", o.batch},                {"seq", o.seq},                  {"parameters", c.num_parameters()}};
}

// Mean milliseconds per step of each phase ("clip" includes bf16's gradient cast,
// "optimizer" AdamW, zero_grad and bf16's copy back into the compute model).
nlohmann::json phase_json(const Phases& p, int64_t steps) {
  auto ms = [&](double seconds) { return rounded(1000 * seconds / static_cast<double>(steps), 100); };
  return {{"forward", ms(p.forward)}, {"backward", ms(p.backward)}, {"clip", ms(p.clip)}, {"optimizer", ms(p.optimizer)}};
}

struct Timing {
  std::vector<double> seconds;  // wall clock of each timed step
  double cpu_seconds = 0;       // process CPU time (all threads) of the timed steps
  Phases phases;
  double last_loss = 0;
};

Timing time_steps(BenchModel& m, const torch::Tensor& tokens, const torch::Tensor& positions, int64_t warmup,
                  int64_t steps) {
  Timing timing;
  Phases untimed;
  for (int64_t i = 0; i < warmup; ++i) train_step(m, tokens, positions, untimed);
  const std::clock_t cpu_started = std::clock();
  for (int64_t i = 0; i < steps; ++i) {
    const auto started = Clock::now();
    timing.last_loss = train_step(m, tokens, positions, timing.phases);
    timing.seconds.push_back(std::chrono::duration<double>(Clock::now() - started).count());
  }
  timing.cpu_seconds = static_cast<double>(std::clock() - cpu_started) / CLOCKS_PER_SEC;
  return timing;
}

nlohmann::json result_json(const BenchTrainOptions& o, const model::LlamaConfig& config, bool mixed,
                           const Timing& t) {
  double total = 0.0;
  for (double s : t.seconds) total += s;
  const auto steps = static_cast<double>(o.steps);
  return {
      {"impl", "cream"},
      {"libtorch", TORCH_VERSION},
      {"dtype", o.dtype},
      {"scheme", mixed ? "bf16 compute copy, float32 master weights, gradients and AdamW" : "float32"},
      {"threads", at::get_num_threads()},
      {"shape", shape_json(o, config)},
      {"warmup", o.warmup},
      {"steps", o.steps},
      {"tokens_per_s", rounded(static_cast<double>(o.batch * o.seq) * steps / total, 10)},
      {"ms_per_step", rounded(1000 * total / steps, 100)},
      {"ms_per_step_min", rounded(1000 * *std::min_element(t.seconds.begin(), t.seconds.end()), 100)},
      // Less sensitive than wall time to other load on a shared machine.
      {"cpu_ms_per_step", rounded(1000 * t.cpu_seconds / steps, 100)},
      {"final_loss", rounded(t.last_loss, 1e4)},
      {"phase_ms", phase_json(t.phases, o.steps)},
  };
}

void run_bench_train(const BenchTrainOptions& o) {
  CREAM_CHECK(o.batch > 0 && o.seq >= 2, "bench train: --batch must be > 0 and --seq >= 2");
  CREAM_CHECK(o.steps > 0 && o.warmup >= 0, "bench train: --steps must be > 0 and --warmup >= 0");
  const auto dtype = parse_float_dtype(o.dtype, "--dtype");
  CREAM_CHECK(dtype == io::DType::F32 || dtype == io::DType::BF16, "--dtype: fp32 or bf16 (the trainer's dtypes)");
  set_threads(o.threads);
  const auto config = bench_config(o);
  auto m = build_model(config, dtype == io::DType::BF16, o.seed);
  copy_masters_to_compute(m);
  auto generator = at::detail::createCPUGenerator(o.seed);
  const auto tokens = at::randint(o.vocab, {o.batch, o.seq}, generator, torch::TensorOptions().dtype(torch::kLong));
  const auto positions = torch::arange(o.seq, torch::kLong).unsqueeze(0).expand({o.batch, o.seq}).contiguous();
  const auto timing = time_steps(m, tokens, positions, o.warmup, o.steps);
  std::cout << result_json(o, config, m.mixed, timing).dump() << "\n";
}

void setup_bench_train(CLI::App& bench) {
  auto o = std::make_shared<BenchTrainOptions>();
  auto* cmd = bench.add_subcommand("train", "Time training steps (forward, loss, backward, clipping, AdamW) "
                                            "of a random Llama held in memory; prints one JSON object");
  // A repeated flag takes its last value, so scripts can append overrides to defaults.
  cmd->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  cmd->add_option("--layers", o->layers, "Decoder layers")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--hidden", o->hidden, "Hidden size")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--heads", o->heads, "Attention heads")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--kv-heads", o->kv_heads, "Key/value heads (0: = --heads)")->capture_default_str();
  cmd->add_option("--intermediate", o->intermediate, "MLP size")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--vocab", o->vocab, "Vocabulary size")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--batch", o->batch, "Sequences per step")->capture_default_str();
  cmd->add_option("--seq", o->seq, "Tokens per sequence")->capture_default_str();
  cmd->add_option("--dtype", o->dtype, "fp32, or bf16 (bf16 compute, float32 masters)")->capture_default_str();
  cmd->add_option("--threads", o->threads, "Intra-op threads (0: LibTorch default)")->capture_default_str();
  cmd->add_option("--warmup", o->warmup, "Untimed steps first")->capture_default_str();
  cmd->add_option("--steps", o->steps, "Timed steps")->capture_default_str();
  cmd->add_option("--seed", o->seed, "Seed of the weights and tokens")->capture_default_str();
  cmd->callback([o] { run_bench_train(*o); });
}

void setup_bench(CLI::App& root) {
  auto* bench = root.add_subcommand("bench", "Micro-benchmarks that print JSON (train: one training step)");
  bench->require_subcommand(1);
  setup_bench_train(*bench);
}

const bool kRegistered = register_command("bench", 95, setup_bench);

}  // namespace
}  // namespace cream::cli
