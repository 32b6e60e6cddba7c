#include "cream/train/schedule.h"

#include <algorithm>
#include <cmath>

#include "cream/util/error.h"

namespace cream::train {

ScheduleKind parse_schedule_kind(const std::string& name) {
  if (name == "constant") return ScheduleKind::kConstant;
  if (name == "warmup_decay") return ScheduleKind::kWarmupDecay;
  if (name == "cosine") return ScheduleKind::kCosine;
  throw Error("schedule.name: unknown schedule '" + name +
              "' (expected constant, warmup_decay or cosine)");
}

WarmupKind parse_warmup_kind(const std::string& name) {
  if (name == "linear") return WarmupKind::kLinear;
  if (name == "log") return WarmupKind::kLog;
  throw Error("schedule.warmup_type: unknown warm-up '" + name + "' (expected linear or log)");
}

LrSchedule::LrSchedule(const ScheduleOptions& options) : options_(options) {
  CREAM_CHECK(std::isfinite(options.lr) && options.lr >= 0.0,
              "optim.lr: must be a finite number >= 0, got " + std::to_string(options.lr));
  CREAM_CHECK(std::isfinite(options.min_lr) && options.min_lr >= 0.0 && options.min_lr <= options.lr,
              "schedule.min_lr: must be in [0, optim.lr], got " + std::to_string(options.min_lr));
  CREAM_CHECK(options.warmup_steps >= 0,
              "schedule.warmup_steps: must be >= 0, got " + std::to_string(options.warmup_steps));
  if (options.kind != ScheduleKind::kConstant) {
    CREAM_CHECK(options.total_steps >= 1,
                "train.steps: must be >= 1 for a decaying schedule, got " +
                    std::to_string(options.total_steps));
  }
  // DeepSpeed clamps warmup_num_steps to 2 so that ln(W) is never 0.
  warmup_span_ = options.warmup_steps == 0 ? 0 : std::max<int64_t>(2, options.warmup_steps);
}

double LrSchedule::warmup_fraction(int64_t step) const {
  if (options_.warmup == WarmupKind::kLog) {
    return std::log(static_cast<double>(step + 1)) / std::log(static_cast<double>(warmup_span_));
  }
  return static_cast<double>(step) / static_cast<double>(warmup_span_);
}

double LrSchedule::decay_fraction(int64_t step) const {
  const double span = static_cast<double>(std::max<int64_t>(1, options_.total_steps - warmup_span_));
  switch (options_.kind) {
    case ScheduleKind::kConstant:
      return 1.0;
    case ScheduleKind::kWarmupDecay:
      return std::max(0.0, static_cast<double>(options_.total_steps - step) / span);
    case ScheduleKind::kCosine: {
      const double progress = std::min(1.0, static_cast<double>(step - warmup_span_) / span);
      return 0.5 * (1.0 + std::cos(M_PI * progress));
    }
  }
  return 1.0;
}

double LrSchedule::lr_at(int64_t step) const {
  CREAM_CHECK(step >= 0, "learning-rate schedule: negative step " + std::to_string(step));
  const double gamma = step < warmup_span_ ? warmup_fraction(step) : decay_fraction(step);
  return options_.min_lr + (options_.lr - options_.min_lr) * gamma;
}

}  // namespace cream::train
