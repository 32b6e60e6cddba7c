#include "cream/train/progress.h"

#include <cmath>
#include <cstdio>

#include "cream/util/error.h"

namespace cream::train {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--";
  const auto total = static_cast<long long>(std::llround(seconds));
  char buffer[48];
  if (total < 60) {
    std::snprintf(buffer, sizeof buffer, "%llds", total);
  } else if (total < 3600) {
    std::snprintf(buffer, sizeof buffer, "%lldm%02llds", total / 60, total % 60);
  } else if (total < 86400) {
    std::snprintf(buffer, sizeof buffer, "%lldh%02lldm", total / 3600, (total % 3600) / 60);
  } else {
    std::snprintf(buffer, sizeof buffer, "%lldd%02lldh", total / 86400, (total % 86400) / 3600);
  }
  return buffer;
}

std::string format_progress_line(const ProgressFields& f) {
  char buffer[160];
  std::snprintf(buffer, sizeof buffer, "step %lld/%lld | loss %.4f | lr %.2e | %.0f tok/s | ETA %s",
                static_cast<long long>(f.step), static_cast<long long>(f.total_steps), f.loss, f.lr,
                f.tokens_per_s, f.eta_seconds ? format_duration(*f.eta_seconds).c_str() : "--");
  return buffer;
}

EtaEstimator::EtaEstimator(size_t window) : window_(window) {
  CREAM_CHECK(window >= 1, "progress: the ETA window must hold at least one step");
}

void EtaEstimator::record_step_seconds(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return;
  recent_.push_back(seconds);
  if (recent_.size() > window_) recent_.pop_front();
}

std::optional<double> EtaEstimator::mean_step_seconds() const {
  if (recent_.empty()) return std::nullopt;
  double sum = 0.0;  // re-summed each time: no drift from a running total
  for (double s : recent_) sum += s;
  return sum / static_cast<double>(recent_.size());
}

std::optional<double> EtaEstimator::eta_seconds(int64_t remaining_steps) const {
  const auto mean = mean_step_seconds();
  if (!mean) return std::nullopt;
  return *mean * static_cast<double>(remaining_steps < 0 ? 0 : remaining_steps);
}

}  // namespace cream::train
