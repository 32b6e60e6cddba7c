#include <gtest/gtest.h>

#include <fstream>

#include "cream/util/error.h"
#include "cream/util/fs.h"

namespace fs = std::filesystem;

namespace {

fs::path fresh_dir(const std::string& name) {
  auto dir = fs::temp_directory_path() / ("cream_util_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

}  // namespace

TEST(Fs, AtomicWriteReplacesContentsAndLeavesNoTemporaries) {
  const auto dir = fresh_dir("write");
  cream::util::write_file_atomic(dir / "a.txt", "first");
  cream::util::write_file_atomic(dir / "a.txt", "second");
  EXPECT_EQ(cream::util::read_text_file(dir / "a.txt"), "second");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
  fs::remove_all(dir);
}

TEST(Fs, FolderCreatedOnlyWhenFillSucceeds) {
  const auto dir = fresh_dir("folder");
  EXPECT_THROW(cream::util::create_folder_atomic(dir / "out",
                                                 [](const fs::path& tmp) {
                                                   std::ofstream(tmp / "x") << "partial";
                                                   throw cream::Error("boom");
                                                 }),
               cream::Error);
  EXPECT_TRUE(fs::is_empty(dir)) << "a failed fill must leave nothing behind";
  cream::util::create_folder_atomic(dir / "out", [](const fs::path& tmp) { std::ofstream(tmp / "x") << "ok"; });
  EXPECT_EQ(cream::util::read_text_file(dir / "out" / "x"), "ok");
  EXPECT_THROW(cream::util::create_folder_atomic(dir / "out", [](const fs::path&) {}), cream::Error);
  fs::remove_all(dir);
}

TEST(Fs, ReadMissingFileNamesThePath) {
  try {
    cream::util::read_text_file("/nonexistent/cream.txt");
    FAIL() << "expected an error";
  } catch (const cream::Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/cream.txt"), std::string::npos);
  }
}
