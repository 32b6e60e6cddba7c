// The weights of an HF model folder: model.safetensors, or model.safetensors.index.json
// with the shards it lists. Every file is mapped and validated on open.
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "cream/io/safetensors.h"

namespace cream::io {

inline constexpr const char* kSingleWeightsFile = "model.safetensors";
inline constexpr const char* kWeightsIndexFile = "model.safetensors.index.json";

class CheckpointFolder {
 public:
  // Throws cream::Error naming the folder / index / shard / tensor at fault: no weights in
  // the folder, a bad index (not JSON, no weight_map, a shard path leaving the folder), a
  // missing shard, a tensor the index lists but its shard lacks, a tensor in two shards, a
  // shard tensor the index does not list, or any invalid safetensors file.
  // When both model.safetensors and an index exist, model.safetensors wins (as in HF).
  explicit CheckpointFolder(const std::filesystem::path& folder);

  const std::filesystem::path& folder() const { return folder_; }
  std::vector<std::string> names() const;  // sorted
  bool contains(const std::string& name) const;
  const TensorInfo& info(const std::string& name) const;  // throws naming tensor and folder
  const std::byte* data(const std::string& name) const;   // pointer into the mapping
  std::vector<std::filesystem::path> files() const;       // the safetensors files, in name order
  bool sharded() const { return sharded_; }

 private:
  struct Location {
    std::size_t file;         // index into files_
    const TensorInfo* info;   // points into files_[file].tensors() (stable across moves)
  };
  void open_single(const std::filesystem::path& file);
  void open_index(const std::filesystem::path& index);
  const Location& locate(const std::string& name) const;

  std::filesystem::path folder_;
  std::vector<SafetensorsFile> files_;
  std::map<std::string, Location> locations_;
  bool sharded_ = false;
};

}  // namespace cream::io
