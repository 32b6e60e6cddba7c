#include "shard_writer.h"

#include <cstring>

#include "cream/util/error.h"

namespace cream::data {
namespace {

std::string numbered(const char* stem, size_t shard) {
  char name[64];
  std::snprintf(name, sizeof(name), "%s-%05zu.bin", stem, shard);
  return name;
}

std::FILE* open_for_writing(const std::filesystem::path& path) {
  std::FILE* file = std::fopen(path.c_str(), "wb");
  CREAM_CHECK(file != nullptr, path.string() + ": cannot open for writing");
  return file;
}

void write_or_throw(std::FILE* file, const void* data, size_t bytes, const std::string& name) {
  CREAM_CHECK(std::fwrite(data, 1, bytes, file) == bytes, name + ": write failed (disk full?)");
}

// Values are stored little-endian; this build targets little-endian hosts only.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "token shards are little-endian");

}  // namespace

std::string shard_tokens_name(size_t shard) { return numbered("tokens", shard); }
std::string shard_index_name(size_t shard) { return numbered("index", shard); }

ShardWriter::ShardWriter(std::filesystem::path folder, TokenDtype dtype, uint64_t max_shard_tokens)
    : folder_(std::move(folder)), dtype_(dtype), max_shard_tokens_(max_shard_tokens) {
  CREAM_CHECK(max_shard_tokens_ > 0, "max shard size must be at least one token");
}

ShardWriter::~ShardWriter() {
  if (tokens_file_) std::fclose(tokens_file_);
  if (index_file_) std::fclose(index_file_);
}

void ShardWriter::open_shard() {
  ShardInfo info;
  info.tokens_file = shard_tokens_name(shards_.size());
  info.index_file = shard_index_name(shards_.size());
  tokens_file_ = open_for_writing(folder_ / info.tokens_file);
  index_file_ = open_for_writing(folder_ / info.index_file);
  shards_.push_back(std::move(info));
}

void ShardWriter::close_shard() {
  if (!tokens_file_) return;
  const bool tokens_ok = std::fclose(tokens_file_) == 0;
  const bool index_ok = std::fclose(index_file_) == 0;
  tokens_file_ = index_file_ = nullptr;
  CREAM_CHECK(tokens_ok && index_ok, (folder_ / shards_.back().tokens_file).string() + ": close failed (disk full?)");
}

void ShardWriter::write_tokens(const int32_t* ids, size_t count) {
  ShardInfo& shard = shards_.back();
  const size_t width = dtype_bytes(dtype_);
  if (dtype_ == TokenDtype::kUint32) {
    write_or_throw(tokens_file_, ids, count * width, shard.tokens_file);
  } else {
    buffer_.resize(count * width);
    auto* out = reinterpret_cast<uint16_t*>(buffer_.data());
    for (size_t i = 0; i < count; ++i) out[i] = static_cast<uint16_t>(ids[i]);
    write_or_throw(tokens_file_, buffer_.data(), buffer_.size(), shard.tokens_file);
  }
  shard.tokens += count;
  shard.bytes += count * width;
}

void ShardWriter::add_document(const int32_t* ids, size_t count) {
  bool first_piece = true;
  while (count > 0) {
    if (!tokens_file_ || shards_.back().tokens == max_shard_tokens_) {
      close_shard();
      open_shard();
    }
    ShardInfo& shard = shards_.back();
    if (first_piece) {  // the document starts here: record its local offset
      const uint64_t start = shard.tokens;
      write_or_throw(index_file_, &start, sizeof(start), shard.index_file);
      ++shard.documents;
      first_piece = false;
    }
    const size_t take = static_cast<size_t>(std::min<uint64_t>(count, max_shard_tokens_ - shard.tokens));
    write_tokens(ids, take);
    ids += take;
    count -= take;
  }
}

std::vector<ShardInfo> ShardWriter::finish() {
  close_shard();
  return shards_;
}

}  // namespace cream::data
