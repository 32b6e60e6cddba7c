#include "cream/train/metrics.h"

#include <cmath>
#include <cstdio>
#include <sstream>

#include <unistd.h>

#include "cream/train/device_memory.h"
#include "cream/util/error.h"
#include "cream/util/fs.h"

namespace cream::train {
namespace {

// JSON has no NaN/inf: a diverged loss is written as null instead of a broken line.
nlohmann::json number_or_null(double value) {
  return std::isfinite(value) ? nlohmann::json(value) : nlohmann::json(nullptr);
}

nlohmann::json memory_json(const MemoryUsage& memory) {
  nlohmann::json out = {{"rss_bytes", memory.rss_bytes}};
  if (memory.cuda_peak_allocated_bytes) out["cuda_peak_allocated_bytes"] = *memory.cuda_peak_allocated_bytes;
  if (memory.cuda_peak_reserved_bytes) out["cuda_peak_reserved_bytes"] = *memory.cuda_peak_reserved_bytes;
  return out;
}

void add_scalar(std::vector<TensorboardScalar>& out, const std::string& tag, const nlohmann::json& value) {
  if (value.is_number()) out.push_back({tag, value.get<float>()});
}

}  // namespace

int64_t process_rss_bytes() {
  std::FILE* file = std::fopen("/proc/self/statm", "r");
  if (!file) return -1;
  long long total_pages = 0, resident_pages = 0;
  const int read = std::fscanf(file, "%lld %lld", &total_pages, &resident_pages);
  std::fclose(file);
  if (read != 2) return -1;
  return static_cast<int64_t>(resident_pages) * static_cast<int64_t>(::sysconf(_SC_PAGESIZE));
}

MemoryUsage current_memory_usage(const torch::Device& device) {
  MemoryUsage usage;
  usage.rss_bytes = process_rss_bytes();
  if (device.is_cuda()) {
    const auto memory = read_device_memory(device);
    usage.cuda_peak_allocated_bytes = static_cast<int64_t>(memory.allocated_peak_bytes);
    usage.cuda_peak_reserved_bytes = static_cast<int64_t>(memory.reserved_peak_bytes);
    reset_device_peak(device);
  }
  return usage;
}

MetricsLog::MemoryProbe MetricsLog::memory_probe(const torch::Device& device) {
  return [device] { return current_memory_usage(device); };
}

std::string metrics_lines_up_to(const std::string& contents, int64_t max_step) {
  std::istringstream in(contents);
  std::string line, kept;
  while (std::getline(in, line)) {
    try {
      const auto record = nlohmann::json::parse(line);
      if (record.at("step").get<int64_t>() <= max_step) kept += line + "\n";
    } catch (const std::exception&) {
      // a torn or foreign line: not part of the consistent history
    }
  }
  return kept;
}

MetricsLog::MetricsLog(const fs::path& path, MetricsStart start, MemoryProbe memory)
    : path_(path), memory_(std::move(memory)), resumed_step_(start.resumed_step) {
  if (!path_.parent_path().empty()) fs::create_directories(path_.parent_path());
  std::error_code ec;
  if (start.resumed_step && fs::exists(path_, ec)) {
    util::write_file_atomic(path_, metrics_lines_up_to(util::read_text_file(path_), *start.resumed_step));
  }
  const auto mode = start.resumed_step ? std::ios::app : std::ios::trunc;
  out_.open(path_, std::ios::out | mode);
  CREAM_CHECK(out_.good(), path_.string() + ": cannot open the metrics file for writing");
}

void MetricsLog::append(const StepMetrics& metrics) {
  nlohmann::json record = {
      {"step", metrics.step},
      {"loss", number_or_null(metrics.loss)},
      {"lr", number_or_null(metrics.lr)},
      {"grad_norm", number_or_null(metrics.grad_norm)},
      {"tokens_per_s", number_or_null(metrics.tokens_per_s)},
  };
  if (memory_) record["memory"] = memory_json(memory_());
  CREAM_CHECK(metrics.extra.is_object(), path_.string() + ": extra metrics must be a JSON object");
  for (const auto& [key, value] : metrics.extra.items()) {
    CREAM_CHECK(!record.contains(key), path_.string() + ": extra metric '" + key +
                                           "' would overwrite a standard field");
    record[key] = value;
  }
  // One buffered write per line, flushed at once: a reader never sees half a line.
  const std::string line = record.dump() + "\n";
  out_.write(line.data(), static_cast<std::streamsize>(line.size()));
  out_.flush();
  CREAM_CHECK(out_.good(), path_.string() + ": write failed (disk full?)");
  // Derived from the written record, so both files always show the same numbers.
  if (tensorboard_) tensorboard_->write_scalars(metrics.step, tensorboard_scalars(record));
}

void MetricsLog::also_write_tensorboard(const fs::path& folder) {
  tensorboard_ = std::make_unique<TensorboardWriter>(folder, resumed_step_.value_or(0));
}

std::vector<TensorboardScalar> tensorboard_scalars(const nlohmann::json& record) {
  static const std::string eval_prefix = "eval_";
  std::vector<TensorboardScalar> out;
  for (const auto& [key, value] : record.items()) {
    if (key == "step") continue;
    if (key == "loss" || key == "lr" || key == "grad_norm" || key == "tokens_per_s") {
      add_scalar(out, "train/" + key, value);
    } else if (key == "memory" && value.is_object()) {
      for (const auto& [field, bytes] : value.items()) add_scalar(out, "memory/" + field, bytes);
    } else if (key.compare(0, eval_prefix.size(), eval_prefix) == 0) {
      add_scalar(out, "eval/" + key.substr(eval_prefix.size()), value);
    } else {
      add_scalar(out, key, value);
    }
  }
  return out;
}

}  // namespace cream::train
