// Writing .safetensors files and HF checkpoint folders, one tensor at a time, atomically.
#include <cstdio>
#include <fstream>
#include <memory>
#include <regex>
#include <set>
#include <streambuf>

#include <nlohmann/json.hpp>

#include "cream/io/checkpoint_folder.h"
#include "cream/io/safetensors.h"
#include "cream/util/error.h"
#include "cream/util/fs.h"

namespace cream::io {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t kHeaderAlignment = 8;

// Forwards bytes to another stream buffer and counts them, so the writer can check
// that each tensor's callback wrote exactly its size (and cannot seek elsewhere).
class CountingBuffer : public std::streambuf {
 public:
  explicit CountingBuffer(std::streambuf* target) : target_(target) {}
  uint64_t count() const { return count_; }

 protected:
  int_type overflow(int_type c) override {
    if (traits_type::eq_int_type(c, traits_type::eof())) return traits_type::not_eof(c);
    if (traits_type::eq_int_type(target_->sputc(traits_type::to_char_type(c)), traits_type::eof())) {
      return traits_type::eof();
    }
    ++count_;
    return c;
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    const auto written = target_->sputn(s, n);
    count_ += static_cast<uint64_t>(written);
    return written;
  }

 private:
  std::streambuf* target_;
  uint64_t count_ = 0;
};

// The header bytes: compact JSON, "__metadata__" first, tensors in the given order with
// contiguous offsets, padded with spaces to a multiple of 8 (as the reference does).
std::string build_header(const std::vector<TensorSource>& tensors, const std::map<std::string, std::string>& metadata,
                         const std::string& where) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const auto& tensor : tensors) {
    const auto tensor_where = where + "tensor '" + tensor.name + "': ";
    CREAM_CHECK(tensor.name != "__metadata__", tensor_where + "name is reserved for the file's metadata");
    CREAM_CHECK(names.insert(tensor.name).second, tensor_where + "name given twice");
    CREAM_CHECK(static_cast<bool>(tensor.write), tensor_where + "no write callback");
    uint64_t size = 0;
    try {
      size = tensor.nbytes();
    } catch (const Error& e) {
      throw Error(where + e.what());  // add the file to the tensor's own message
    }
    CREAM_CHECK(!__builtin_add_overflow(offset, size, &offset), tensor_where + "total size overflows 64 bits");
    header[tensor.name] = {{"dtype", dtype_name(tensor.dtype)},
                           {"shape", tensor.shape},
                           {"data_offsets", {offset - size, offset}}};
  }
  std::string text = header.dump();
  text.resize((text.size() + kHeaderAlignment - 1) / kHeaderAlignment * kHeaderAlignment, ' ');
  CREAM_CHECK(text.size() <= kMaxSafetensorsHeaderBytes, where + "header would exceed the 100 MB limit");
  return text;
}

void write_length_prefix(std::ostream& out, uint64_t length) {
  char bytes[8];
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((length >> (8 * i)) & 0xFF);  // little-endian
  out.write(bytes, sizeof bytes);
}

void write_tensor(std::ofstream& file, const TensorSource& tensor, const std::string& where) {
  CountingBuffer counter(file.rdbuf());
  std::ostream out(&counter);
  tensor.write(out);
  const auto tensor_where = where + "tensor '" + tensor.name + "': ";
  CREAM_CHECK(out.good() && file.good(), tensor_where + "write failed (disk full?)");
  CREAM_CHECK(counter.count() == tensor.nbytes(),
              tensor_where + "writer produced " + std::to_string(counter.count()) + " bytes, expected " +
                  std::to_string(tensor.nbytes()) + " (" + dtype_name(tensor.dtype) + " x shape)");
}

bool holds_weights(const fs::path& folder) {
  static const std::regex kShardName(R"(model-\d+-of-\d+\.safetensors)");
  if (!fs::exists(folder)) return false;
  for (const auto& entry : fs::directory_iterator(folder)) {
    const auto name = entry.path().filename().string();
    if (name == kSingleWeightsFile || name == kWeightsIndexFile || std::regex_match(name, kShardName)) return true;
  }
  return false;
}

std::string shard_file_name(std::size_t index, std::size_t count) {
  char name[64];
  std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", index + 1, count);
  return name;
}

}  // namespace

uint64_t TensorSource::nbytes() const {
  uint64_t bytes = dtype_size(dtype);
  for (const auto dim : shape) {
    CREAM_CHECK(dim >= 0, "tensor '" + name + "': negative dimension " + std::to_string(dim));
    CREAM_CHECK(!__builtin_mul_overflow(bytes, static_cast<uint64_t>(dim), &bytes),
                "tensor '" + name + "': shape is too large (byte size overflows 64 bits)");
  }
  return bytes;
}

void write_safetensors_file(const fs::path& path, const std::vector<TensorSource>& tensors,
                            const std::map<std::string, std::string>& metadata) {
  const auto where = path.string() + ": ";
  const std::string header = build_header(tensors, metadata, where);
  const auto temp = util::temporary_sibling(path);
  util::RemoveOnFailure cleanup(temp);
  {
    std::ofstream file(temp, std::ios::binary | std::ios::trunc);
    CREAM_CHECK(file.good(), where + "cannot open for writing");
    write_length_prefix(file, header.size());
    file.write(header.data(), static_cast<std::streamsize>(header.size()));
    for (const auto& tensor : tensors) write_tensor(file, tensor, where);
    file.flush();
    CREAM_CHECK(file.good(), where + "write failed (disk full?)");
  }
  std::error_code ec;
  fs::rename(temp, path, ec);
  CREAM_CHECK(!ec, where + "cannot rename temporary file into place: " + ec.message());
  cleanup.release();
}

std::vector<std::vector<std::size_t>> plan_shards(const std::vector<TensorSource>& tensors, uint64_t max_shard_bytes) {
  std::vector<std::vector<std::size_t>> shards;
  if (max_shard_bytes == 0) {
    shards.emplace_back();
    for (std::size_t i = 0; i < tensors.size(); ++i) shards.back().push_back(i);
    return shards;
  }
  std::vector<std::size_t> current;
  uint64_t current_bytes = 0;
  const auto close_current = [&] {
    if (!current.empty()) shards.push_back(std::move(current));
    current.clear();
    current_bytes = 0;
  };
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const uint64_t size = tensors[i].nbytes();
    if (size > max_shard_bytes) {  // too big for any shard: alone in its own
      close_current();
      shards.push_back({i});
      continue;
    }
    if (current_bytes + size > max_shard_bytes) close_current();
    current.push_back(i);
    current_bytes += size;
  }
  close_current();
  if (shards.empty()) shards.emplace_back();  // no tensors: still one (empty) file
  return shards;
}

std::vector<std::string> write_checkpoint(const fs::path& folder, const std::vector<TensorSource>& tensors,
                                          const CheckpointWriteOptions& options) {
  CREAM_CHECK(!holds_weights(folder), folder.string() +
                                          ": already holds model weights (model*.safetensors or the index); "
                                          "refusing to mix two checkpoints");
  std::set<std::string> names;
  for (const auto& tensor : tensors) {
    CREAM_CHECK(names.insert(tensor.name).second,
                folder.string() + ": tensor '" + tensor.name + "': name given twice");
  }
  fs::create_directories(folder);
  const auto shards = plan_shards(tensors, options.max_shard_bytes);
  // Removes what this call wrote if anything below throws.
  std::vector<std::unique_ptr<util::RemoveOnFailure>> written_guard;
  std::vector<std::string> written;
  const auto write_one = [&](const std::string& name, const std::vector<TensorSource>& members) {
    write_safetensors_file(folder / name, members, options.metadata);
    written_guard.push_back(std::make_unique<util::RemoveOnFailure>(folder / name));
    written.push_back(name);
  };
  if (shards.size() == 1) {
    write_one(kSingleWeightsFile, tensors);
  } else {
    nlohmann::json weight_map = nlohmann::json::object();
    uint64_t total_size = 0;
    for (std::size_t s = 0; s < shards.size(); ++s) {
      const auto name = shard_file_name(s, shards.size());
      std::vector<TensorSource> members;
      for (const auto i : shards[s]) {
        members.push_back(tensors[i]);
        weight_map[tensors[i].name] = name;
        total_size += tensors[i].nbytes();
      }
      write_one(name, members);
    }
    const nlohmann::json index = {{"metadata", {{"total_size", total_size}}}, {"weight_map", weight_map}};
    util::write_file_atomic(folder / kWeightsIndexFile, index.dump(2) + "\n");
    written.push_back(kWeightsIndexFile);
  }
  for (auto& guard : written_guard) guard->release();
  return written;
}

}  // namespace cream::io
