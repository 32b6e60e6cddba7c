// Learning-rate schedules, as a pure function of the optimizer step.
//
// `lr_at(k)` is the rate the k-th optimizer step uses (k = 0, 1, ..., total-1).
// With lr = peak rate, m = min_lr, W = warmup steps, T = total steps:
//
//   warm-up fraction g(k), for k < W (W >= 1):
//     log    : g = ln(k + 1) / ln(W')          (DeepSpeed WarmupLR, warmup_type 'log')
//     linear : g = k / W'                      (DeepSpeed WarmupLR, warmup_type 'linear')
//     where W' = max(2, W) exactly as DeepSpeed clamps warmup_num_steps (ln(1) = 0
//     would divide by zero). W = 0 means "no warm-up" (our extension: DeepSpeed
//     would silently clamp it to 2); W = 1 therefore warms up over 2 steps.
//   The warm-up runs from m (at k = 0) to lr; a log warm-up reaches lr at k = W'-1.
//
//   constant     : lr_at(k) = m + (lr - m) g(k) during warm-up, then lr
//                  (DeepSpeed WarmupLR; with W = 0 simply lr).
//   warmup_decay : during warm-up as above, then (DeepSpeed WarmupDecayLR)
//                  lr_at(k) = m + (lr - m) * max(0, (T - k) / max(1, T - W'))
//                  so the decay counts the first post-warm-up step as full rate and
//                  reaches m at k = T, one step after the last step: the last step
//                  (k = T-1) uses m + (lr - m) / (T - W'). This is DeepSpeed's
//                  counting, kept on purpose so the authors' recipe is reproduced.
//   cosine       : during warm-up as above, then with p = (k - W') / max(1, T - W'),
//                  lr_at(k) = m + (lr - m) * 0.5 * (1 + cos(pi * min(p, 1)))
//                  (the counting of HF get_cosine_schedule_with_warmup, with a floor m).
//
// DeepSpeed's engine steps its scheduler after each optimizer step, so there the
// optimizer step k uses DeepSpeed's value at iteration k-1 (and warmup_min_lr at
// k = 0, DeepSpeed >= 0.15.3). We index by the step that uses the rate instead:
// lr_at(k) is DeepSpeed's value at iteration k, the formula above.
#pragma once

#include <cstdint>
#include <string>

namespace cream::train {

enum class ScheduleKind { kConstant, kWarmupDecay, kCosine };
enum class WarmupKind { kLinear, kLog };

struct ScheduleOptions {
  ScheduleKind kind = ScheduleKind::kConstant;
  double lr = 0.0;            // peak rate (optim.lr)
  double min_lr = 0.0;        // warm-up start and decay floor (schedule.min_lr)
  int64_t warmup_steps = 0;   // schedule.warmup_steps
  WarmupKind warmup = WarmupKind::kLog;
  int64_t total_steps = 0;    // train.steps; needed by warmup_decay and cosine
};

// Parses the config spellings `constant|warmup_decay|cosine` and `linear|log`;
// throws cream::Error naming the key `schedule.name` / `schedule.warmup_type`.
ScheduleKind parse_schedule_kind(const std::string& name);
WarmupKind parse_warmup_kind(const std::string& name);

class LrSchedule {
 public:
  // Validates the options (throws cream::Error naming the offending config key).
  explicit LrSchedule(const ScheduleOptions& options);

  // Rate for the 0-based optimizer step `step` (>= 0; steps past the end stay at
  // the final value of the formula).
  double lr_at(int64_t step) const;

  const ScheduleOptions& options() const { return options_; }

 private:
  double warmup_fraction(int64_t step) const;
  double decay_fraction(int64_t step) const;

  ScheduleOptions options_;
  int64_t warmup_span_;  // W' above (0 when there is no warm-up)
};

}  // namespace cream::train
