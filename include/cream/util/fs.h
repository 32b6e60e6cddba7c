// File-system helpers that never leave partial outputs behind.
#pragma once

#include <filesystem>
#include <functional>
#include <string>

namespace cream::util {

namespace fs = std::filesystem;

// Reads a whole (small) file; throws cream::Error naming the path on failure.
std::string read_text_file(const fs::path& path);

// Writes `contents` to `path` atomically: a temporary file in the same folder,
// flushed, then renamed over `path`. Readers see the old file or the new one.
// Missing parent folders are created.
void write_file_atomic(const fs::path& path, const std::string& contents);

// Before any work: that `path` can be written where a command will write it at the
// end: the nearest of its folders that exists must be a writable folder (the missing
// ones are created when the output is written), and a file output must not be a
// folder (a folder output's own rules, such as "must not exist", stay with its
// command). Throws one line naming `flag` and the path.
void check_output_path(const fs::path& path, const std::string& flag, bool is_folder = false);

// A temporary sibling path of `target` (same folder, unique name starting with
// ".<name>.tmp-"), so that a rename onto `target` is atomic.
fs::path temporary_sibling(const fs::path& target);

// Creates the folder `target` atomically: `fill` populates a temporary sibling
// folder, which is renamed to `target` only if `fill` returns normally. On any
// exception the temporary folder is removed and the exception propagates.
// Refuses (cream::Error) when `target` exists, unless `replace` is true.
void create_folder_atomic(const fs::path& target, const std::function<void(const fs::path&)>& fill,
                          bool replace = false);

// Removes a path on scope exit unless release() was called.
class RemoveOnFailure {
 public:
  explicit RemoveOnFailure(fs::path path) : path_(std::move(path)) {}
  RemoveOnFailure(const RemoveOnFailure&) = delete;
  RemoveOnFailure& operator=(const RemoveOnFailure&) = delete;
  ~RemoveOnFailure();
  void release() { path_.clear(); }

 private:
  fs::path path_;
};

}  // namespace cream::util
