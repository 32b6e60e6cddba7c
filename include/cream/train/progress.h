// The console progress line:
//   step 12/1000 | loss 3.2104 | lr 2.00e-05 | 1234 tok/s | ETA 1h02m
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>

namespace cream::train {

// "42s", "5m07s", "1h02m", "3d04h"; "--" for a negative or non-finite duration.
std::string format_duration(double seconds);

struct ProgressFields {
  int64_t step = 0;   // as displayed (the lead's loop shows completed steps)
  int64_t total_steps = 0;
  double loss = 0.0;
  double lr = 0.0;
  double tokens_per_s = 0.0;
  std::optional<double> eta_seconds;  // absent: "ETA --"
};

std::string format_progress_line(const ProgressFields& fields);

// Estimates the remaining time from a moving average of the last `window` step
// durations (steps after a resume or a checkpoint save are outliers the window
// forgets).
class EtaEstimator {
 public:
  explicit EtaEstimator(size_t window = 20);

  void record_step_seconds(double seconds);

  // Mean of the recorded window, or nullopt before the first step.
  std::optional<double> mean_step_seconds() const;

  // remaining_steps x mean step time, or nullopt before the first step.
  std::optional<double> eta_seconds(int64_t remaining_steps) const;

 private:
  size_t window_;
  std::deque<double> recent_;
};

}  // namespace cream::train
