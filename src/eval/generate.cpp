#include "cream/eval/generate.h"

#include <algorithm>
#include <chrono>

#include <ATen/CPUGeneratorImpl.h>

#include "cream/util/error.h"

namespace cream::eval {
namespace {

torch::Tensor as_row(const std::vector<int64_t>& ids, const torch::Device& device) {
  return torch::tensor(ids, torch::kLong).unsqueeze(0).to(device);  // [1, T]
}

torch::Tensor position_row(int64_t begin, int64_t end, const torch::Device& device) {
  return torch::arange(begin, end, torch::TensorOptions().dtype(torch::kLong)).unsqueeze(0).to(device);
}

void check_options(const model::LlamaForCausalLMImpl& model, const std::vector<int64_t>& prompt,
                   const GenerateOptions& options) {
  CREAM_CHECK(!prompt.empty(), "generate: the prompt has no tokens");
  const auto vocab = model.config().vocab_size;
  for (auto id : prompt)
    CREAM_CHECK(id >= 0 && id < vocab, "generate: prompt token " + std::to_string(id) +
                                           " is outside the vocabulary [0, " + std::to_string(vocab) + ")");
  CREAM_CHECK(options.max_new_tokens >= 0, "generate: --max-new-tokens must be >= 0");
  CREAM_CHECK(options.temperature >= 0, "generate: --temperature must be >= 0");
  CREAM_CHECK(options.top_p > 0 && options.top_p <= 1, "generate: --top-p must be in (0, 1]");
}

// Logits [vocab] of the last row of hidden states [1, T, hidden]: only that row is
// projected, so a long prompt never builds [T, vocab] logits.
torch::Tensor last_logits(model::LlamaForCausalLMImpl& model, const torch::Tensor& hidden) {
  return torch::matmul(hidden[0][-1], model.output_weight().t());
}

}  // namespace

int64_t pick_token(const torch::Tensor& logits, const GenerateOptions& options, at::Generator& generator) {
  const auto row = logits.to(torch::kCPU, torch::kDouble);
  if (options.temperature == 0) return row.argmax().item<int64_t>();
  const auto probs = torch::softmax(row / options.temperature, 0);
  const auto sorted = probs.sort(/*dim=*/0, /*descending=*/true);
  const auto& values = std::get<0>(sorted);
  const auto& indices = std::get<1>(sorted);
  // Smallest prefix whose mass reaches top_p (at least one token), renormalised.
  const auto cumulative = values.cumsum(0);
  const int64_t keep = std::max<int64_t>(1, (cumulative < options.top_p).sum().item<int64_t>() + 1);
  const auto nucleus = values.slice(0, 0, std::min(keep, values.size(0)));
  const auto choice = torch::multinomial(nucleus / nucleus.sum(), 1, false, generator).item<int64_t>();
  return indices[choice].item<int64_t>();
}

GenerateResult generate(model::LlamaForCausalLMImpl& model, const std::vector<int64_t>& prompt,
                        const GenerateOptions& options) {
  check_options(model, prompt, options);
  torch::NoGradGuard no_grad;
  const auto device = model.output_weight().device();
  auto generator = at::detail::createCPUGenerator(options.seed);
  std::vector<int64_t> sequence = prompt;
  model::KVCache cache;
  // The prompt once; with the cache, later steps feed only the newest token.
  const auto prompt_hidden = model.hidden_states(as_row(sequence, device), position_row(0, sequence.size(), device),
                                                 options.use_cache ? &cache : nullptr);  // [1, T, hidden]
  auto logits = last_logits(model, prompt_hidden);
  GenerateResult result;
  const auto start = std::chrono::steady_clock::now();
  for (int64_t step = 0; step < options.max_new_tokens; ++step) {
    const int64_t next = pick_token(logits, options, generator);
    result.tokens.push_back(next);
    sequence.push_back(next);
    if (std::find(options.stop_ids.begin(), options.stop_ids.end(), next) != options.stop_ids.end()) {
      result.stopped = true;
      break;
    }
    if (step + 1 == options.max_new_tokens) break;
    const int64_t length = static_cast<int64_t>(sequence.size());
    logits = last_logits(model, options.use_cache ? model.hidden_states(as_row({next}, device),
                                                                         position_row(length - 1, length, device), &cache)
                                                  : model.hidden_states(as_row(sequence, device),
                                                                        position_row(0, length, device)));
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.tokens_per_s = result.seconds > 0 ? result.tokens.size() / result.seconds : 0;
  return result;
}

}  // namespace cream::eval
