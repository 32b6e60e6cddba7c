// metrics.jsonl: one JSON object per logged step, appended and flushed per line.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "cream/train/tensorboard.h"

namespace cream::train {

namespace fs = std::filesystem;

struct StepMetrics {
  int64_t step = 0;
  double loss = 0.0;
  double lr = 0.0;
  double grad_norm = 0.0;
  double tokens_per_s = 0.0;
  nlohmann::json extra = nlohmann::json::object();  // optional fields merged in
};

struct MemoryUsage {
  int64_t rss_bytes = -1;  // resident set size of this process
  // A CUDA run's caching-allocator peaks since the previous line (bytes handed to
  // tensors, and bytes the allocator held from the driver): the figures the memory
  // plan is checked against. Not cudaMemGetInfo, which counts other processes and the
  // CUDA context and never shows a transient peak.
  std::optional<int64_t> cuda_peak_allocated_bytes;
  std::optional<int64_t> cuda_peak_reserved_bytes;
};

// Resident set size from /proc/self/statm (-1 where unavailable).
int64_t process_rss_bytes();

// RSS, plus on a CUDA device the allocator's peaks since the last call (each call
// restarts them). Call it only in runs that already use `device`.
MemoryUsage current_memory_usage(const torch::Device& device);

// Where a run starts: fresh (an existing file is emptied) or resumed after `step`
// (lines of later steps, and unreadable lines such as a torn last line, dropped).
struct MetricsStart {
  std::optional<int64_t> resumed_step;
  static MetricsStart fresh() { return {}; }
  static MetricsStart resume_after(int64_t step) { return {step}; }
};

class MetricsLog {
 public:
  using MemoryProbe = std::function<MemoryUsage()>;

  // current_memory_usage(device), as a probe.
  static MemoryProbe memory_probe(const torch::Device& device);

  // Opens `path` for appending (creating parent folders); on resume, rewrites the
  // file atomically to the lines with step <= resumed step first. `memory` is
  // called once per line (default: RSS only; CUDA runs pass memory_probe(their device));
  // an empty probe omits the "memory" field.
  MetricsLog(const fs::path& path, MetricsStart start, MemoryProbe memory = memory_probe(torch::kCPU));

  // Appends {"step","loss","lr","grad_norm","tokens_per_s","memory":{...}, extra...}
  // and flushes. Extra keys may not shadow the standard ones (cream::Error).
  // After also_write_tensorboard, the same numbers go to the event file too.
  void append(const StepMetrics& metrics);

  // log.tensorboard: from now on, every appended line is also written as scalars
  // to a new event file in `folder`. The file starts with a SessionLog START after
  // the resumed step (or at step 1 when fresh), so TensorBoard hides the steps a
  // killed run logged after its checkpoint (its older file keeps them).
  void also_write_tensorboard(const fs::path& folder);

  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
  MemoryProbe memory_;
  std::optional<int64_t> resumed_step_;
  std::ofstream out_;
  std::unique_ptr<TensorboardWriter> tensorboard_;
};

// The TensorBoard scalars of one metrics.jsonl record: loss, lr, grad_norm and
// tokens_per_s as "train/<key>", memory fields as "memory/<key>", "eval_<rest>"
// extras as "eval/<rest>", other numeric extras under their own key; "step",
// nulls (non-finite values) and non-numbers are left out.
std::vector<TensorboardScalar> tensorboard_scalars(const nlohmann::json& record);

// Keeps the lines of a metrics.jsonl whose "step" is <= max_step (helper of
// MetricsLog, exposed for tests): drops later steps and lines that do not parse.
std::string metrics_lines_up_to(const std::string& contents, int64_t max_step);

}  // namespace cream::train
