// offload: the device holds only the bf16 weights and their bf16 gradients; the float32
// masters and AdamW moments stay in host memory (the ZeRO-Offload setting of the
// CREAM authors). The step streams tensors through the host in chunks of at most
// kUpdateChunkElements: gradient chunk down, float32 AdamW on the host, bf16 weights up.
//
// On CUDA the copies run on a side stream through two pairs of pinned staging buffers,
// so chunk i+1's download and chunk i-1's upload overlap chunk i's host update. Only the
// staging buffers are pinned: the host reads the masters and moments itself, no DMA does,
// and CUDA's pinned allocator would round each 7B-sized tensor up to a power of two.
// On the CPU the same math runs on whole tensors in the same order as fp32-masters with
// model.dtype bf16, so the two modes train bit for bit alike there.
#include "train/memory_modes.h"

#include <algorithm>
#include <array>

#include "cream/train/grad.h"
#include "cream/util/error.h"

#ifdef CREAM_CUDA
#include <c10/cuda/CUDAEvent.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace cream::train::detail {
namespace {

class OffloadState : public ModeState {
 public:
  OffloadState(model::LlamaForCausalLM held, const torch::Device& device, const TrainingStateOptions& options,
               const DecayRule& decays)
      : masters_(std::move(held)), device_(device) {
    compute_ = copy_model(*masters_, torch::TensorOptions().dtype(torch::kBFloat16).device(device));
    optimizer_ = std::make_unique<AdamW>(named_parameters(*masters_, decays), options.adamw);
    compute_params_ = compute_->parameters();
    if (device_.is_cuda()) allocate_staging();
  }

  model::LlamaForCausalLM compute() const override { return compute_; }

  double clip_gradients(double max_norm) override {
    // The norm is taken on the device; the scaling waits for the host, in float32 there.
    std::vector<torch::Tensor> grads;
    for (const auto& p : compute_params_) grads.push_back(p.grad());
    const double norm = gradients_norm(grads);
    coefficient_ = clip_coefficient(norm, max_norm);
    return norm;
  }

  void step(double lr) override {
    torch::NoGradGuard no_grad;
    optimizer_->begin_step();
    if (device_.is_cuda()) {
      step_through_staging(lr);
    } else {
      step_in_place(lr);
    }
    for (auto& p : compute_params_) p.mutable_grad() = torch::Tensor();
    coefficient_ = 1.0;
  }

  std::vector<torch::Tensor> gradients_to_sum() override { return defined_grads(compute_params_); }

  void refresh_compute(const std::vector<bool>& received) override {
    torch::NoGradGuard no_grad;
    const auto masters = masters_->parameters();
    for (size_t i = 0; i < compute_params_.size(); ++i)
      if (received[i]) compute_params_[i].copy_(masters[i]);
  }

  NamedTensors checkpoint_weights() const override { return detached_parameters(*masters_); }

  StateBytes allocated_bytes() const override {
    StateBytes bytes;
    bytes.weights = parameter_bytes(*compute_);
    bytes.gradients = parameter_count(*compute_) * 2;
    bytes.optimizer = optimizer_->moment_bytes();
    bytes.masters = parameter_bytes(*masters_);
    bytes.host = bytes.optimizer + bytes.masters;
    for (const auto& slot : staging_) bytes.staging += slot.nbytes();
    return bytes;
  }

  AdamW& optimizer() override { return *optimizer_; }
  const AdamW& optimizer() const override { return *optimizer_; }

 private:
  // The host's float32 gradient, clipped as fp32-masters clips its master gradients.
  torch::Tensor host_gradient(const torch::Tensor& grad) const {
    auto g = grad.to(torch::kCPU, torch::kFloat32);
    if (coefficient_ < 1.0) g.mul_(coefficient_);
    return g;
  }

  // CPU device: whole tensors, no copies to overlap.
  void step_in_place(double lr) {
    const auto masters = masters_->parameters();
    for (size_t i = 0; i < compute_params_.size(); ++i) {
      const auto& grad = compute_params_[i].grad();
      if (!grad.defined()) continue;
      optimizer_->update(i, host_gradient(grad), lr);
      compute_params_[i].copy_(masters[i]);
    }
  }

  struct Chunk {
    size_t index;
    int64_t start, end;
  };

  std::vector<Chunk> chunks() const {
    std::vector<Chunk> out;
    for (size_t i = 0; i < compute_params_.size(); ++i) {
      if (!compute_params_[i].grad().defined()) continue;
      const int64_t n = compute_params_[i].numel();
      for (int64_t start = 0; start < n; start += kUpdateChunkElements)
        out.push_back({i, start, std::min(n, start + kUpdateChunkElements)});
    }
    return out;
  }

  void allocate_staging() {
    int64_t largest = 0;
    for (const auto& p : compute_params_) largest = std::max(largest, p.numel());
    const int64_t size = std::min(largest, kUpdateChunkElements);
    // [0], [1]: gradients coming down; [2], [3]: weights going up.
    for (int k = 0; k < 4; ++k)
      staging_.push_back(torch::empty({size}, torch::TensorOptions().dtype(torch::kBFloat16).pinned_memory(true)));
  }

  void step_through_staging(double lr);

  model::LlamaForCausalLM masters_;  // float32, host
  model::LlamaForCausalLM compute_{nullptr};  // bf16, device
  torch::Device device_;
  std::unique_ptr<AdamW> optimizer_;
  std::vector<torch::Tensor> compute_params_;
  std::vector<torch::Tensor> staging_;  // pinned bf16 buffers (CUDA only)
  double coefficient_ = 1.0;
};

#ifdef CREAM_CUDA
void OffloadState::step_through_staging(double lr) {
  const auto work = chunks();
  const auto masters = masters_->parameters();
  const auto index = device_.index();
  auto compute_stream = c10::cuda::getCurrentCUDAStream(index);
  auto side = c10::cuda::getStreamFromPool(false, index);
  // The side stream starts once backward's gradients are complete.
  c10::cuda::CUDAEvent gradients_ready;
  gradients_ready.record(compute_stream);
  gradients_ready.block(side);
  std::array<c10::cuda::CUDAEvent, 2> downloaded, uploaded;
  auto download = [&](size_t j) {
    const auto& c = work[j];
    c10::cuda::CUDAStreamGuard guard(side);
    const auto grad = compute_params_[c.index].grad().reshape({-1}).slice(0, c.start, c.end);
    staging_[j % 2].slice(0, 0, c.end - c.start).copy_(grad, /*non_blocking=*/true);
    downloaded[j % 2].record(side);
  };
  if (!work.empty()) download(0);
  for (size_t j = 0; j < work.size(); ++j) {
    const auto& c = work[j];
    const int64_t length = c.end - c.start;
    if (j + 1 < work.size()) download(j + 1);  // overlaps this chunk's host update
    downloaded[j % 2].synchronize();
    optimizer_->update_range(c.index, c.start, c.end, host_gradient(staging_[j % 2].slice(0, 0, length)), lr);
    uploaded[j % 2].synchronize();  // chunk j-2's upload has left this buffer
    auto up = staging_[2 + j % 2].slice(0, 0, length);
    up.copy_(masters[c.index].view({-1}).slice(0, c.start, c.end));
    c10::cuda::CUDAStreamGuard guard(side);
    compute_params_[c.index].view({-1}).slice(0, c.start, c.end).copy_(up, /*non_blocking=*/true);
    uploaded[j % 2].record(side);
  }
  // The next forward (and any reuse of the freed gradients' memory) waits for the uploads.
  c10::cuda::CUDAEvent done;
  done.record(side);
  done.block(compute_stream);
}
#else
void OffloadState::step_through_staging(double) {
  throw Error("train.memory_mode: offload on a CUDA device needs a CUDA build of cream");
}
#endif

}  // namespace

std::unique_ptr<ModeState> make_offload_state(model::LlamaForCausalLM held, const torch::Device& device,
                                              const TrainingStateOptions& options, const DecayRule& decays) {
  return std::make_unique<OffloadState>(std::move(held), device, options, decays);
}

}  // namespace cream::train::detail
