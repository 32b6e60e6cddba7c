// Autoregressive decoding with a KV cache: the prompt runs once, then each new token
// attends to the cached keys and values of everything before it.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "cream/model/llama.h"

namespace cream::eval {

struct GenerateOptions {
  int64_t max_new_tokens = 64;
  double temperature = 0.0;  // 0: greedy (argmax)
  double top_p = 1.0;        // nucleus sampling when temperature > 0
  uint64_t seed = 0;
  std::vector<int64_t> stop_ids;  // e.g. EOS: generation ends after emitting one
  bool use_cache = true;          // false recomputes the whole sequence each step (for tests)
};

struct GenerateResult {
  std::vector<int64_t> tokens;  // the new tokens only (including a final stop id, if hit)
  bool stopped = false;         // ended on a stop id rather than max_new_tokens
  double seconds = 0;
  double tokens_per_s = 0;      // new tokens per second of decoding (after the prompt)
};

// Position ids are 0..T-1 of the growing sequence. Throws cream::Error on an empty prompt,
// an id outside the vocabulary, temperature < 0 or top_p outside (0, 1].
GenerateResult generate(model::LlamaForCausalLMImpl& model, const std::vector<int64_t>& prompt,
                        const GenerateOptions& options);

// The next token from one row of logits [vocab]: argmax when temperature is 0, else a draw
// from the top-p nucleus of softmax(logits / temperature) using `generator`.
int64_t pick_token(const torch::Tensor& logits, const GenerateOptions& options, at::Generator& generator);

}  // namespace cream::eval
