// Training micro-batches: windows from the loader, positions and tokens from the
// sampler (docs/method.md step 6), stacked into [B, T] tensors.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "cream/data/window_loader.h"
#include "cream/positions/sampler.h"
#include "cream/util/rng.h"

namespace cream::train {

struct MicroBatch {
  torch::Tensor tokens;     // int64 [B, T]; also the labels (HF semantics: not shifted)
  torch::Tensor positions;  // int64 [B, T]
  int64_t label_count = 0;  // next-token labels that count: B x (T - 1)
};

// The data stream of one process: the loader's windows, the sampler and its own
// random stream. Every piece of its state is saved in checkpoints.
struct BatchSource {
  data::WindowLoader& loader;
  positions::Sampler& sampler;
  util::Rng& rng;
  int64_t vocab_size = 0;  // token ids are checked against it on the host (0: not checked)
};

// `batch_size` sequences: for each, the next window, one draw of the sampler for
// the window's length, and the gathered tokens. Ids and positions are range-checked on
// the host; tensors are built on the CPU and moved to `device` (from pinned memory,
// without blocking, on CUDA).
MicroBatch next_micro_batch(BatchSource& source, int64_t batch_size, const torch::Device& device);

// Stacks equal-length rows into an int64 [rows, T] tensor on `device`.
torch::Tensor stack_rows(const std::vector<std::vector<int64_t>>& rows, const torch::Device& device);

}  // namespace cream::train
