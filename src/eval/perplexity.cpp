// Perplexity: see include/cream/eval/perplexity.h and docs/evals.md "Perplexity".
#include "cream/eval/perplexity.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <sstream>

#include <torch/torch.h>

#include "cream/util/error.h"
#include "cream/util/parse.h"

namespace cream::eval {
namespace {

constexpr int64_t kIgnore = -100;

double parse_positive_double(const std::string& text, const std::string& what) {
  const auto value = util::parse_real(text);
  CREAM_CHECK(value && *value > 0.0, "--rope-scaling: " + what + " '" + text + "' is not a positive number");
  return *value;
}

int64_t parse_positive_int(const std::string& text, const std::string& what) {
  const auto value = util::parse_integer(text);
  CREAM_CHECK(value && *value > 0, "--rope-scaling: " + what + " '" + text + "' is not a positive integer");
  return *value;
}

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(text);
  while (std::getline(in, part, separator)) parts.push_back(part);
  if (!text.empty() && text.back() == separator) parts.push_back("");
  return parts;
}

int64_t max_length(const PerplexityOptions& options) {
  return *std::max_element(options.lengths.begin(), options.lengths.end());
}

int64_t stride_for(const PerplexityOptions& options, int64_t length) {
  return options.stride > 0 ? options.stride : std::max<int64_t>(1, length / 2);
}

}  // namespace

const char* mode_name(PerplexityMode mode) { return mode == PerplexityMode::Truncate ? "truncate" : "sliding"; }

PerplexityMode parse_mode(const std::string& text) {
  if (text == "truncate") return PerplexityMode::Truncate;
  if (text == "sliding") return PerplexityMode::Sliding;
  throw Error("--mode: unknown mode '" + text + "' (expected truncate or sliding)");
}

model::RopeScaling parse_rope_override(const std::string& spec, const model::LlamaConfig& config) {
  const auto parts = split(spec, ':');
  CREAM_CHECK(parts.size() == 2 || parts.size() == 3,
              "--rope-scaling: '" + spec + "' is not TYPE:FACTOR[:ORIGINAL] (e.g. linear:8:4096)");
  const auto type = model::parse_rope_type(parts[0]);
  CREAM_CHECK(type.has_value(), "--rope-scaling: unknown type '" + parts[0] +
                                    "' (known: none, linear, ntk, dynamic, yarn, yarn-cream, llama3)");
  CREAM_CHECK(*type != model::RopeType::LongRope,
              "--rope-scaling: longrope needs per-dimension factors and cannot be given as TYPE:FACTOR");
  model::RopeScaling rope;
  rope.type = *type;
  rope.factor = parse_positive_double(parts[1], "factor");
  rope.original_max_position_embeddings =
      parts.size() == 3 ? parse_positive_int(parts[2], "original length") : config.original_window();
  if (rope.type == model::RopeType::Default) {
    rope.factor = 1.0;
    rope.original_max_position_embeddings.reset();
  }
  return rope;
}

DocumentScore score_window(model::LlamaForCausalLMImpl& model, const std::vector<int32_t>& tokens, int64_t scored) {
  const auto n = static_cast<int64_t>(tokens.size());
  CREAM_CHECK(scored >= 0 && scored <= n, "perplexity: cannot score " + std::to_string(scored) + " of " +
                                              std::to_string(n) + " tokens");
  DocumentScore score;
  score.windows = 1;
  if (n < 2 || scored == 0) return score;
  torch::NoGradGuard no_grad;
  const auto device = model.output_weight().device();
  auto ids = torch::tensor(std::vector<int64_t>(tokens.begin(), tokens.end()), torch::kLong).unsqueeze(0);  // [1, n]
  auto labels = ids.clone();
  // The first token has nothing before it; tokens before the scored tail are context only.
  labels.narrow(1, 0, std::max<int64_t>(1, n - scored)).fill_(kIgnore);
  const auto positions = torch::arange(n, torch::kLong).unsqueeze(0);  // [1, n]
  const auto total = model.loss_sum(ids.to(device), positions.to(device), labels.to(device), kIgnore);
  score.nll = total.sum.to(torch::kCPU, torch::kDouble).item<double>();
  score.tokens = total.count.to(torch::kCPU).item<int64_t>();
  return score;
}

DocumentScore score_truncated(model::LlamaForCausalLMImpl& model, const std::vector<int32_t>& document,
                              int64_t length) {
  CREAM_CHECK(static_cast<int64_t>(document.size()) >= length,
              "perplexity: document of " + std::to_string(document.size()) + " tokens is shorter than " +
                  std::to_string(length));
  const std::vector<int32_t> window(document.begin(), document.begin() + length);
  return score_window(model, window, length);
}

std::vector<Window> sliding_windows(int64_t size, int64_t length, int64_t stride) {
  CREAM_CHECK(length >= 2, "perplexity: window length must be at least 2, got " + std::to_string(length));
  CREAM_CHECK(stride >= 1 && stride <= length, "--stride: must be between 1 and the length " +
                                                   std::to_string(length) + ", got " + std::to_string(stride));
  std::vector<Window> windows;
  int64_t previous_end = 0;
  for (int64_t begin = 0; begin < size; begin += stride) {
    const int64_t end = std::min(begin + length, size);
    windows.push_back({begin, end, end - previous_end});
    previous_end = end;
    if (end == size) break;
  }
  return windows;
}

DocumentScore score_sliding(model::LlamaForCausalLMImpl& model, const std::vector<int32_t>& document, int64_t length,
                            int64_t stride) {
  DocumentScore total;
  for (const auto& w : sliding_windows(static_cast<int64_t>(document.size()), length, stride)) {
    const std::vector<int32_t> window(document.begin() + w.begin, document.begin() + w.end);
    const auto score = score_window(model, window, std::min(w.scored, w.end - w.begin));
    total.nll += score.nll;
    total.tokens += score.tokens;
    total.windows += 1;
  }
  return total;
}

void check_options(const PerplexityOptions& options) {
  CREAM_CHECK(!options.lengths.empty(), "--lengths: give at least one length");
  for (auto length : options.lengths)
    CREAM_CHECK(length >= 2, "--lengths: every length must be at least 2, got " + std::to_string(length));
  CREAM_CHECK(options.max_documents >= 0, "--docs: must be 0 (all) or positive");
  if (options.mode == PerplexityMode::Sliding) {
    for (auto length : options.lengths) {
      const auto stride = stride_for(options, length);
      CREAM_CHECK(stride <= length, "--stride: " + std::to_string(stride) + " is longer than the length " +
                                        std::to_string(length));
    }
  }
  CREAM_CHECK(options.stride >= 0, "--stride: must be positive");
}

std::vector<uint64_t> select_documents(const data::TokenDataset& data, const PerplexityOptions& options) {
  check_options(options);
  const bool truncate = options.mode == PerplexityMode::Truncate;
  const uint64_t needed = truncate ? static_cast<uint64_t>(max_length(options)) : 2;
  const auto limit = static_cast<uint64_t>(options.max_documents);
  std::vector<uint64_t> chosen;
  uint64_t longest = 0;
  for (uint64_t doc = 0; doc < data.num_documents() && (limit == 0 || chosen.size() < limit); ++doc) {
    const auto size = data.document_length(doc);
    longest = std::max(longest, size);
    if (size >= needed) chosen.push_back(doc);
  }
  CREAM_CHECK(!chosen.empty(), data.folder().string() + ": no document has the " + std::to_string(needed) +
                                   " tokens " + (truncate ? "the longest of --lengths needs" : "scoring needs") +
                                   " (longest: " + std::to_string(longest) + ")");
  return chosen;
}

std::vector<LengthResult> evaluate_perplexity(model::LlamaForCausalLMImpl& model,
                                              const std::vector<std::vector<int32_t>>& documents,
                                              const PerplexityOptions& options) {
  check_options(options);
  CREAM_CHECK(!documents.empty(), "perplexity: no documents to score");
  torch::NoGradGuard no_grad;
  model.eval();
  std::vector<LengthResult> results;
  bool stopped = false;
  for (const auto length : options.lengths) {
    if (stopped) break;
    LengthResult result;
    result.length = length;
    const auto start = std::chrono::steady_clock::now();
    double doc_ppl_sum = 0.0;
    int64_t tokens_through = 0;
    for (size_t i = 0; i < documents.size(); ++i) {
      const auto& doc = documents[i];
      DocumentScore score;
      if (options.mode == PerplexityMode::Truncate) {
        score = score_truncated(model, doc, length);
        tokens_through += length;
      } else {
        result.stride = stride_for(options, length);
        score = score_sliding(model, doc, length, result.stride);
        for (const auto& w : sliding_windows(static_cast<int64_t>(doc.size()), length, result.stride))
          tokens_through += w.end - w.begin;
      }
      result.nll += score.nll;
      result.tokens_scored += score.tokens;
      result.windows += score.windows;
      if (score.tokens > 0) {
        doc_ppl_sum += std::exp(score.nll / static_cast<double>(score.tokens));
        result.documents += 1;
      }
      if (options.progress) options.progress(length, static_cast<int64_t>(i + 1), static_cast<int64_t>(documents.size()));
      if (options.stop && options.stop()) {
        stopped = true;
        result.partial = i + 1 < documents.size();
        break;
      }
    }
    if (stopped && result.tokens_scored == 0) break;
    CREAM_CHECK(result.tokens_scored > 0, "perplexity: no token was scored at length " + std::to_string(length));
    result.ppl_token = std::exp(result.nll / static_cast<double>(result.tokens_scored));
    result.ppl_doc_mean = doc_ppl_sum / static_cast<double>(result.documents);
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    result.tokens_per_s = result.seconds > 0 ? static_cast<double>(tokens_through) / result.seconds : 0.0;
    results.push_back(result);
  }
  return results;
}

nlohmann::json perplexity_json(const std::string& model_folder, const model::LlamaConfig& model_config,
                               const std::optional<std::string>& rope_override, const std::string& data_folder,
                               const PerplexityOptions& options, const std::vector<uint64_t>& documents,
                               const std::vector<LengthResult>& results) {
  nlohmann::json j;
  j["eval"] = "ppl";
  j["model"] = model_folder;
  j["data"] = data_folder;
  const auto exported = model_config.to_json();
  j["rope_theta"] = exported.at("rope_theta");
  j["rope_scaling"] = exported.at("rope_scaling");
  j["rope_type"] = model::rope_type_name(model_config.rope.type);
  j["max_position_embeddings"] = model_config.max_position_embeddings;
  j["rope_override"] = rope_override ? nlohmann::json(*rope_override) : nlohmann::json(nullptr);
  j["mode"] = mode_name(options.mode);
  j["protocol"] = options.mode == PerplexityMode::Truncate
                      ? "truncate: first T tokens of each document (BOS + T-1), all but BOS scored"
                      : "sliding: strided windows of T, each token scored once with up to T-1 tokens of context";
  j["lengths"] = options.lengths;
  j["stride"] = options.mode == PerplexityMode::Sliding && options.stride > 0 ? nlohmann::json(options.stride)
                                                                              : nlohmann::json(nullptr);
  j["docs_requested"] = options.max_documents;
  j["docs_used"] = documents.size();
  j["documents"] = documents;
  nlohmann::json per_length = nlohmann::json::array();
  for (const auto& r : results) {
    nlohmann::json row;
    row["length"] = r.length;
    if (options.mode == PerplexityMode::Sliding) row["stride"] = r.stride;
    if (r.partial) row["partial"] = true;  // fewer documents than docs_used
    row["ppl_token"] = r.ppl_token;
    row["ppl_doc_mean"] = r.ppl_doc_mean;
    row["nll_sum"] = r.nll;
    row["tokens_scored"] = r.tokens_scored;
    row["documents"] = r.documents;
    row["windows"] = r.windows;
    row["seconds"] = r.seconds;
    row["tokens_per_s"] = r.tokens_per_s;
    per_length.push_back(row);
  }
  j["results"] = per_length;
  return j;
}

}  // namespace cream::eval
