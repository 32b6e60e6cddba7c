#include "cream/train/rank_checkpoint.h"

#include <map>
#include <optional>
#include <regex>

#include "cream/train/run_folder.h"
#include "cream/train/trainer_state.h"
#include "cream/util/error.h"

namespace cream::train {

namespace fs = std::filesystem;

namespace {

fs::path staging_folder(const fs::path& output_dir, int rank) {
  return output_dir / (".staging-rank-" + std::to_string(rank));
}

// Runs `write` and returns "" or the error's text.
std::string attempt(const std::function<void()>& write) {
  try {
    write();
    return "";
  } catch (const std::exception& e) {
    return e.what();
  }
}

std::string join(const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& line : lines) text += (text.empty() ? "" : "; ") + line;
  return text;
}

}  // namespace

fs::path save_checkpoint_across_ranks(dist::ProcessGroup& group, const fs::path& output_dir, int64_t step,
                                      const RankFiles& files) {
  const int rank = group.rank();
  const auto staging = staging_folder(output_dir, rank);
  const std::string what = "checkpoint step " + std::to_string(step) + " not saved: ";
  std::string mine;
  if (rank != 0) {
    mine = attempt([&] {
      fs::remove_all(staging);
      fs::create_directories(staging);
      files.write_rank(staging);
    });
    const auto failures = group.gather_failures(mine);
    const auto outcome = group.broadcast_string("", 0);
    fs::remove_all(staging);
    if (!failures.empty()) throw Error(what + join(failures));
    CREAM_CHECK(outcome.rfind("ok:", 0) == 0, what + "rank 0: " + outcome);
    return outcome.substr(3);
  }
  bool gathered = false;
  fs::path saved;
  std::string outcome;
  try {
    saved = save_checkpoint_atomic(output_dir, step, [&](const fs::path& folder) {
      mine = attempt([&] {
        files.write_root(folder);
        files.write_rank(folder);
      });
      gathered = true;
      const auto failures = group.gather_failures(mine);
      CREAM_CHECK(failures.empty(), join(failures));
      for (int r = 1; r < group.world_size(); ++r)
        for (const auto& entry : fs::directory_iterator(staging_folder(output_dir, r)))
          fs::rename(entry.path(), folder / entry.path().filename());
      for (const auto& name : files.expected)
        CREAM_CHECK(fs::exists(folder / name), (folder / name).string() + " is missing");
    });
    outcome = "ok:" + saved.string();
  } catch (const std::exception& e) {
    if (!gathered) group.gather_failures(e.what());
    outcome = e.what();
  }
  group.broadcast_string(outcome, 0);
  CREAM_CHECK(outcome.rfind("ok:", 0) == 0, what + outcome);
  return saved;
}

NamedTensors read_optimizer_for_rank(const fs::path& folder, int rng_rank) {
  if (fs::exists(folder / kOptimizerStateFile)) return read_optimizer_tensors(folder);
  static const std::regex shard_name(R"(optimizer\.rank-(\d+)-of-(\d+)\.safetensors)");
  std::map<int, fs::path> shards;
  int world = 0;
  for (const auto& entry : fs::directory_iterator(folder)) {
    std::smatch match;
    const auto name = entry.path().filename().string();
    if (!std::regex_match(name, match, shard_name)) continue;
    shards[std::stoi(match[1])] = entry.path();
    world = std::stoi(match[2]);
  }
  CREAM_CHECK(!shards.empty(), (folder / kOptimizerStateFile).string() + ": no optimizer state (nor shards of one)");
  for (int r = 0; r < world; ++r)
    CREAM_CHECK(shards.count(r), (folder / optimizer_shard_file(r, world)).string() + ": missing optimizer shard");
  NamedTensors merged;
  std::optional<int64_t> step;
  for (const auto& [r, path] : shards) {
    for (auto& [name, tensor] : read_optimizer_file(path)) {
      if (name == "step") {
        const auto value = tensor.item<int64_t>();
        CREAM_CHECK(!step || *step == value, path.string() + ": step " + std::to_string(value) +
                                                 " differs from the other shards' " + std::to_string(*step));
        if (!step) merged.emplace_back(name, tensor);
        step = value;
      } else if (name == "rounding_rng") {
        if (r == std::min(rng_rank, world - 1)) merged.emplace_back(name, tensor);
      } else {
        merged.emplace_back(name, tensor);
      }
    }
  }
  return merged;
}

}  // namespace cream::train
