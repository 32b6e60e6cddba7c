// fp32-masters: the optimizer updates float32 weights with float32 AdamW moments.
// model.dtype fp32 trains the held model itself; bf16 runs forward and backward on a
// bf16 copy, converts its gradients into float32 master gradients, and copies the
// updated masters back into the copy after each step.
#include "train/memory_modes.h"

#include "cream/train/grad.h"

namespace cream::train::detail {
namespace {

class MastersState : public ModeState {
 public:
  MastersState(model::LlamaForCausalLM held, config::Dtype dtype, const TrainingStateOptions& options,
               const DecayRule& decays)
      : master_(std::move(held)), mixed_(dtype == config::Dtype::bf16) {
    const auto device = master_->parameters().front().device();
    compute_ = mixed_ ? copy_model(*master_, torch::TensorOptions().dtype(torch::kBFloat16).device(device)) : master_;
    optimizer_ = std::make_unique<AdamW>(named_parameters(*master_, decays), options.adamw);
    for (const auto& p : optimizer_->params()) clipped_.push_back(p.tensor);
  }

  model::LlamaForCausalLM compute() const override { return compute_; }

  double clip_gradients(double max_norm) override {
    if (mixed_) copy_grads_to_masters();
    return clip_grad_norm(clipped_, max_norm);
  }

  std::vector<torch::Tensor> gradients_to_sum() override {
    if (mixed_) copy_grads_to_masters();
    return defined_grads(clipped_);
  }

  void refresh_compute(const std::vector<bool>& received) override {
    if (!mixed_) return;
    torch::NoGradGuard no_grad;
    auto targets = compute_->parameters();
    const auto sources = master_->parameters();
    for (size_t i = 0; i < targets.size(); ++i)
      if (received[i]) targets[i].copy_(sources[i]);
  }

  void step(double lr) override {
    optimizer_->step(lr);
    optimizer_->zero_grad();
    if (mixed_) copy_weights(*master_, *compute_);
  }

  NamedTensors checkpoint_weights() const override { return detached_parameters(*master_); }

  StateBytes allocated_bytes() const override {
    StateBytes bytes;
    bytes.weights = parameter_bytes(*compute_);
    bytes.gradients = parameter_count(*master_) * sizeof(float);
    bytes.optimizer = optimizer_->moment_bytes();
    bytes.masters = mixed_ ? parameter_bytes(*master_) : 0;
    return bytes;
  }

  AdamW& optimizer() override { return *optimizer_; }
  const AdamW& optimizer() const override { return *optimizer_; }

 private:
  // The compute gradients, in float32, become the master gradients; each bf16 gradient
  // is freed right after its conversion, so at most one exists beside the float32 ones.
  void copy_grads_to_masters() {
    auto sources = compute_->parameters();
    auto targets = master_->parameters();
    for (size_t i = 0; i < targets.size(); ++i) {
      if (sources[i].grad().defined()) targets[i].mutable_grad() = sources[i].grad().to(torch::kFloat);
      sources[i].mutable_grad() = torch::Tensor();
    }
  }

  model::LlamaForCausalLM master_;
  model::LlamaForCausalLM compute_{nullptr};
  bool mixed_;
  std::unique_ptr<AdamW> optimizer_;
  std::vector<torch::Tensor> clipped_;
};

}  // namespace

std::unique_ptr<ModeState> make_masters_state(model::LlamaForCausalLM held, config::Dtype dtype,
                                              const TrainingStateOptions& options, const DecayRule& decays) {
  return std::make_unique<MastersState>(std::move(held), dtype, options, decays);
}

}  // namespace cream::train::detail
