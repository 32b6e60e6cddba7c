// Writes documents into token shards + per-shard document-start indexes
// (layout: cream/data/manifest.h). Documents may continue across shards so that
// max_shard_tokens is a hard limit.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "cream/data/manifest.h"

namespace cream::data {

class ShardWriter {
 public:
  ShardWriter(std::filesystem::path folder, TokenDtype dtype, uint64_t max_shard_tokens);
  ~ShardWriter();
  ShardWriter(const ShardWriter&) = delete;
  ShardWriter& operator=(const ShardWriter&) = delete;

  void add_document(const int32_t* ids, size_t count);
  // Flushes and closes the last shard; returns every shard's description.
  std::vector<ShardInfo> finish();

 private:
  void open_shard();
  void close_shard();
  void write_tokens(const int32_t* ids, size_t count);

  std::filesystem::path folder_;
  TokenDtype dtype_;
  uint64_t max_shard_tokens_;
  std::vector<ShardInfo> shards_;
  std::FILE* tokens_file_ = nullptr;
  std::FILE* index_file_ = nullptr;
  std::vector<uint8_t> buffer_;  // conversion buffer (int32 -> stored dtype)
};

std::string shard_tokens_name(size_t shard);
std::string shard_index_name(size_t shard);

}  // namespace cream::data
