// FolderLock: one writer per folder, a clear error naming the holder's pid, and no lock
// left behind by a process killed with SIGKILL.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <string>

#include <sys/wait.h>
#include <unistd.h>

#include "cream/util/error.h"
#include "cream/util/folder_lock.h"

namespace cream::util {
namespace {

namespace fs = std::filesystem;

class FolderLockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("cream-lock-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string second_lock_error() {
    try {
      FolderLock second(dir_, "checkpoint.output_dir");
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }

  fs::path dir_;
};

TEST_F(FolderLockTest, ASecondWriterIsRefusedNamingTheHolder) {
  {
    FolderLock first(dir_, "checkpoint.output_dir");
    const auto message = second_lock_error();
    EXPECT_NE(message.find("checkpoint.output_dir: " + dir_.string() + " is in use"), std::string::npos) << message;
    EXPECT_NE(message.find("(pid " + std::to_string(::getpid()) + ")"), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << "one line";
  }
  EXPECT_EQ(second_lock_error(), "") << "released with the object";
}

TEST_F(FolderLockTest, AProcessKilledWithSigkillLeavesNoLock) {
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    FolderLock held(dir_, "checkpoint.output_dir");
    (void)!::write(ready[1], "x", 1);
    ::pause();
    ::_exit(0);
  }
  char byte = 0;
  ASSERT_EQ(::read(ready[0], &byte, 1), 1);
  const auto message = second_lock_error();
  EXPECT_NE(message.find("(pid " + std::to_string(child) + ")"), std::string::npos) << message;
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  ::close(ready[0]);
  ::close(ready[1]);
  EXPECT_TRUE(fs::exists(dir_ / FolderLock::kFileName)) << "the file stays; the lock does not";
  EXPECT_EQ(second_lock_error(), "");
}

TEST_F(FolderLockTest, AMissingFolderIsAnErrorNamingTheKey) {
  try {
    FolderLock lock(dir_ / "absent", "checkpoint.output_dir");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("checkpoint.output_dir: cannot open"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace cream::util
