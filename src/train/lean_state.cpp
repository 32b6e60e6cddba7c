// The lean modes: bf16 weights and bf16 AdamW moments, no float32 copy of anything
// persistent; the update runs in float32 a chunk at a time and is written back rounded
// (stochastically for bf16-sr and step-in-backward, to nearest for bf16-rtn).
//
// Gradients, by mode:
//   accumulation fp32  a float32 accumulator per parameter; a post-accumulate-grad hook
//                      adds each micro-batch's bf16 .grad into it and frees the .grad, so
//                      bf16 gradients never pile up (also inside the reentrant activation
//                      checkpointing, whose inner backward runs the same hooks).
//   accumulation bf16  the plain .grad: autograd sums micro-batches in bf16.
//   step-in-backward   the hook runs the tensor's AdamW update as soon as its gradient is
//                      final and frees it. Autograd sums every use of a tensor before its
//                      one AccumulateGrad runs (a tied embedding too), so the hook fires
//                      once per backward; a second firing (a tensor shared between two
//                      reentrant checkpointed blocks) is refused rather than updated twice.
#include "train/memory_modes.h"

#include <cmath>

#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>

#include "cream/train/grad.h"
#include "cream/util/error.h"

namespace cream::train::detail {
namespace {

class CallbackHook : public torch::autograd::PostAccumulateGradHook {
 public:
  explicit CallbackHook(std::function<void(const torch::Tensor&)> callback) : callback_(std::move(callback)) {}
  void operator()(const torch::autograd::Variable& tensor) override { callback_(tensor); }

 private:
  std::function<void(const torch::Tensor&)> callback_;
};

enum class GradMode { accumulate_fp32, accumulate_bf16, in_backward };

GradMode grad_mode_of(const TrainingStateOptions& options) {
  if (options.mode == config::MemoryMode::step_in_backward) return GradMode::in_backward;
  return options.accumulation == config::GradAccumulation::fp32 ? GradMode::accumulate_fp32
                                                                : GradMode::accumulate_bf16;
}

class LeanState : public ModeState {
 public:
  LeanState(model::LlamaForCausalLM held, const TrainingStateOptions& options, const DecayRule& decays)
      : model_(std::move(held)), grad_mode_(grad_mode_of(options)),
        overlap_group_(grad_mode_ == GradMode::accumulate_fp32 ? options.group : nullptr) {
    optimizer_ = std::make_unique<AdamW>(named_parameters(*model_, decays), options.adamw);
    for (const auto& p : optimizer_->params()) params_.push_back(p.tensor);
    touched_.assign(params_.size(), false);
    reduced_.assign(params_.size(), false);
    if (grad_mode_ == GradMode::accumulate_fp32) {
      for (const auto& p : params_) accumulators_.push_back(torch::zeros_like(p, torch::kFloat32));
    }
    if (grad_mode_ == GradMode::in_backward) {
      norm_squared_ = torch::zeros({}, params_.front().options().dtype(torch::kFloat64));
    }
    install_hooks();
  }

  ~LeanState() override {
    // The model may outlive this state (compute() hands it out): no hook may point here.
    if (grad_mode_ == GradMode::accumulate_bf16) return;
    for (const auto& p : params_) torch::autograd::impl::set_post_acc_grad_hooks(p, nullptr);
  }

  model::LlamaForCausalLM compute() const override { return model_; }

  void begin_step(double lr) override {
    if (grad_mode_ != GradMode::in_backward) return;
    lr_ = lr;
    optimizer_->begin_step();
    norm_squared_.zero_();
    touched_.assign(params_.size(), false);
    in_step_ = true;
  }

  double clip_gradients(double max_norm) override {
    if (grad_mode_ == GradMode::accumulate_fp32) return train::clip_gradients(touched_accumulators(), max_norm);
    if (grad_mode_ == GradMode::accumulate_bf16) return clip_grad_norm(params_, max_norm);
    CREAM_CHECK(max_norm == 0.0, "train.grad_clip: step-in-backward cannot clip by the global norm (set it to 0)");
    return std::sqrt(norm_squared_.item<double>());
  }

  void step(double lr) override {
    torch::NoGradGuard no_grad;
    if (grad_mode_ == GradMode::accumulate_fp32) {
      optimizer_->step(lr, touched_accumulators());
      for (auto& accumulator : accumulators_) accumulator.zero_();
      touched_.assign(params_.size(), false);
    } else if (grad_mode_ == GradMode::accumulate_bf16) {
      optimizer_->step(lr);
      optimizer_->zero_grad();
    } else {
      // Nothing left to do: the hooks updated every tensor and freed its gradient.
      CREAM_CHECK(in_step_, "TrainingState: step() without begin_step() (step-in-backward)");
      in_step_ = false;
    }
  }

  NamedTensors checkpoint_weights() const override { return detached_parameters(*model_); }

  StateBytes allocated_bytes() const override {
    StateBytes bytes;
    bytes.weights = parameter_bytes(*model_);
    for (const auto& accumulator : accumulators_) bytes.gradients += accumulator.nbytes();
    if (grad_mode_ == GradMode::accumulate_bf16) bytes.gradients = parameter_count(*model_) * 2;
    bytes.optimizer = optimizer_->moment_bytes();
    return bytes;
  }

  void begin_micro_batch(bool last) override { last_micro_batch_ = last; }

  std::vector<torch::Tensor> gradients_to_sum() override {
    CREAM_CHECK(grad_mode_ != GradMode::in_backward, "train.memory_mode: step-in-backward runs on one process only");
    if (grad_mode_ == GradMode::accumulate_bf16) return defined_grads(params_);
    touched_.assign(params_.size(), true);  // every rank updates every tensor alike
    if (!overlap_group_) return accumulators_;
    overlap_group_->wait_pending();
    std::vector<torch::Tensor> rest;  // tensors the final backward gave no gradient
    for (size_t i = 0; i < params_.size(); ++i)
      if (!reduced_[i]) rest.push_back(accumulators_[i]);
    reduced_.assign(params_.size(), false);
    return rest;
  }

  std::vector<torch::Tensor> gradient_sums() const override {
    if (grad_mode_ == GradMode::accumulate_fp32) return touched_accumulators();
    std::vector<torch::Tensor> grads;
    if (grad_mode_ == GradMode::accumulate_bf16)
      for (const auto& p : params_) grads.push_back(p.grad());
    return grads;
  }

  AdamW& optimizer() override { return *optimizer_; }
  const AdamW& optimizer() const override { return *optimizer_; }

 private:
  void install_hooks() {
    if (grad_mode_ == GradMode::accumulate_bf16) return;
    for (size_t i = 0; i < params_.size(); ++i) {
      std::function<void(const torch::Tensor&)> callback;
      if (grad_mode_ == GradMode::accumulate_fp32) {
        callback = [this, i](const torch::Tensor& param) { accumulate(i, param); };
      } else {
        callback = [this, i](const torch::Tensor& param) { update_in_backward(i, param); };
      }
      torch::autograd::impl::set_post_acc_grad_hooks(params_[i], std::make_unique<CallbackHook>(std::move(callback)));
    }
  }

  // Runs inside backward (on the autograd engine's thread on CUDA).
  void accumulate(size_t i, const torch::Tensor& param) {
    torch::NoGradGuard no_grad;
    accumulators_[i].add_(param.grad());
    param.mutable_grad() = torch::Tensor();
    touched_[i] = true;
    // Several processes: the final micro-batch's gradient is final here, so its sum over
    // the ranks starts now and overlaps the rest of backward (hook order is the same on
    // every rank: one graph).
    if (overlap_group_ && last_micro_batch_) {
      CREAM_CHECK(!reduced_[i], "parameter '" + optimizer_->params()[i].name +
                                    "' received a second gradient in one backward after its sum over the ranks "
                                    "started (a tensor shared between checkpointed blocks?)");
      overlap_group_->all_reduce_sum_async(accumulators_[i]);
      reduced_[i] = true;
    }
  }

  // Runs inside backward: the update of one tensor, masked on the device when its
  // gradient is not finite (the caller learns it from the norm, without a sync here).
  void update_in_backward(size_t i, const torch::Tensor& param) {
    CREAM_CHECK(in_step_, "TrainingState: backward without begin_step() (step-in-backward updates inside it)");
    CREAM_CHECK(!touched_[i], "train.memory_mode: step-in-backward: parameter '" + optimizer_->params()[i].name +
                                  "' received a second gradient in one backward; use bf16-sr");
    touched_[i] = true;
    torch::NoGradGuard no_grad;
    const auto grad = param.grad();
    const auto squares = grad_sum_of_squares(grad);
    norm_squared_.add_(squares);
    optimizer_->update(i, grad, lr_, torch::isfinite(squares));
    param.mutable_grad() = torch::Tensor();
  }

  // The accumulators of the tensors that received a gradient this step (undefined for
  // the rest, which AdamW then leaves untouched as torch does).
  std::vector<torch::Tensor> touched_accumulators() const {
    std::vector<torch::Tensor> grads(params_.size());
    for (size_t i = 0; i < params_.size(); ++i) {
      if (touched_[i]) grads[i] = accumulators_[i];
    }
    return grads;
  }

  model::LlamaForCausalLM model_;
  GradMode grad_mode_;
  std::unique_ptr<AdamW> optimizer_;
  std::vector<torch::Tensor> params_;
  std::vector<torch::Tensor> accumulators_;  // accumulation fp32: float32, like each parameter
  std::vector<bool> touched_;                // received a gradient (fp32) / was updated (in backward) this step
  torch::Tensor norm_squared_;               // step-in-backward: float64 sum of squares, on the device
  dist::ProcessGroup* overlap_group_;        // accumulation fp32 with several processes
  std::vector<bool> reduced_;                // its sum over the ranks was started this step
  bool last_micro_batch_ = true;
  double lr_ = 0.0;
  bool in_step_ = false;
};

}  // namespace

std::unique_ptr<ModeState> make_lean_state(model::LlamaForCausalLM held, const TrainingStateOptions& options,
                                           const DecayRule& decays) {
  return std::make_unique<LeanState>(std::move(held), options, decays);
}

}  // namespace cream::train::detail
