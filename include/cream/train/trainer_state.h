// The part of a checkpoint that is not the model: everything a resumed run needs to
// continue bit for bit (step, random streams, sampler and loader cursors, optimizer).
//
// Files inside output_dir/step-NNNNNN/ next to the HF model folder:
//   trainer_state.json     step, sampler RNG state, sampler per-batch state,
//                          WindowLoader cursor, config fingerprint
//   optimizer.safetensors  TrainingState::optimizer_state() ("step", "exp_avg.<name>", ...,
//                          "rounding_rng"): int64, float32 or bfloat16 moments, uint8
//   config.yaml            the resolved experiment config of the run
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "cream/io/safetensors.h"
#include "cream/positions/sampler.h"
#include "cream/train/adamw.h"

namespace cream::train {

inline constexpr const char* kTrainerStateFile = "trainer_state.json";
inline constexpr const char* kOptimizerStateFile = "optimizer.safetensors";
inline constexpr int kTrainerStateVersion = 1;

struct TrainerState {
  int64_t step = 0;                  // optimizer steps completed
  int world_size = 1;                // processes of the run that wrote it (absent: 1)
  std::string sampler_rng;           // util::Rng::state_string() of the position sampler's stream
  int64_t sampler_draws = 0;         // Sampler::draws()
  positions::Branch sampler_batch_branch = positions::Branch::none;  // Sampler::batch_branch()
  nlohmann::json loader;             // data::WindowLoader::state()
  std::string config_fingerprint;    // config::fingerprint() of the run

  nlohmann::json to_json() const;
  // Throws cream::Error naming `source` and the field when something is missing or wrong.
  static TrainerState from_json(const nlohmann::json& json, const std::string& source);
};

// Several processes: rank 0's state is trainer_state.json, rank R's (its own sampler
// stream and loader cursor) trainer_state.rank-R.json. With dist.zero 1 every rank
// writes its optimizer shard, optimizer.rank-R-of-W.safetensors, instead of one
// optimizer.safetensors; a checkpoint is complete only with all of them.
std::string trainer_state_file(int rank);
std::string optimizer_shard_file(int rank, int world_size);

// trainer_state.json (written atomically) and its reader; `rank` picks the file.
void write_trainer_state(const std::filesystem::path& folder, const TrainerState& state, int rank = 0);
TrainerState read_trainer_state(const std::filesystem::path& folder, int rank = 0);

// optimizer.safetensors: named F32 / BF16 / I64 / U8 tensors, and back (on the CPU; another
// dtype in the file is refused by name).
void write_optimizer_tensors(const std::filesystem::path& folder, const NamedTensors& state);
NamedTensors read_optimizer_tensors(const std::filesystem::path& folder);
// Any optimizer state file (a shard), by path.
NamedTensors read_optimizer_file(const std::filesystem::path& path);
void write_optimizer_file(const std::filesystem::path& path, const NamedTensors& state);

// The same for an AdamW directly: its state_tensors(), and back into `optimizer` (which
// checks every name, shape and dtype; errors name the file).
void write_optimizer_state(const std::filesystem::path& folder, const AdamW& optimizer);
void read_optimizer_state(const std::filesystem::path& folder, AdamW& optimizer);

// Named float32 / bfloat16 / int64 / uint8 tensors as safetensors sources, each copied to
// the CPU only when written.
std::vector<io::TensorSource> named_tensor_sources(const NamedTensors& tensors);

}  // namespace cream::train
