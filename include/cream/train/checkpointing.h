// Activation checkpointing: trade compute for memory in the backward pass.
#pragma once

#include <functional>

#include <torch/torch.h>

namespace cream::train {

using BlockFunction = std::function<torch::Tensor(const torch::Tensor&)>;

// Runs `fn(input)` without recording the graph or keeping its activations; only
// `input` is saved. In backward, `fn` is run again with gradients enabled on a
// detached copy of `input`, and the incoming gradient is back-propagated through
// that recomputation: gradients accumulate into the parameters `fn` closes over
// (exactly like PyTorch's reentrant torch.utils.checkpoint) and the gradient of
// `input` is returned to the outer graph.
//
// The random-number state of the CPU generator and, for a CUDA input, of that
// device's generator is captured before the forward and replayed for the
// recomputation (then restored), so dropout-like randomness recomputes identically.
// `fn` must otherwise be a pure function of `input` and its parameters: it must not
// change parameters or other state between the forward and the backward.
// When grad mode is off this is just `fn(input)`. When `input` does not require a
// gradient (e.g. the very first block), a gradient-requiring alias is used so that
// the parameters still receive theirs. Double backward is not supported.
torch::Tensor checkpoint(const BlockFunction& fn, const torch::Tensor& input);

}  // namespace cream::train
