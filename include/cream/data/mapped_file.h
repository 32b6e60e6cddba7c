// Read-only memory map of a whole file (POSIX mmap), unmapped on destruction.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>

namespace cream::data {

class MappedFile {
 public:
  MappedFile() = default;
  // Throws cream::Error naming the file when it cannot be opened or mapped.
  explicit MappedFile(const std::filesystem::path& path);
  ~MappedFile();
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  void release();
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace cream::data
