// The Trainer's setup helpers (declared, with what each is for, in trainer_setup.h).
#include "train/trainer_setup.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <thread>

#include <ATen/Parallel.h>

#include "cream/dist/process_group.h"
#include "cream/io/checkpoint_folder.h"
#include "cream/model/weights.h"
#include "cream/util/log.h"

namespace cream::train::detail {

namespace fs = std::filesystem;

void set_thread_count(int64_t threads) {
  const auto cores = static_cast<int64_t>(std::thread::hardware_concurrency());
  const int64_t count = threads > 0 ? threads : std::max<int64_t>(1, cores);
  if (at::get_num_threads() != count) at::set_num_threads(static_cast<int>(count));
}

std::unique_ptr<io::Tokenizer> open_tokenizer(const config::ExperimentConfig& config) {
  const auto& path = config.model.tokenizer;
  if (path.empty()) return nullptr;
  const bool folder_default = !config.model.path.empty() && fs::path(path) == fs::path(config.model.path) / "tokenizer.model";
  if (folder_default && !fs::exists(path)) {
    log::warn("no tokenizer.model or tokenizer.json in {}: checkpoints will not carry one, data checked by vocab size only",
              config.model.path);
    return nullptr;
  }
  return std::make_unique<io::Tokenizer>(path);
}

data::WindowLoaderOptions loader_options(const config::ExperimentConfig& config, int64_t target, int64_t min,
                                         uint64_t seed, bool shuffle) {
  data::WindowLoaderOptions options;
  options.target_length = static_cast<uint64_t>(target);
  options.min_length = static_cast<uint64_t>(min);
  options.seed = seed;
  options.shuffle = shuffle;
  options.short_docs = config.data.short_docs == config::ShortDocs::pack ? data::ShortDocs::kPack : data::ShortDocs::kSkip;
  return options;
}

ScheduleOptions schedule_options(const config::ExperimentConfig& config) {
  ScheduleOptions options;
  options.kind = parse_schedule_kind(config::to_string(config.schedule.name));
  options.warmup = parse_warmup_kind(config::to_string(config.schedule.warmup_type));
  options.lr = config.optim.lr;
  options.min_lr = config.schedule.min_lr;
  options.warmup_steps = config.schedule.warmup_steps;
  options.total_steps = config.train.steps;
  return options;
}

bool decays(const std::string& name) {
  const bool bias = name.size() >= 5 && name.compare(name.size() - 5, 5, ".bias") == 0;
  return !bias && name.find("norm") == std::string::npos;
}

TrainingStateOptions training_state_options(const config::ExperimentConfig& config, dist::ProcessGroup* group) {
  TrainingStateOptions options;
  options.group = group;
  options.shard_optimizer = group && config.dist.zero == 1;
  options.mode = *config.train.memory_mode;
  options.accumulation = config.train.grad_accumulation.value_or(config::GradAccumulation::fp32);
  options.adamw.beta1 = config.optim.betas[0];
  options.adamw.beta2 = config.optim.betas[1];
  options.adamw.eps = config.optim.eps;
  options.adamw.weight_decay = config.optim.weight_decay;
  options.seed = static_cast<uint64_t>(config.train.seed);
  return options;
}

const char* hf_dtype_name(torch::ScalarType type) { return type == torch::kBFloat16 ? "bfloat16" : "float32"; }

model::LlamaForCausalLM load_held(const model::LlamaConfig& config, const fs::path& folder,
                                  const torch::TensorOptions& held, const char* what) {
  const io::CheckpointFolder weights(folder);
  const auto stored = model::torch_dtype(weights.info(weights.names().front()).dtype);
  if (stored != held.dtype().toScalarType())
    log::info("{}: {} holds {} weights, loaded as {}{}", what, folder.string(), hf_dtype_name(stored),
              hf_dtype_name(held.dtype().toScalarType()),
              held.dtype().toScalarType() == torch::kBFloat16 ? " (rounded to nearest)" : "");
  return model::load_model(config, weights, held.device(), held.dtype().toScalarType());
}

std::string format_number(double value) {
  if (std::isnan(value)) return "nan";
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.6g", value);
  return buffer;
}

}  // namespace cream::train::detail
