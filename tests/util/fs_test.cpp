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

TEST(Fs, OutputPathsAreCheckedBeforeAnyWork) {
  const auto dir = fresh_dir("output");
  std::ofstream(dir / "file") << "x";
  // Fine: an existing folder, or missing folders below one (created when written).
  cream::util::check_output_path(dir / "out.json", "--out");
  cream::util::check_output_path(dir / "new" / "deeper" / "out.json", "--out");
  cream::util::check_output_path(dir / "new-folder", "--out", /*is_folder=*/true);
  auto refused = [](const fs::path& path, bool is_folder, const std::string& fragment) {
    try {
      cream::util::check_output_path(path, "--out", is_folder);
      ADD_FAILURE() << path << " accepted";
    } catch (const cream::Error& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("--out"), std::string::npos) << e.what();
    }
  };
  refused(dir / "file" / "out.json", false, "is not a folder");  // a file where a folder must be
  refused(dir, false, "it is a folder");                          // a folder where a file goes
  // Written later: the missing folders are made then.
  cream::util::write_file_atomic(dir / "new" / "deeper" / "out.json", "{}");
  EXPECT_EQ(cream::util::read_text_file(dir / "new" / "deeper" / "out.json"), "{}");
  fs::remove_all(dir);
}
