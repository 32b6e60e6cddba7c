#include "cream/train/tensorboard.h"

#include <array>
#include <chrono>
#include <cstring>

#include <unistd.h>

#include "cream/util/error.h"

namespace cream::train {
namespace {

// Protobuf wire types.
constexpr uint32_t kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5;

// tensorboard.Event fields.
constexpr uint32_t kEventWallTime = 1, kEventStep = 2, kEventFileVersion = 3, kEventSummary = 5,
                   kEventSessionLog = 7;
// tensorboard.Summary / Summary.Value / SessionLog fields.
constexpr uint32_t kSummaryValue = 1, kValueTag = 1, kValueSimpleValue = 2, kSessionLogStatus = 1;
constexpr uint64_t kSessionLogStart = 1;  // SessionLog.SessionStatus.START

// "brain.Event:2" marks the format version TensorBoard's reader expects.
constexpr const char* kFileVersion = "brain.Event:2";

std::array<uint32_t, 256> make_crc32c_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t byte = 0; byte < 256; ++byte) {
    uint32_t crc = byte;
    for (int bit = 0; bit < 8; ++bit) crc = (crc & 1U) ? (crc >> 1) ^ 0x82F63B78U : crc >> 1;
    table[byte] = crc;
  }
  return table;
}

// Little-endian whatever the host order is: the format fixes it.
void put_fixed(std::string& out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xFFU));
}

void put_varint(std::string& out, uint64_t value) {
  while (value >= 0x80U) {
    out.push_back(static_cast<char>((value & 0x7FU) | 0x80U));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

void put_key(std::string& out, uint32_t field, uint32_t wire_type) { put_varint(out, (field << 3) | wire_type); }

void put_bytes(std::string& out, uint32_t field, std::string_view bytes) {
  put_key(out, field, kLengthDelimited);
  put_varint(out, bytes.size());
  out.append(bytes.data(), bytes.size());
}

void put_double(std::string& out, uint32_t field, double value) {
  uint64_t bits = 0;
  std::memcpy(&bits, &value, sizeof bits);
  put_key(out, field, kFixed64);
  put_fixed(out, bits, 8);
}

void put_float(std::string& out, uint32_t field, float value) {
  uint32_t bits = 0;
  std::memcpy(&bits, &value, sizeof bits);
  put_key(out, field, kFixed32);
  put_fixed(out, bits, 4);
}

// Event header shared by every record: wall_time, then step.
std::string event_head(double wall_time, int64_t step) {
  std::string event;
  put_double(event, kEventWallTime, wall_time);
  put_key(event, kEventStep, kVarint);
  put_varint(event, static_cast<uint64_t>(step));  // int64: negatives as 10-byte two's complement
  return event;
}

double unix_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string host_name() {
  char buffer[256] = {};
  if (::gethostname(buffer, sizeof(buffer) - 1) != 0 || buffer[0] == '\0') return "localhost";
  return buffer;
}

// A name no earlier writer used, sorting after the folder's older files.
fs::path new_event_file(const fs::path& folder) {
  const auto seconds = static_cast<int64_t>(unix_seconds());
  const std::string base = "events.out.tfevents." + std::to_string(seconds) + "." + host_name();
  fs::path path = folder / base;
  for (int suffix = 1; fs::exists(path); ++suffix) path = folder / (base + "." + std::to_string(suffix));
  return path;
}

}  // namespace

uint32_t crc32c(std::string_view data) {
  static const auto table = make_crc32c_table();
  uint32_t crc = 0xFFFFFFFFU;
  for (const char c : data) crc = table[(crc ^ static_cast<uint8_t>(c)) & 0xFFU] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFU;
}

uint32_t masked_crc32c(std::string_view data) {
  const uint32_t crc = crc32c(data);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8U;
}

std::string tfrecord(std::string_view data) {
  std::string length;
  put_fixed(length, data.size(), 8);
  std::string record = length;
  put_fixed(record, masked_crc32c(length), 4);
  record.append(data.data(), data.size());
  put_fixed(record, masked_crc32c(data), 4);
  return record;
}

std::string file_version_event(double wall_time) {
  std::string event = event_head(wall_time, 0);
  put_bytes(event, kEventFileVersion, kFileVersion);
  return event;
}

std::string scalars_event(double wall_time, int64_t step, const std::vector<TensorboardScalar>& scalars) {
  std::string summary;
  for (const auto& scalar : scalars) {
    std::string value;
    put_bytes(value, kValueTag, scalar.tag);
    put_float(value, kValueSimpleValue, scalar.value);
    put_bytes(summary, kSummaryValue, value);
  }
  std::string event = event_head(wall_time, step);
  put_bytes(event, kEventSummary, summary);
  return event;
}

std::string session_start_event(double wall_time, int64_t step) {
  std::string session_log;
  put_key(session_log, kSessionLogStatus, kVarint);
  put_varint(session_log, kSessionLogStart);
  std::string event = event_head(wall_time, step);
  put_bytes(event, kEventSessionLog, session_log);
  return event;
}

TensorboardWriter::TensorboardWriter(const fs::path& folder, int64_t resumed_step) {
  std::error_code ec;
  fs::create_directories(folder, ec);
  CREAM_CHECK(!ec, folder.string() + ": cannot create the TensorBoard folder: " + ec.message());
  path_ = new_event_file(folder);
  out_.open(path_, std::ios::out | std::ios::binary | std::ios::trunc);
  CREAM_CHECK(out_.good(), path_.string() + ": cannot open the TensorBoard event file for writing");
  const double now = unix_seconds();
  write_record(file_version_event(now));
  write_record(session_start_event(now, resumed_step + 1));
}

void TensorboardWriter::write_scalars(int64_t step, const std::vector<TensorboardScalar>& scalars) {
  write_record(scalars_event(unix_seconds(), step, scalars));
}

void TensorboardWriter::write_record(const std::string& event) {
  out_ << tfrecord(event);
  out_.flush();
  CREAM_CHECK(out_.good(), path_.string() + ": write failed (disk full?)");
}

}  // namespace cream::train
