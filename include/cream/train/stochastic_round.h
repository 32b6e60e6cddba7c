// Stochastic rounding of float32 to bfloat16, and the generator it draws from.
//
// Round-to-nearest loses every update smaller than half a bf16 step (2^-9 relative):
// with lr 2e-5 most AdamW updates of a weight near 1 vanish, and so does most of an
// EMA's 0.1% move. Stochastic rounding rounds up with probability equal to the
// fraction of the step the value has passed, so the expected result is the float32
// value itself and small updates survive on average (llm.c, torchao).
#pragma once

#include <cstdint>
#include <string>

#include <ATen/core/Generator.h>
#include <torch/torch.h>

namespace cream::train {

// Stochastic rounding of float32 `value` to bf16: each element rounds up or down to
// a neighbouring bf16 with probabilities that make the expectation equal `value`
// (finite inputs; inf/NaN pass through). Draws 16 random bits per element from
// `generator` (a generator of value's device type): the bits are added to the
// float32 bit pattern as an integer and the low 16 bits are dropped.
torch::Tensor stochastic_round_bf16(const torch::Tensor& value, at::Generator& generator);

// A generator of `device`'s kind (CPU: mt19937, CUDA: Philox), seeded with `seed`,
// independent of LibTorch's global generators.
at::Generator make_rounding_generator(const torch::Device& device, uint64_t seed);

// The generator's state as a uint8 CPU tensor (what checkpoints store as "rounding_rng"),
// and back. set_generator_state returns false (changing nothing) when `state` does not
// fit the generator, e.g. a CUDA generator's 16 bytes offered to a CPU generator.
torch::Tensor generator_state(at::Generator& generator);
bool set_generator_state(at::Generator& generator, const torch::Tensor& state);

}  // namespace cream::train
