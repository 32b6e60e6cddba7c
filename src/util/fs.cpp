#include "cream/util/fs.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>

#include <unistd.h>

#include "cream/util/error.h"

namespace cream::util {

std::string read_text_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  CREAM_CHECK(in.good(), path.string() + ": cannot open for reading");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  CREAM_CHECK(!in.bad(), path.string() + ": read error");
  return buffer.str();
}

void check_output_path(const fs::path& path, const std::string& flag, bool is_folder) {
  CREAM_CHECK(!path.empty(), flag + ": empty path");
  std::error_code ec;
  if (!is_folder)
    CREAM_CHECK(!fs::is_directory(path, ec), flag + ": cannot write " + path.string() + ": it is a folder");
  // Missing folders are created when the output is written: the nearest one that exists
  // must be a folder this process can create entries in.
  fs::path existing = fs::absolute(path, ec).parent_path();
  while (!existing.empty() && !fs::exists(existing, ec) && existing != existing.root_path())
    existing = existing.parent_path();
  CREAM_CHECK(fs::is_directory(existing, ec),
              flag + ": cannot write " + path.string() + ": " + existing.string() + " is not a folder");
  CREAM_CHECK(::access(existing.c_str(), W_OK | X_OK) == 0,
              flag + ": cannot write " + path.string() + ": the folder " + existing.string() + " is not writable");
}

fs::path temporary_sibling(const fs::path& target) {
  static std::atomic<unsigned> counter{0};
  std::random_device device;
  const auto name = "." + target.filename().string() + ".tmp-" + std::to_string(::getpid()) + "-" +
                    std::to_string(counter++) + "-" + std::to_string(device() % 100000);
  return target.parent_path() / name;
}

void write_file_atomic(const fs::path& path, const std::string& contents) {
  if (!path.parent_path().empty()) {
    std::error_code ec;
    fs::create_directories(path.parent_path(), ec);
    CREAM_CHECK(!ec, path.string() + ": cannot create its folder: " + ec.message());
  }
  const auto temp = temporary_sibling(path);
  RemoveOnFailure cleanup(temp);
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    CREAM_CHECK(out.good(), path.string() + ": cannot open for writing");
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
    out.flush();
    CREAM_CHECK(out.good(), path.string() + ": write failed (disk full?)");
  }
  std::error_code ec;
  fs::rename(temp, path, ec);
  CREAM_CHECK(!ec, path.string() + ": cannot rename temporary file into place: " + ec.message());
  cleanup.release();
}

void create_folder_atomic(const fs::path& target, const std::function<void(const fs::path&)>& fill,
                          bool replace) {
  CREAM_CHECK(replace || !fs::exists(target),
              target.string() + ": already exists (refusing to overwrite)");
  if (!target.parent_path().empty()) fs::create_directories(target.parent_path());
  const auto temp = temporary_sibling(target);
  RemoveOnFailure cleanup(temp);
  fs::create_directories(temp);
  fill(temp);
  std::error_code ec;
  if (replace && fs::exists(target)) {
    const auto old = temporary_sibling(target);
    fs::rename(target, old, ec);
    CREAM_CHECK(!ec, target.string() + ": cannot move the old folder aside: " + ec.message());
    fs::rename(temp, target, ec);
    if (ec) fs::rename(old, target);
    else fs::remove_all(old);
  } else {
    fs::rename(temp, target, ec);
  }
  CREAM_CHECK(!ec, target.string() + ": cannot rename temporary folder into place: " + ec.message());
  cleanup.release();
}

RemoveOnFailure::~RemoveOnFailure() {
  if (path_.empty()) return;
  std::error_code ec;
  fs::remove_all(path_, ec);
}

}  // namespace cream::util
