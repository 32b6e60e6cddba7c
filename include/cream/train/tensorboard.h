// TensorBoard scalar event files, written without TensorFlow or protobuf: a file
// is a sequence of TFRecords, each holding one hand-encoded `tensorboard.Event`
// message (field numbers as in tensorboard/compat/proto event.proto and
// summary.proto).
//
// Record framing: uint64 length (little-endian), uint32 masked CRC-32C of those
// 8 bytes, the data, uint32 masked CRC-32C of the data.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

namespace cream::train {

namespace fs = std::filesystem;

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78); crc32c("123456789") = 0xE3069283.
uint32_t crc32c(std::string_view data);

// TFRecord's masked CRC: ((crc >> 15) | (crc << 17)) + 0xa282ead8.
uint32_t masked_crc32c(std::string_view data);

// One TFRecord around `data`.
std::string tfrecord(std::string_view data);

struct TensorboardScalar {
  std::string tag;
  float value = 0.0F;
};

// Serialized Event messages (the record payloads).
std::string file_version_event(double wall_time);
std::string scalars_event(double wall_time, int64_t step, const std::vector<TensorboardScalar>& scalars);
// SessionLog START at `step`: TensorBoard's reader then drops events of this run
// folder's older files whose step is >= `step` (a resumed run's repeated steps).
std::string session_start_event(double wall_time, int64_t step);

// The folder a run's event files go to, under the run folder.
inline constexpr const char* kTensorboardFolder = "tensorboard";

class TensorboardWriter {
 public:
  // Creates `folder` and a new file events.out.tfevents.<unix seconds>.<hostname>
  // in it (".1", ".2"... appended if that name exists, so files of one folder sort
  // in creation order, the order TensorBoard reads them in), starting with the
  // file_version record, then a SessionLog START at resumed_step + 1: the run
  // continues after `resumed_step` (0 = a fresh run), and steps from there on
  // that older files of the folder hold (a killed run's) are stale.
  explicit TensorboardWriter(const fs::path& folder, int64_t resumed_step = 0);

  // Appends one event holding every scalar of `step` and flushes it to the OS.
  void write_scalars(int64_t step, const std::vector<TensorboardScalar>& scalars);

  const fs::path& path() const { return path_; }

 private:
  void write_record(const std::string& event);

  fs::path path_;
  std::ofstream out_;
};

}  // namespace cream::train
