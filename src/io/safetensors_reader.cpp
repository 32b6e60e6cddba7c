// Reading .safetensors: map the file, then validate everything the reference
// implementation validates (and duplicate names, which JSON parsers silently merge)
// before handing out a single pointer.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <set>

#include <nlohmann/json.hpp>

#include "cream/io/safetensors.h"
#include "cream/util/error.h"

namespace cream::io {

namespace {

using nlohmann::json;

constexpr uint64_t kLengthPrefixBytes = 8;
constexpr const char* kMetadataKey = "__metadata__";

// Closes a file descriptor on scope exit.
struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};

// Returns the byte position of the first invalid UTF-8 sequence, or npos.
std::size_t find_invalid_utf8(std::string_view text) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  std::size_t i = 0;
  while (i < text.size()) {
    const unsigned char lead = bytes[i];
    std::size_t extra = 0;
    uint32_t code = 0;
    if (lead < 0x80) { ++i; continue; }
    if ((lead & 0xE0) == 0xC0) { extra = 1; code = lead & 0x1F; }
    else if ((lead & 0xF0) == 0xE0) { extra = 2; code = lead & 0x0F; }
    else if ((lead & 0xF8) == 0xF0) { extra = 3; code = lead & 0x07; }
    else return i;
    if (i + extra >= text.size()) return i;  // sequence cut off by the end
    for (std::size_t k = 1; k <= extra; ++k) {
      if ((bytes[i + k] & 0xC0) != 0x80) return i;
      code = (code << 6) | (bytes[i + k] & 0x3F);
    }
    // Overlong encodings, UTF-16 surrogates and code points past U+10FFFF are invalid.
    static constexpr uint32_t kMinimum[] = {0, 0x80, 0x800, 0x10000};
    if (code < kMinimum[extra] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return i;
    i += extra + 1;
  }
  return std::string_view::npos;
}

// Parses the header, refusing duplicate top-level keys: nlohmann (like most JSON
// parsers) would silently keep only one of them.
json parse_header_json(std::string_view text, const std::string& where) {
  std::set<std::string> seen;
  std::string duplicate;
  const json::parser_callback_t reject_duplicates = [&](int depth, json::parse_event_t event,
                                                        json& parsed) {
    if (event == json::parse_event_t::key && depth == 1 && parsed.is_string()) {
      const auto& key = parsed.get_ref<const std::string&>();
      if (!seen.insert(key).second && duplicate.empty()) duplicate = key;
    }
    return true;
  };
  json header;
  try {
    header = json::parse(text.begin(), text.end(), reject_duplicates);
  } catch (const json::parse_error& e) {
    throw Error(where + "header is not valid JSON: " + e.what());
  }
  CREAM_CHECK(duplicate.empty(), where + "header lists the name '" + duplicate + "' twice");
  CREAM_CHECK(header.is_object(), where + "header is not a JSON object (it is " +
                                      std::string(header.type_name()) + ")");
  return header;
}

std::map<std::string, std::string> parse_metadata(const json& value, const std::string& where) {
  CREAM_CHECK(value.is_object(), where + "\"__metadata__\" must be an object of strings, found " +
                                     std::string(value.type_name()));
  std::map<std::string, std::string> metadata;
  for (const auto& [key, entry] : value.items()) {
    CREAM_CHECK(entry.is_string(), where + "\"__metadata__\" entry '" + key +
                                       "' must be a string, found " + std::string(entry.type_name()));
    metadata[key] = entry.get<std::string>();
  }
  return metadata;
}

std::vector<int64_t> parse_shape(const json& value, const std::string& where) {
  CREAM_CHECK(value.is_array(), where + "\"shape\" must be an array of integers");
  std::vector<int64_t> shape;
  for (const auto& dim : value) {
    CREAM_CHECK(dim.is_number_integer(), where + "\"shape\" holds a non-integer: " + dim.dump());
    CREAM_CHECK(dim.is_number_unsigned(), where + "\"shape\" holds a negative dimension: " + dim.dump());
    const auto size = dim.get<uint64_t>();
    CREAM_CHECK(size <= static_cast<uint64_t>(INT64_MAX), where + "dimension " + dim.dump() + " is too large");
    shape.push_back(static_cast<int64_t>(size));
  }
  return shape;
}

// numel x dtype_size with every multiplication checked; throws on overflow.
uint64_t checked_byte_size(const std::vector<int64_t>& shape, DType dtype, const std::string& where) {
  uint64_t bytes = dtype_size(dtype);
  for (const auto dim : shape) {
    CREAM_CHECK(dim >= 0, where + "negative dimension " + std::to_string(dim));
    CREAM_CHECK(!__builtin_mul_overflow(bytes, static_cast<uint64_t>(dim), &bytes),
                where + "shape is too large: its byte size overflows 64 bits");
  }
  return bytes;
}

TensorInfo parse_tensor_entry(const std::string& name, const json& entry, const std::string& file_where) {
  const auto where = file_where + "tensor '" + name + "': ";
  CREAM_CHECK(entry.is_object(), where + "entry must be an object, found " + std::string(entry.type_name()));
  for (const char* field : {"dtype", "shape", "data_offsets"}) {
    CREAM_CHECK(entry.contains(field), where + "missing \"" + field + "\"");
  }
  TensorInfo info;
  info.name = name;
  const auto& dtype = entry.at("dtype");
  CREAM_CHECK(dtype.is_string(), where + "\"dtype\" must be a string");
  const auto parsed = parse_dtype(dtype.get<std::string>());
  CREAM_CHECK(parsed.has_value(), where + "unknown dtype '" + dtype.get<std::string>() + "'");
  info.dtype = *parsed;
  info.shape = parse_shape(entry.at("shape"), where);
  const auto& offsets = entry.at("data_offsets");
  CREAM_CHECK(offsets.is_array() && offsets.size() == 2 && offsets[0].is_number_unsigned() &&
                  offsets[1].is_number_unsigned(),
              where + "\"data_offsets\" must be two non-negative integers [begin, end], found " + offsets.dump());
  info.begin = offsets[0].get<uint64_t>();
  info.end = offsets[1].get<uint64_t>();
  CREAM_CHECK(info.begin <= info.end, where + "data_offsets run backwards (begin " + std::to_string(info.begin) +
                                          " > end " + std::to_string(info.end) + ")");
  const uint64_t expected = checked_byte_size(info.shape, info.dtype, where);
  CREAM_CHECK(info.nbytes() == expected,
              where + "data_offsets span " + std::to_string(info.nbytes()) + " bytes but shape x " +
                  dtype_name(info.dtype) + " needs " + std::to_string(expected));
  return info;
}

// Tensors sorted by offset must tile the data section exactly: no overlap, no gap,
// nothing past the end, nothing left over.
void check_layout(const std::vector<TensorInfo>& tensors, uint64_t data_size, const std::string& where) {
  uint64_t expected_begin = 0;
  const TensorInfo* previous = nullptr;
  for (const auto& info : tensors) {
    const auto tensor_where = where + "tensor '" + info.name + "': ";
    CREAM_CHECK(info.begin >= expected_begin,
                tensor_where + "data_offsets overlap those of tensor '" + (previous ? previous->name : "") + "'");
    CREAM_CHECK(info.begin == expected_begin,
                tensor_where + "gap of " + std::to_string(info.begin - expected_begin) +
                    " unused bytes before its data_offsets");
    CREAM_CHECK(info.end <= data_size, tensor_where + "data_offsets end at " + std::to_string(info.end) +
                                           ", past the end of the file's data section (" +
                                           std::to_string(data_size) + " bytes)");
    expected_begin = info.end;
    previous = &info;
  }
  CREAM_CHECK(expected_begin == data_size,
              where + std::to_string(data_size - expected_begin) + " trailing bytes after the last tensor");
}

}  // namespace

uint64_t TensorInfo::numel() const {
  uint64_t count = 1;
  for (const auto dim : shape) count *= static_cast<uint64_t>(dim);
  return count;
}

SafetensorsFile::SafetensorsFile(const std::filesystem::path& path) : path_(path) {
  const auto where = path.string() + ": ";
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  CREAM_CHECK(fd >= 0, where + "cannot open: " + std::strerror(errno));
  FdCloser closer{fd};
  struct stat status {};
  CREAM_CHECK(::fstat(fd, &status) == 0, where + "cannot stat: " + std::strerror(errno));
  CREAM_CHECK(S_ISREG(status.st_mode), where + "not a regular file");
  const auto file_size = static_cast<uint64_t>(status.st_size);
  CREAM_CHECK(file_size >= kLengthPrefixBytes,
              where + "file is " + std::to_string(file_size) +
                  " bytes, too short for the 8-byte header length of a safetensors file");
  void* mapping = ::mmap(nullptr, file_size, PROT_READ, MAP_PRIVATE, fd, 0);
  CREAM_CHECK(mapping != MAP_FAILED, where + "cannot memory-map: " + std::strerror(errno));
  mapping_ = mapping;
  mapping_size_ = file_size;
  try {
    const auto* bytes = static_cast<const unsigned char*>(mapping_);
    uint64_t header_size = 0;
    for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | bytes[i];  // little-endian
    CREAM_CHECK(header_size <= kMaxSafetensorsHeaderBytes,
                where + "header length " + std::to_string(header_size) + " exceeds the 100 MB limit");
    CREAM_CHECK(header_size <= file_size - kLengthPrefixBytes,
                where + "header length " + std::to_string(header_size) + " runs past the end of the file (" +
                    std::to_string(file_size) + " bytes)");
    header_size_ = header_size;
    const std::string_view text(reinterpret_cast<const char*>(bytes + kLengthPrefixBytes), header_size);
    const auto bad = find_invalid_utf8(text);
    CREAM_CHECK(bad == std::string_view::npos,
                where + "header is not valid UTF-8 (byte " + std::to_string(bad) + " of the header)");
    const json header = parse_header_json(text, where);
    for (const auto& [key, value] : header.items()) {
      if (key == kMetadataKey) metadata_ = parse_metadata(value, where);
      else tensors_.push_back(parse_tensor_entry(key, value, where));
    }
    std::sort(tensors_.begin(), tensors_.end(), [](const TensorInfo& a, const TensorInfo& b) {
      return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    check_layout(tensors_, file_size - kLengthPrefixBytes - header_size, where);
    for (std::size_t i = 0; i < tensors_.size(); ++i) index_.emplace(tensors_[i].name, i);
  } catch (...) {
    unmap();
    throw;
  }
}

SafetensorsFile::~SafetensorsFile() { unmap(); }

SafetensorsFile::SafetensorsFile(SafetensorsFile&& other) noexcept
    : path_(std::move(other.path_)),
      tensors_(std::move(other.tensors_)),
      index_(std::move(other.index_)),
      metadata_(std::move(other.metadata_)),
      mapping_(other.mapping_),
      mapping_size_(other.mapping_size_),
      header_size_(other.header_size_) {
  other.mapping_ = nullptr;
  other.mapping_size_ = 0;
}

SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&& other) noexcept {
  if (this != &other) {
    unmap();
    path_ = std::move(other.path_);
    tensors_ = std::move(other.tensors_);
    index_ = std::move(other.index_);
    metadata_ = std::move(other.metadata_);
    mapping_ = other.mapping_;
    mapping_size_ = other.mapping_size_;
    header_size_ = other.header_size_;
    other.mapping_ = nullptr;
    other.mapping_size_ = 0;
  }
  return *this;
}

void SafetensorsFile::unmap() noexcept {
  if (mapping_ != nullptr) ::munmap(mapping_, mapping_size_);
  mapping_ = nullptr;
  mapping_size_ = 0;
}

const TensorInfo* SafetensorsFile::find(std::string_view name) const {
  const auto it = index_.find(std::string(name));
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

const std::byte* SafetensorsFile::data(const TensorInfo& info) const {
  CREAM_CHECK(mapping_ != nullptr, path_.string() + ": file was moved from");
  const uint64_t data_size = mapping_size_ - kLengthPrefixBytes - header_size_;
  CREAM_CHECK(info.begin <= info.end && info.end <= data_size,
              path_.string() + ": tensor '" + info.name + "': byte range is outside this file");
  return static_cast<const std::byte*>(mapping_) + kLengthPrefixBytes + header_size_ + info.begin;
}

}  // namespace cream::io
