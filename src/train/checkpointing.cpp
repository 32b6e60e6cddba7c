#include "cream/train/checkpointing.h"

#include <mutex>
#include <utility>
#include <vector>

#include "cream/util/error.h"

namespace cream::train {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Random-generator states of the devices a block runs on.
struct RngSnapshot {
  std::vector<std::pair<at::Generator, torch::Tensor>> states;

  static RngSnapshot capture(const torch::Tensor& input) {
    RngSnapshot snapshot;
    snapshot.add(at::globalContext().defaultGenerator(torch::Device(torch::kCPU)));
    if (input.is_cuda()) snapshot.add(at::globalContext().defaultGenerator(input.device()));
    return snapshot;
  }

  void add(at::Generator generator) {  // a handle: copying it shares the generator
    std::lock_guard<std::mutex> lock(generator.mutex());
    states.emplace_back(generator, generator.get_state());
  }

  void restore() const {
    for (const auto& [generator, state] : states) {
      at::Generator handle = generator;
      std::lock_guard<std::mutex> lock(handle.mutex());
      handle.set_state(state);
    }
  }
};

// Carries the block and its forward RNG state to the backward (ctx->saved_data
// only holds IValues, so it travels as a capsule).
struct CheckpointedBlock : torch::CustomClassHolder {
  BlockFunction fn;
  RngSnapshot forward_rng;
};

class CheckpointFunction : public torch::autograd::Function<CheckpointFunction> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& input, const BlockFunction& fn) {
    auto block = c10::make_intrusive<CheckpointedBlock>();
    block->fn = fn;
    block->forward_rng = RngSnapshot::capture(input);
    torch::Tensor output;
    {
      torch::NoGradGuard no_grad;  // nothing inside the block is recorded or kept
      output = fn(input);
    }
    CREAM_CHECK(output.defined(), "activation checkpointing: the block returned an undefined tensor");
    ctx->save_for_backward({input});
    ctx->saved_data["block"] = c10::IValue::make_capsule(std::move(block));
    return output;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto capsule = ctx->saved_data["block"].toCapsule();
    const auto& block = *static_cast<const CheckpointedBlock*>(capsule.get());
    const auto input = ctx->get_saved_variables().at(0).detach().requires_grad_(true);
    if (!grad_outputs.at(0).defined()) return {torch::Tensor(), torch::Tensor()};

    torch::Tensor output;
    {
      // Replay the forward's randomness, then put the current state back.
      const auto current_rng = RngSnapshot::capture(input);
      block.forward_rng.restore();
      try {
        torch::AutoGradMode enable_grad(true);
        output = block.fn(input);
      } catch (...) {
        current_rng.restore();
        throw;
      }
      current_rng.restore();
    }
    if (output.requires_grad()) {
      // Reentrant backward: accumulates into the block's parameters and input.grad().
      torch::autograd::backward({output}, {grad_outputs[0]});
    }
    return {input.grad(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor checkpoint(const BlockFunction& fn, const torch::Tensor& input) {
  CREAM_CHECK(static_cast<bool>(fn), "activation checkpointing: empty block function");
  CREAM_CHECK(input.defined(), "activation checkpointing: undefined input tensor");
  if (!torch::GradMode::is_enabled()) return fn(input);
  if (input.requires_grad()) return CheckpointFunction::apply(input, fn);
  // Without a gradient-requiring input autograd would not record the node at all,
  // and the block's parameters would silently get no gradient.
  return CheckpointFunction::apply(input.detach().requires_grad_(true), fn);
}

}  // namespace cream::train
