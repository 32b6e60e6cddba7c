// The Trainer's setup from its config (src/train/trainer.cpp): thread count, tokenizer,
// loader / schedule / training-state options, and loading a model folder into the held
// dtype. Private to src/train.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include <torch/types.h>

#include "cream/config/experiment.h"
#include "cream/data/window_loader.h"
#include "cream/io/tokenizer.h"
#include "cream/model/config.h"
#include "cream/model/llama.h"
#include "cream/train/schedule.h"
#include "cream/train/training_state.h"

namespace cream::dist {
class ProcessGroup;
}

namespace cream::train::detail {

// model.threads, or every core when 0; LibTorch's intra-op pool is only resized on a change.
void set_thread_count(int64_t threads);

// The tokenizer the run copies into its checkpoints and checks the data against:
// model.tokenizer when given explicitly (must load), or the model folder's
// tokenizer.model (or tokenizer.json) when the folder has one.
std::unique_ptr<io::Tokenizer> open_tokenizer(const config::ExperimentConfig& config);

data::WindowLoaderOptions loader_options(const config::ExperimentConfig& config, int64_t target, int64_t min,
                                         uint64_t seed, bool shuffle);
ScheduleOptions schedule_options(const config::ExperimentConfig& config);
TrainingStateOptions training_state_options(const config::ExperimentConfig& config, dist::ProcessGroup* group);

// HF Trainer's rule: no weight decay on biases and normalisation weights.
bool decays(const std::string& name);

// "bfloat16" or "float32", as config.json's torch_dtype spells them.
const char* hf_dtype_name(torch::ScalarType type);

// Loads a model folder in the mode's held dtype and device, tensor by tensor (a bf16
// mode never holds a float32 copy); says so when the file's dtype differs.
model::LlamaForCausalLM load_held(const model::LlamaConfig& config, const std::filesystem::path& folder,
                                  const torch::TensorOptions& held, const char* what);

// %.6g, and "nan" for any NaN (its sign means nothing).
std::string format_number(double value);

}  // namespace cream::train::detail
