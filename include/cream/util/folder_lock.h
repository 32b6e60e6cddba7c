// One writer per folder: an exclusive flock(2) on `<folder>/.lock`, held for the
// lifetime of the object. The kernel drops the lock when the process ends, however it
// ends (kill -9 included), so a stale lock file never blocks the next run; the file
// itself stays and only records the holder's pid for the error message.
#pragma once

#include <filesystem>
#include <string>

namespace cream::util {

class FolderLock {
 public:
  // Locks `folder` (which must exist) without waiting. When another open file holds the
  // lock, throws cream::Error in one line: "<what>: <folder> is in use by another cream
  // process (pid N) ...". `what` names the config key or flag the folder came from.
  FolderLock(const std::filesystem::path& folder, const std::string& what);
  ~FolderLock();
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;

  static constexpr const char* kFileName = ".lock";

 private:
  int fd_ = -1;
};

}  // namespace cream::util
