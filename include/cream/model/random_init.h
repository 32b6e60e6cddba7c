// A randomly initialised model written straight to disk, one tensor at a time, so that
// `cream init --preset llama2-7b` never holds the whole model in memory.
#pragma once

#include <cstdint>
#include <vector>

#include "cream/io/safetensors.h"
#include "cream/io/tokenizer.h"
#include "cream/model/config.h"

namespace cream::model {

// One io::TensorSource per expected tensor of `config`, each drawn when written: linear
// and embedding weights ~ N(0, std) in float32 from one CPU generator seeded with `seed`
// (in module order, exactly as initialize_weights draws them), norms 1, biases 0, then
// converted to `out`. The same seed therefore gives the same weights as
// initialize_weights(model, seed, std) on a model built in memory.
std::vector<io::TensorSource> random_tensor_sources(const LlamaConfig& config, uint64_t seed, io::DType out,
                                                    double std = 0.02);

// A model created from scratch follows its tokenizer: vocab_size (logged when it changes)
// and the BOS/EOS ids the tokenizer defines.
void adopt_tokenizer(LlamaConfig& config, const io::Tokenizer& tokenizer);

}  // namespace cream::model
