// Typed sections of an experiment config (configs/README.md documents every key).
//
// Each section is a plain struct with defaults for its optional keys, a
// `validate()` for the checks that need only the section itself, and a
// `fields()` list that names every key once: the YAML reader, the resolved
// config writer, the resume diff and the unknown-key suggestions all walk that
// list, so a key cannot be parsed but forgotten in the resolved config.
//
// Keys that only apply to one method or RoPE type are std::optional: absent in
// the file means "use the default", and after ExperimentConfig::resolve() they
// hold a value exactly when they apply (e.g. positions.sigma for method cream).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cream/positions/options.h"
#include "cream/util/error.h"

namespace cream::config {

// A config problem tied to one key path ("train.micro_batch"). The loader adds
// the file name in front, so the final message is one line:
// "config.yaml: train.micro_batch: global_batch 32 is not divisible by ...".
class KeyError : public cream::Error {
 public:
  KeyError(std::string key_path, std::string detail)
      : cream::Error(key_path + ": " + detail), key_path_(std::move(key_path)), detail_(std::move(detail)) {}
  const std::string& key_path() const { return key_path_; }
  const std::string& detail() const { return detail_; }

 private:
  std::string key_path_;
  std::string detail_;
};

enum class Dtype { bf16, fp32 };
enum class Device { auto_select, cpu, cuda };
enum class ShortDocs { pack, skip };
enum class PositionMethod { cream, pose, randpos, full, standard };
enum class BranchPer { sequence, batch };
enum class RopeType { none, linear, ntk, dynamic, yarn, yarn_cream, llama3 };
enum class OptimizerName { adamw };
enum class ScheduleName { constant, warmup_decay, cosine };
enum class WarmupType { linear, log };
// Where weights, gradients and AdamW state live and in which precision
// (configs/README.md "Memory modes" gives the bytes per parameter of each).
enum class MemoryMode { fp32_masters, bf16_sr, bf16_rtn, offload, step_in_backward };
// The precision gradients accumulate in across micro-batches (bf16-sr / bf16-rtn).
enum class GradAccumulation { fp32, bf16 };

// The YAML spelling of each enum value ("auto", "yarn-cream", "warmup_decay"...).
const char* to_string(Dtype value);
const char* to_string(Device value);
const char* to_string(ShortDocs value);
const char* to_string(PositionMethod value);
const char* to_string(BranchPer value);
const char* to_string(RopeType value);
const char* to_string(OptimizerName value);
const char* to_string(ScheduleName value);
const char* to_string(WarmupType value);
const char* to_string(MemoryMode value);
const char* to_string(GradAccumulation value);

// Every spelling of an enum, in declaration order (for parsing and suggestions).
template <typename Enum>
std::vector<Enum> all_values();

// Other accepted spellings of an enum's values, as the command-line flags accept them
// (--dtype bfloat16 and model.dtype: bfloat16 mean the same).
template <typename Enum>
std::vector<std::pair<std::string, Enum>> aliases() {
  return {};
}
template <>
inline std::vector<std::pair<std::string, Dtype>> aliases() {
  return {{"bfloat16", Dtype::bf16}, {"float32", Dtype::fp32}, {"f32", Dtype::fp32}};
}

struct ModelSection {
  std::string path;       // HF folder to start from (exactly one of path / init)
  std::string init;       // preset name or model config file, for training from scratch
  std::string arch;       // architecture preset used by --dry-run when the folder is absent
  Dtype dtype = Dtype::bf16;
  Device device = Device::auto_select;
  std::string tokenizer;  // resolved to <path>/tokenizer.model when path is set
  int64_t threads = 0;    // intra-op threads; 0 = one per core

  void validate() const;
  template <typename Self, typename Visitor>
  static void fields(Self& s, Visitor&& v) {
    v("path", s.path);
    v("init", s.init);
    v("arch", s.arch);
    v("dtype", s.dtype);
    v("device", s.device);
    v("tokenizer", s.tokenizer);
    v("threads", s.threads);
  }
};

struct DataSection {
  std::string train;  // prepared data folder (required to train, not for --dry-run)
  std::string valid;  // prepared data folder for evaluation during training
  ShortDocs short_docs = ShortDocs::pack;

  void validate() const {}
  template <typename Self, typename Visitor>
  static void fields(Self& s, Visitor&& v) {
    v("train", s.train);
    v("valid", s.valid);
    v("short_docs", s.short_docs);
  }
};

struct PositionsSection {
  PositionMethod method = PositionMethod::cream;  // required in the file
  int64_t train_length = 0;                       // N, required
  int64_t target_length = 0;                      // L, required
  // cream only (docs/method.md "CREAM sampler"); resolved when method is cream.
  std::optional<double> sigma;                    // default 3.0
  std::optional<int64_t> continuity_length;       // default (and 0 =) 4 * L / N
  std::optional<double> relativity_share;         // default 0.5
  std::optional<bool> exact_truncnorm;            // default false
  std::optional<BranchPer> branch_per;            // default sequence
  std::optional<int64_t> branch_batch_size;       // default 3000, only with branch_per batch

  // L / N (0 when train_length is 0).
  double extension_factor() const {
    return train_length > 0 ? static_cast<double>(target_length) / static_cast<double>(train_length) : 0.0;
  }
  void validate() const;
  // 4 x L/N, the default continuity_length (saturated instead of overflowing).
  int64_t default_continuity_length() const;
  // The sampler's own options (cream::positions), with the defaults resolved.
  positions::Options sampler_options() const;
  template <typename Self, typename Visitor>
  static void fields(Self& s, Visitor&& v) {
    v("method", s.method);
    v("train_length", s.train_length);
    v("target_length", s.target_length);
    v("sigma", s.sigma);
    v("continuity_length", s.continuity_length);
    v("relativity_share", s.relativity_share);
    v("exact_truncnorm", s.exact_truncnorm);
    v("branch_per", s.branch_per);
    v("branch_batch_size", s.branch_batch_size);
  }
};

struct RopeSection {
  RopeType type = RopeType::linear;
  std::optional<double> factor;            // resolved: L / N (1 for type none)
  std::optional<double> beta_fast;         // yarn, yarn-cream: default 32
  std::optional<double> beta_slow;         // yarn, yarn-cream: default 1
  std::optional<double> attention_factor;  // yarn, yarn-cream: default 0.1 ln(factor) + 1
  std::optional<double> low_freq_factor;   // llama3: default 1
  std::optional<double> high_freq_factor;  // llama3: default 4

  void validate() const;
  template <typename Self, typename Visitor>
  static void fields(Self& s, Visitor&& v) {
    v("type", s.type);
    v("factor", s.factor);
    v("beta_fast", s.beta_fast);
    v("beta_slow", s.beta_slow);
    v("attention_factor", s.attention_factor);
    v("low_freq_factor", s.low_freq_factor);
    v("high_freq_factor", s.high_freq_factor);
  }
};

struct TrainSection {
  int64_t steps = 0;  // optimizer steps, required
  int64_t global_batch = 1;
  int64_t micro_batch = 1;  // sequences per forward pass on one process
  int64_t seed = 0;
  bool activation_checkpointing = false;
  // With activation_checkpointing: recompute layers 0, k, 2k, ... (1 = every layer).
  int64_t activation_checkpointing_stride = 1;
  double grad_clip = 1.0;  // max global gradient norm; 0 = no clipping
  // Resolved: bf16-sr for model.dtype bf16, fp32-masters for fp32.
  std::optional<MemoryMode> memory_mode;
  // bf16-sr / bf16-rtn only; resolved: fp32.
  std::optional<GradAccumulation> grad_accumulation;

  void validate() const;
  template <typename Self, typename Visitor>
  static void fields(Self& s, Visitor&& v) {
    v("steps", s.steps);
    v("global_batch", s.global_batch);
    v("micro_batch", s.micro_batch);
    v("seed", s.seed);
    v("activation_checkpointing", s.activation_checkpointing);
    v("activation_checkpointing_stride", s.activation_checkpointing_stride);
    v("grad_clip", s.grad_clip);
    v("memory_mode", s.memory_mode);
    v("grad_accumulation", s.grad_accumulation);
  }
};

struct OptimSection {
  OptimizerName name = OptimizerName::adamw;
  double lr = 0.0;  // required, > 0
  std::array<double, 2> betas{0.9, 0.999};
  double eps = 1e-8;
  double weight_decay = 0.0;

  void validate() const;
  template <typename Self, typename Visitor>
  static void fields(Self& s, Visitor&& v) {
    v("name", s.name);
    v("lr", s.lr);
    v("betas", s.betas);
    v("eps", s.eps);
    v("weight_decay", s.weight_decay);
  }
};

struct ScheduleSection {
  ScheduleName name = ScheduleName::constant;
  int64_t warmup_steps = 0;
  WarmupType warmup_type = WarmupType::linear;
  double min_lr = 0.0;  // where warmup_decay / cosine end

  void validate() const;
  template <typename Self, typename Visitor>
  static void fields(Self& s, Visitor&& v) {
    v("name", s.name);
    v("warmup_steps", s.warmup_steps);
    v("warmup_type", s.warmup_type);
    v("min_lr", s.min_lr);
  }
};

struct EvalSection {
  int64_t every = 0;             // steps between evaluations; 0 = none during training
  std::vector<int64_t> lengths;  // context lengths to evaluate; resolved default [L]
  int64_t batches = 8;           // batches per length

  void validate() const;
  template <typename Self, typename Visitor>
  static void fields(Self& s, Visitor&& v) {
    v("every", s.every);
    v("lengths", s.lengths);
    v("batches", s.batches);
  }
};

struct CheckpointSection {
  std::string output_dir;  // run folder, required
  int64_t every = 0;       // steps between checkpoints; 0 = only the final one
  int64_t keep = 0;        // newest checkpoints kept; 0 = all

  void validate() const;
  template <typename Self, typename Visitor>
  static void fields(Self& s, Visitor&& v) {
    v("output_dir", s.output_dir);
    v("every", s.every);
    v("keep", s.keep);
  }
};

// Several processes (torchrun, srun): what they share and how long they wait for each
// other. A single process ignores this section.
struct DistSection {
  // 0: plain data parallel (every rank holds the whole AdamW state); 1: ZeRO-1, each
  // rank holds the AdamW moments of its share of the tensors and broadcasts their
  // updated weights.
  int64_t zero = 0;
  int64_t timeout_s = 600;  // rendezvous and every collective: a rank this late is named and the run fails
  int64_t bucket_mb = 25;   // gradient all-reduce buckets

  void validate() const;
  template <typename Self, typename Visitor>
  static void fields(Self& s, Visitor&& v) {
    v("zero", s.zero);
    v("timeout_s", s.timeout_s);
    v("bucket_mb", s.bucket_mb);
  }
};

struct LogSection {
  int64_t every = 1;         // steps between metrics.jsonl lines
  bool tensorboard = false;  // also write each line as TensorBoard scalars (<output_dir>/tensorboard/)

  void validate() const;
  template <typename Self, typename Visitor>
  static void fields(Self& s, Visitor&& v) {
    v("every", s.every);
    v("tensorboard", s.tensorboard);
  }
};

}  // namespace cream::config
