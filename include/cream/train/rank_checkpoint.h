// Checkpoints of a run of several processes (see trainer_state.h for the files).
//
// Every rank writes its own files (its trainer_state.rank-R.json, its optimizer shard)
// into output_dir/.staging-rank-R/; rank 0 builds the checkpoint in the usual
// temporary folder, collects every rank's status in one collective, moves the staged
// files in, checks that each expected file is there, and only then writes COMPLETE and
// renames (run_folder.h). Any rank's failure means no checkpoint: every rank throws
// the same one-line error naming the rank. output_dir must be one folder that every
// node sees (a shared filesystem).
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "cream/dist/process_group.h"
#include "cream/train/adamw.h"

namespace cream::train {

struct RankFiles {
  // Writes rank 0's files into the checkpoint folder (rank 0 only).
  std::function<void(const std::filesystem::path&)> write_root;
  // Writes this rank's own files into a folder (rank >= 1: its staging folder).
  std::function<void(const std::filesystem::path&)> write_rank;
  // Names every rank's files must have in the finished checkpoint.
  std::vector<std::string> expected;
};

std::filesystem::path save_checkpoint_across_ranks(dist::ProcessGroup& group, const std::filesystem::path& output_dir,
                                                   int64_t step, const RankFiles& files);

// The optimizer state rank `rank` resumes from: optimizer.safetensors when the
// checkpoint has one, else the union of its shards' moments (any world size's), with
// the rounding generator of shard `rng_rank` (0 for plain data parallel, whose ranks
// must round alike) and one shared step count. Errors name the file.
NamedTensors read_optimizer_for_rank(const std::filesystem::path& folder, int rng_rank);

}  // namespace cream::train
