#include "cream/train/run_folder.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <random>

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "cream/util/error.h"
#include "cream/util/fs.h"
#include "cream/util/log.h"

namespace cream::train {
namespace {

constexpr const char* kTemporaryPrefix = ".tmp-";
constexpr const char* kStepPrefix = "step-";

fs::path unique_temporary(const fs::path& output_dir, const std::string& purpose) {
  static std::atomic<unsigned> counter{0};
  std::random_device device;
  return output_dir / (std::string(kTemporaryPrefix) + purpose + "-" + std::to_string(::getpid()) + "-" +
                       std::to_string(counter++) + "-" + std::to_string(device() % 1000000));
}

// Flushes a file or folder to stable storage; best effort (some file systems refuse
// fsync on folders), since durability is an extra on top of the rename protocol.
void fsync_path(const fs::path& path, bool is_folder) {
  const int fd = ::open(path.c_str(), (is_folder ? O_DIRECTORY : 0) | O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

void fsync_tree(const fs::path& folder) {
  for (const auto& entry : fs::recursive_directory_iterator(folder)) {
    if (entry.is_regular_file()) fsync_path(entry.path(), false);
    else if (entry.is_directory()) fsync_path(entry.path(), true);
  }
  fsync_path(folder, true);
}

std::string utc_now_iso8601() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm utc{};
  gmtime_r(&now, &utc);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return buffer;
}

void write_marker(const fs::path& folder, int64_t step) {
  const nlohmann::json marker = {{"step", step}, {"time", utc_now_iso8601()}};
  const auto path = folder / kCompleteMarker;
  util::write_file_atomic(path, marker.dump() + "\n");
  fsync_path(path, false);
  fsync_path(folder, true);
}

bool marker_names_step(const fs::path& folder, int64_t step) {
  std::error_code ec;
  const auto path = folder / kCompleteMarker;
  if (!fs::is_regular_file(path, ec)) return false;
  try {
    const auto marker = nlohmann::json::parse(util::read_text_file(path));
    return marker.at("step").get<int64_t>() == step;
  } catch (const std::exception&) {
    return false;  // a marker we cannot read does not vouch for anything
  }
}

// Moves `target` aside under a temporary name, then deletes it.
void remove_via_temporary(const fs::path& output_dir, const fs::path& target) {
  const auto trash = unique_temporary(output_dir, "delete-" + target.filename().string());
  std::error_code ec;
  fs::rename(target, trash, ec);
  CREAM_CHECK(!ec, target.string() + ": cannot move aside for deletion: " + ec.message());
  fs::remove_all(trash, ec);
  CREAM_CHECK(!ec, trash.string() + ": cannot delete: " + ec.message());
}

}  // namespace

std::string checkpoint_folder_name(int64_t step) {
  CREAM_CHECK(step >= 0, "checkpoint: negative step " + std::to_string(step));
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%s%06lld", kStepPrefix, static_cast<long long>(step));
  return buffer;
}

std::optional<int64_t> parse_checkpoint_folder_name(const std::string& name) {
  const std::string prefix = kStepPrefix;
  if (name.size() < prefix.size() + 6 || name.size() > prefix.size() + 18) return std::nullopt;
  if (name.compare(0, prefix.size(), prefix) != 0) return std::nullopt;
  const std::string digits = name.substr(prefix.size());
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  const int64_t step = std::stoll(digits);
  // Only the canonical spelling: "step-0000012" (7 digits for 12) is not ours.
  if (checkpoint_folder_name(step) != name) return std::nullopt;
  return step;
}

void remove_stale_temporaries(const fs::path& output_dir) {
  std::error_code ec;
  if (!fs::is_directory(output_dir, ec)) return;
  for (const auto& entry : fs::directory_iterator(output_dir)) {
    const auto name = entry.path().filename().string();
    if (name.rfind(kTemporaryPrefix, 0) != 0) continue;
    log::warn("removing leftover temporary {} (an interrupted save or prune)", entry.path().string());
    fs::remove_all(entry.path(), ec);
  }
}

fs::path save_checkpoint_atomic(const fs::path& output_dir, int64_t step,
                                const std::function<void(const fs::path&)>& fill) {
  const auto target = output_dir / checkpoint_folder_name(step);
  fs::create_directories(output_dir);
  remove_stale_temporaries(output_dir);

  const auto temporary = unique_temporary(output_dir, checkpoint_folder_name(step));
  util::RemoveOnFailure cleanup(temporary);
  fs::create_directory(temporary);
  fill(temporary);
  fsync_tree(temporary);
  write_marker(temporary, step);

  std::error_code ec;
  if (fs::exists(target, ec)) {
    log::warn("checkpoint {} already exists; replacing it", target.string());
    remove_via_temporary(output_dir, target);
  }
  fs::rename(temporary, target, ec);
  CREAM_CHECK(!ec, target.string() + ": cannot rename the finished checkpoint into place: " + ec.message());
  cleanup.release();
  fsync_path(output_dir, true);
  return target;
}

std::vector<CheckpointRef> complete_checkpoints(const fs::path& output_dir) {
  std::vector<CheckpointRef> found;
  std::error_code ec;
  if (!fs::is_directory(output_dir, ec)) return found;
  for (const auto& entry : fs::directory_iterator(output_dir)) {
    if (!entry.is_directory(ec)) continue;
    const auto step = parse_checkpoint_folder_name(entry.path().filename().string());
    if (!step) continue;
    if (!marker_names_step(entry.path(), *step)) {
      log::warn("ignoring incomplete checkpoint {} (no valid {} marker)", entry.path().string(),
                kCompleteMarker);
      continue;
    }
    found.push_back({*step, entry.path()});
  }
  std::sort(found.begin(), found.end(),
            [](const CheckpointRef& a, const CheckpointRef& b) { return a.step < b.step; });
  return found;
}

std::optional<CheckpointRef> latest_complete_checkpoint(const fs::path& output_dir) {
  auto all = complete_checkpoints(output_dir);
  if (all.empty()) return std::nullopt;
  return all.back();
}

std::string resolve_run_folder(const std::string& path, const std::string& name) {
  std::error_code ec;
  if (path.empty() || fs::exists(fs::path(path) / "config.json", ec) || !fs::is_directory(path, ec)) return path;
  const auto latest = latest_complete_checkpoint(path);
  if (!latest) return path;
  log::info("{}: {} is a run folder; using its newest complete checkpoint {}", name, path, latest->path.string());
  return latest->path.string();
}

std::vector<int64_t> prune_checkpoints(const fs::path& output_dir, int keep) {
  std::vector<int64_t> deleted;
  if (keep <= 0) return deleted;
  const auto all = complete_checkpoints(output_dir);
  if (all.size() <= static_cast<size_t>(keep)) return deleted;
  const size_t excess = all.size() - static_cast<size_t>(keep);
  for (size_t i = 0; i < excess; ++i) {
    remove_via_temporary(output_dir, all[i].path);
    deleted.push_back(all[i].step);
  }
  return deleted;
}

}  // namespace cream::train
