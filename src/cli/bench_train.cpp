// `cream bench` (training): times the optimizer step the trainer takes, through the same
// train::TrainingState (no copy of its logic here): begin_step, forward loss_sum and
// backward of sum / labels per micro-batch, global-norm clipping at 1.0 (none for
// step-in-backward, which cannot), the finiteness check, step. Only data loading is left
// out: tokens are random and already on the device, positions 0..seq-1.
#include <chrono>
#include <cmath>
#include <ctime>
#include <utility>

#include "bench.h"
#include "cream/train/device_memory.h"
#include "cream/train/training_state.h"
#include "cream/util/error.h"

namespace cream::cli::bench {
namespace {

using Clock = std::chrono::steady_clock;

// The trainer's recipe for the benched step (its defaults, with decay on).
constexpr double kLearningRate = 1e-4;
constexpr double kWeightDecay = 0.1;
constexpr double kGradClip = 1.0;

// HF Trainer's rule, as the trainer applies it: no decay on biases and norm weights.
bool decays(const std::string& name) {
  const bool bias = name.size() >= 5 && name.compare(name.size() - 5, 5, ".bias") == 0;
  return !bias && name.find("norm") == std::string::npos;
}

// Seconds in each part of the step, summed over the timed steps. The device is synced at
// each boundary so a phase is charged for its own kernels.
struct Phases {
  double forward = 0, backward = 0, clip = 0, step = 0;
};

class PhaseClock {
 public:
  explicit PhaseClock(const torch::Device& device) : device_(device), mark_(Clock::now()) {}
  void charge(double& phase) {
    train::synchronize(device_);
    const auto now = Clock::now();
    phase += std::chrono::duration<double>(now - mark_).count();
    mark_ = now;
  }

 private:
  torch::Device device_;
  Clock::time_point mark_;
};

struct StepResult {
  double loss = 0;
  double grad_norm = 0;
};

double clip_for(config::MemoryMode mode) { return mode == config::MemoryMode::step_in_backward ? 0.0 : kGradClip; }

StepResult train_step(train::TrainingState& state, const std::vector<Batch>& batches, const BenchSettings& s,
                      Phases& phases) {
  PhaseClock clock(s.device);
  const auto labels = static_cast<double>(s.micro_batches * s.micro_batch * (s.seq - 1));
  state.begin_step(kLearningRate);
  torch::Tensor loss_sum;
  for (const auto& batch : batches) {
    const auto loss = state.compute()->loss_sum(batch.tokens, batch.positions, batch.tokens);
    clock.charge(phases.forward);
    (loss.sum / labels).backward();
    loss_sum = loss_sum.defined() ? loss_sum + loss.sum.detach() : loss.sum.detach();
    clock.charge(phases.backward);
  }
  StepResult result;
  result.grad_norm = state.clip_gradients(clip_for(s.memory_mode));
  result.loss = loss_sum.item<double>() / labels;  // one host sync per step, as the trainer
  // (step-in-backward's norm is summed from the gradients it applied inside backward.)
  CREAM_CHECK(std::isfinite(result.loss) && std::isfinite(result.grad_norm),
              "bench: non-finite loss " + std::to_string(result.loss) + " or gradient norm " +
                  std::to_string(result.grad_norm) + " (--memory-mode " + config::to_string(s.memory_mode) + ")");
  clock.charge(phases.clip);
  state.step(kLearningRate);
  clock.charge(phases.step);
  return result;
}

std::unique_ptr<train::TrainingState> build_state(const BenchSettings& s) {
  const auto held = random_model(s.config, train::held_weight_options(s.memory_mode, s.dtype, s.device), s.seed);
  train::TrainingStateOptions options;
  options.mode = s.memory_mode;
  options.accumulation = s.grad_accumulation.value_or(config::GradAccumulation::fp32);
  options.adamw.weight_decay = kWeightDecay;
  options.seed = s.seed;
  auto state = std::make_unique<train::TrainingState>(held, s.dtype, s.device, options, decays);
  auto compute = state->compute();
  // The batches are valid by construction; the range checks would sync the device.
  compute->check_inputs_on_device = false;
  compute->model->activation_checkpointing = s.checkpointing_stride > 0;
  compute->model->activation_checkpointing_stride = std::max<int64_t>(1, s.checkpointing_stride);
  return state;
}

Json state_bytes_json(const train::StateBytes& b) {
  return {{"weights", b.weights},     {"gradients", b.gradients}, {"optimizer", b.optimizer},
          {"masters", b.masters},     {"host", b.host},           {"device_total", b.device_total()}};
}

Json phase_json(const Phases& p, size_t steps) {
  auto ms = [&](double seconds) { return rounded(1000 * seconds / static_cast<double>(steps), 100); };
  return {{"forward", ms(p.forward)}, {"backward", ms(p.backward)}, {"clip", ms(p.clip)}, {"step", ms(p.step)}};
}

}  // namespace

Json run_train(const BenchSettings& s) {
  MemoryWatch memory(s.device);  // baseline before the model exists
  auto state = build_state(s);
  // Fresh tokens for every step, made up front: on one repeated batch the model would
  // memorise it within a few steps, and the loss would no longer say the step is sane.
  std::vector<std::vector<Batch>> steps(static_cast<size_t>(s.warmup + s.steps));
  uint64_t batch_seed = s.seed;
  for (auto& batches : steps)
    for (int64_t i = 0; i < s.micro_batches; ++i)
      batches.push_back(random_batch(s.config.vocab_size, s.micro_batch, s.seq, s.device, ++batch_seed));

  Phases untimed, phases;
  for (int64_t i = 0; i < s.warmup; ++i) train_step(*state, steps[static_cast<size_t>(i)], s, untimed);
  memory.restart_peaks();
  Timing timing;
  StepResult last;
  const std::clock_t cpu_started = std::clock();
  for (int64_t i = 0; i < s.steps; ++i) {
    train::synchronize(s.device);
    const auto started = Clock::now();
    last = train_step(*state, steps[static_cast<size_t>(s.warmup + i)], s, phases);
    train::synchronize(s.device);
    timing.seconds.push_back(std::chrono::duration<double>(Clock::now() - started).count());
  }
  timing.cpu_seconds = static_cast<double>(std::clock() - cpu_started) / CLOCKS_PER_SEC;

  const int64_t tokens_per_step = s.micro_batches * s.micro_batch * s.seq;
  const auto compute_dtype = s.dtype == config::Dtype::bf16 ? torch::kBFloat16 : torch::kFloat;
  Json json = {{"bench", "train"}};
  json.update(settings_json(s));
  json["seq"] = s.seq;
  json["micro_batches"] = s.micro_batches;
  json["tokens_per_step"] = tokens_per_step;
  json["memory_mode"] = config::to_string(s.memory_mode);
  json["grad_accumulation"] = s.grad_accumulation ? Json(config::to_string(*s.grad_accumulation)) : Json(nullptr);
  json["checkpointing"] = checkpointing_name(s.checkpointing_stride);
  json["grad_clip"] = clip_for(s.memory_mode);
  json["sdpa_backend"] = model::sdpa_backend(s.config, s.seq, compute_dtype, s.device);
  json.update(speed_json(s, timing, tokens_per_step, training_flops_per_token(s.config, s.seq)));
  json["peak_memory_bytes"] = memory.peak_bytes();
  json["memory"] = memory.report();
  json["state_bytes"] = state_bytes_json(state->allocated_bytes());
  json["final_loss"] = rounded(last.loss, 1e4);
  json["grad_norm"] = rounded(last.grad_norm, 1e4);
  json["phase_ms"] = phase_json(phases, timing.seconds.size());
  return json;
}

}  // namespace cream::cli::bench
