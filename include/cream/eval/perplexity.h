// Perplexity (docs/evals.md "Perplexity"): truncate mode, the CREAM authors' protocol (the
// first T tokens of each long-enough document, i.e. BOS + its first T-1 tokens), and
// sliding mode, standard strided perplexity (every token scored exactly once, with as much
// context as a window of T allows). Losses come from the model's chunked loss_sum, so no
// [T, vocab] float32 tensor for a whole window ever exists.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cream/data/token_dataset.h"
#include "cream/model/config.h"
#include "cream/model/llama.h"

namespace cream::eval {

enum class PerplexityMode { Truncate, Sliding };

const char* mode_name(PerplexityMode mode);  // "truncate" / "sliding"
PerplexityMode parse_mode(const std::string& text);  // throws naming --mode

// `--rope-scaling TYPE:FACTOR[:ORIGINAL]`: replaces the config's rope scaling (type "none"
// or "default" removes it; ORIGINAL defaults to the config's original window). longrope is
// refused (it needs per-dimension factors). Throws one line naming --rope-scaling.
model::RopeScaling parse_rope_override(const std::string& spec, const model::LlamaConfig& config);

// Summed negative log-likelihood of the scored tokens of one document (or window set).
struct DocumentScore {
  double nll = 0.0;
  int64_t tokens = 0;   // tokens scored
  int64_t windows = 0;  // forward passes
};

// One window: `tokens` at positions 0..n-1, scoring the last `scored` tokens (each against
// the tokens before it; the window's first token is never scored).
DocumentScore score_window(model::LlamaForCausalLMImpl& model, const std::vector<int32_t>& tokens, int64_t scored);

// Truncate mode: the window of the document's first `length` tokens (all but the first scored).
DocumentScore score_truncated(model::LlamaForCausalLMImpl& model, const std::vector<int32_t>& document,
                              int64_t length);

// The windows of strided perplexity over a document of `size` tokens: begin advances by
// `stride`, each window is [begin, min(begin + length, size)) and scores its tokens after the
// previous window's end. With stride < length every token but the first is scored exactly
// once; with stride == length the windows are independent (each window's first token is
// context only). Stops at the window reaching the end.
struct Window {
  int64_t begin = 0, end = 0, scored = 0;
};
std::vector<Window> sliding_windows(int64_t size, int64_t length, int64_t stride);
DocumentScore score_sliding(model::LlamaForCausalLMImpl& model, const std::vector<int32_t>& document, int64_t length,
                            int64_t stride);

struct PerplexityOptions {
  PerplexityMode mode = PerplexityMode::Truncate;
  std::vector<int64_t> lengths;
  int64_t stride = 0;       // sliding only; 0: length / 2
  int64_t max_documents = 50;  // 0: every eligible document
  // Called after each document (length, documents done, documents in total).
  std::function<void(int64_t, int64_t, int64_t)> progress;
  // Polled after each document: true ends the evaluation there (SIGINT/SIGTERM); the
  // results so far come back, the length it stopped in marked partial.
  std::function<bool()> stop;
};

struct LengthResult {
  int64_t length = 0;
  int64_t stride = 0;  // sliding only
  double ppl_token = 0.0;     // exp(total NLL / total scored tokens)
  double ppl_doc_mean = 0.0;  // mean of per-document perplexities
  double nll = 0.0;
  int64_t tokens_scored = 0;
  int64_t documents = 0;
  int64_t windows = 0;
  double seconds = 0.0;
  double tokens_per_s = 0.0;  // tokens through the model (context included) per second
  bool partial = false;       // stopped before every document was scored
};

// Checks the options (lengths >= 2, stride in [1, length]) and which documents qualify:
// truncate needs documents of at least max(lengths) tokens (the first max_documents of
// them); sliding takes the first max_documents documents of at least 2 tokens. Throws one
// line when none qualifies.
std::vector<uint64_t> select_documents(const data::TokenDataset& data, const PerplexityOptions& options);
void check_options(const PerplexityOptions& options);

// Scores `documents` (token ids, each starting with BOS) at every length, under NoGradGuard.
std::vector<LengthResult> evaluate_perplexity(model::LlamaForCausalLMImpl& model,
                                              const std::vector<std::vector<int32_t>>& documents,
                                              const PerplexityOptions& options);

// The JSON record: model folder, its rope config and any override, the protocol, and one
// object per length.
nlohmann::json perplexity_json(const std::string& model_folder, const model::LlamaConfig& model_config,
                               const std::optional<std::string>& rope_override, const std::string& data_folder,
                               const PerplexityOptions& options, const std::vector<uint64_t>& documents,
                               const std::vector<LengthResult>& results);

// Reads the chosen documents, each cut to its first `max_tokens` tokens (0: whole).
std::vector<std::vector<int32_t>> read_documents(const data::TokenDataset& data, const std::vector<uint64_t>& chosen,
                                                 int64_t max_tokens);

// A whole `cream eval ppl` run, command line aside.
struct PerplexityRequest {
  std::string model_folder;
  std::string data_folder;
  PerplexityOptions options;
  std::optional<std::string> rope_override;  // TYPE:FACTOR[:ORIGINAL]
  std::vector<std::string> rope_params;      // key=value, after rope_override (model_overrides.h)
  torch::ScalarType dtype = torch::kFloat;
  torch::Device device = torch::kCPU;
};

// Checks everything that can be checked before loading weights (data folder, tokenizer
// compatibility, the rope override, document eligibility), warns about lengths beyond the
// model's window, loads the model and scores. Returns perplexity_json's record.
nlohmann::json run_perplexity(const PerplexityRequest& request);

}  // namespace cream::eval
