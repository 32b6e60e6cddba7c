// A prepared token folder opened for reading: shards memory-mapped, manifest
// validated against the files, documents addressable by number.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "cream/data/manifest.h"
#include "cream/data/mapped_file.h"

namespace cream::data {

class TokenDataset {
 public:
  // Opens `folder` (see manifest.h for the layout). Every shard and index file must
  // exist with exactly the sizes and counts the manifest states; offsets must be
  // increasing and inside their shard. A mismatch is a cream::Error naming the file.
  explicit TokenDataset(const std::filesystem::path& folder);

  const Manifest& manifest() const { return manifest_; }
  const std::filesystem::path& folder() const { return folder_; }
  uint64_t num_documents() const { return doc_starts_.size(); }
  uint64_t num_tokens() const { return manifest_.tokens; }

  // Position of document `doc` in the concatenation of all shards, and its length.
  uint64_t document_start(uint64_t doc) const { return doc_starts_.at(doc); }
  uint64_t document_length(uint64_t doc) const;
  std::vector<int32_t> document(uint64_t doc) const;

  // Copies tokens [offset, offset + count) of the concatenated stream into `out`
  // (crossing shard boundaries as needed).
  void read_tokens(uint64_t offset, uint64_t count, int32_t* out) const;

  // Refuses data prepared with another tokenizer (SHA-256 of tokenizer.model) or
  // with a vocabulary larger than the model's embedding table.
  void check_compatible(const std::string& tokenizer_sha256, int64_t model_vocab_size) const;

 private:
  void map_and_validate_shards();

  std::filesystem::path folder_;
  Manifest manifest_;
  std::vector<MappedFile> token_maps_;
  std::vector<uint64_t> shard_starts_;  // global offset of each shard's first token
  std::vector<uint64_t> doc_starts_;    // global offset of each document's first token
};

}  // namespace cream::data
