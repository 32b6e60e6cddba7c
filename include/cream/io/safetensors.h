// The safetensors format (github.com/huggingface/safetensors): an 8-byte little-endian
// header length N, N bytes of JSON header ({name: {dtype, shape, data_offsets}} plus an
// optional "__metadata__" string->string map), then the raw tensor bytes. Reading maps
// the file (no copy) and validates the header completely before anything is used;
// writing streams tensor by tensor and is atomic.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <ostream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cream/io/dtype.h"

namespace cream::io {

// The header's largest accepted size, as in the reference implementation.
constexpr uint64_t kMaxSafetensorsHeaderBytes = 100'000'000;

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // byte offsets inside the data section (after the header)

  uint64_t numel() const;  // product of shape (1 for a scalar, 0 if any dim is 0)
  uint64_t nbytes() const { return end - begin; }
};

// A read-only memory mapping of one .safetensors file, validated on open.
class SafetensorsFile {
 public:
  // Throws cream::Error "<path>: <problem>" (naming the tensor where one is at fault).
  explicit SafetensorsFile(const std::filesystem::path& path);
  ~SafetensorsFile();
  SafetensorsFile(SafetensorsFile&& other) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&& other) noexcept;
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::filesystem::path& path() const { return path_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }  // sorted by offset
  const TensorInfo* find(std::string_view name) const;                 // nullptr if absent
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // Pointer into the mapping at the tensor's first byte (valid while this object lives).
  // Throws if `info` does not describe a range of this file.
  const std::byte* data(const TensorInfo& info) const;

  uint64_t file_size() const { return mapping_size_; }
  uint64_t header_size() const { return header_size_; }  // N, the JSON header's length

 private:
  void unmap() noexcept;

  std::filesystem::path path_;
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string, std::size_t> index_;  // name -> position in tensors_
  std::map<std::string, std::string> metadata_;
  void* mapping_ = nullptr;
  uint64_t mapping_size_ = 0;
  uint64_t header_size_ = 0;
};

// One tensor to write: `write` must put exactly numel x dtype_size bytes (little-endian,
// row-major) on the stream; the writer counts them and throws naming the tensor if not.
struct TensorSource {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::function<void(std::ostream&)> write;

  uint64_t nbytes() const;  // numel x dtype_size; throws on negative dims or overflow
};

// Writes one spec-conformant file: header JSON ("__metadata__" first when `metadata` is not
// empty, then the tensors in the given order with contiguous offsets) padded with spaces to
// a multiple of 8 bytes. Each `write` is called once, in order. Atomic: a temporary file in
// the same folder is renamed onto `path` only when everything succeeded.
void write_safetensors_file(const std::filesystem::path& path, const std::vector<TensorSource>& tensors,
                            const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

struct CheckpointWriteOptions {
  uint64_t max_shard_bytes = 0;  // 0: always one file
  std::map<std::string, std::string> metadata = {{"format", "pt"}};
};

// Writes the weights of an HF model folder (creating `folder` if needed): model.safetensors,
// or, when the tensors' bytes exceed max_shard_bytes, shards model-00001-of-0000n.safetensors
// plus model.safetensors.index.json ({"metadata":{"total_size":N},"weight_map":{name:file}}).
// Shards are filled greedily in the given order: a tensor that would push the current shard
// past the limit starts a new one, and a tensor larger than the limit gets a shard of its
// own (it closes the current shard first, so `write` callbacks still run in the given order).
// Refuses a folder that already holds weights. On failure every file written by this call
// is removed. Returns the file names written (shards first, then the index).
std::vector<std::string> write_checkpoint(const std::filesystem::path& folder,
                                          const std::vector<TensorSource>& tensors,
                                          const CheckpointWriteOptions& options = {});

// How write_checkpoint groups tensors: one entry per shard, each the tensor positions in it.
std::vector<std::vector<std::size_t>> plan_shards(const std::vector<TensorSource>& tensors,
                                                  uint64_t max_shard_bytes);

}  // namespace cream::io
