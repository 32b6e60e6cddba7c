// The run folder's checkpoint layout: output_dir/step-NNNNNN/, written atomically.
//
// A checkpoint is built in a temporary folder `output_dir/.tmp-...`, completed by a
// marker file `COMPLETE` (JSON: step and UTC time) written last, fsynced, and only
// then renamed to `step-NNNNNN` (6 digits, more when the step needs them). Readers
// trust a step folder only when its marker is present and names the same step, so a
// save killed at any point is never resumed from. Leftover `.tmp-*` entries (a
// killed save or prune) are removed by the next save.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace cream::train {

namespace fs = std::filesystem;

inline constexpr const char* kCompleteMarker = "COMPLETE";

struct CheckpointRef {
  int64_t step = 0;
  fs::path path;
};

// "step-000012" for 12 (at least 6 digits).
std::string checkpoint_folder_name(int64_t step);

// The step of a folder name "step-<digits>" (at least 6 digits), or nullopt when
// the name is anything else (temporaries, typos, "step-12", "step-000012.bak").
std::optional<int64_t> parse_checkpoint_folder_name(const std::string& name);

// Writes the checkpoint for `step`: `fill(folder)` writes the files into a fresh
// temporary folder; then every file is fsynced, the marker written, and the folder
// renamed to output_dir/step-NNNNNN (replacing an existing folder of that name).
// If `fill` throws, nothing is left behind and the exception propagates.
// Returns the final path.
fs::path save_checkpoint_atomic(const fs::path& output_dir, int64_t step,
                                const std::function<void(const fs::path&)>& fill);

// All complete checkpoints (valid name + marker naming the same step), oldest first.
std::vector<CheckpointRef> complete_checkpoints(const fs::path& output_dir);

// The newest complete checkpoint, or nullopt (also when output_dir is missing).
std::optional<CheckpointRef> latest_complete_checkpoint(const fs::path& output_dir);

// A model or checkpoint folder as the user named it: a run folder (no config.json, complete
// checkpoints inside) stands for its newest complete checkpoint, and an info line naming
// `name` (the flag or key) says which; any other path comes back as it is.
std::string resolve_run_folder(const std::string& path, const std::string& name);

// Deletes all but the newest `keep` complete checkpoints (keep <= 0: keeps all),
// oldest first; each is first renamed to a temporary name so that a kill midway
// never leaves a marked but partial folder. Folders it does not recognise as
// complete checkpoints are left alone. Returns the steps it deleted.
std::vector<int64_t> prune_checkpoints(const fs::path& output_dir, int keep);

// Removes leftover temporaries (`.tmp-*`) of killed saves and prunes.
void remove_stale_temporaries(const fs::path& output_dir);

}  // namespace cream::train
