// Retrieval evaluations: answer checks, teacher-forced scoring, the cell plan and the trial
// loop. See include/cream/eval/retrieval.h; the JSON record and the whole run are in
// retrieval_run.cpp.
#include "cream/eval/retrieval.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "cream/eval/generate.h"
#include "cream/eval/rouge.h"
#include "cream/util/error.h"

namespace cream::eval {
namespace {

char lower_ascii(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

std::string percent_text(double value) {
  std::string text = std::to_string(value);
  text.erase(text.find_last_not_of('0') + 1);
  if (!text.empty() && text.back() == '.') text.pop_back();
  return text;
}

// 5 evenly spaced indices 0..pairs-1 (fewer when pairs < 5), rounded to the nearest.
std::vector<int64_t> spread_indices(int64_t pairs) {
  const int64_t count = std::min<int64_t>(5, pairs);
  std::vector<int64_t> indices;
  for (int64_t i = 0; i < count; ++i) {
    const int64_t index = count == 1 ? 0 : std::llround(static_cast<double>(i) * (pairs - 1) / (count - 1));
    if (indices.empty() || indices.back() != index) indices.push_back(index);
  }
  return indices;
}

double gold_depth(int64_t gold_index, int64_t pairs) {
  return pairs <= 1 ? 0.0 : 100.0 * static_cast<double>(gold_index) / static_cast<double>(pairs - 1);
}

}  // namespace

const char* task_name(RetrievalTask task) {
  switch (task) {
    case RetrievalTask::Passkey: return "passkey";
    case RetrievalTask::Lines: return "lines";
    case RetrievalTask::KeyValue: return "kv";
    case RetrievalTask::Needle: return "needle";
  }
  return "?";
}

const char* scoring_name(Scoring scoring) { return scoring == Scoring::Greedy ? "greedy" : "forced"; }

Scoring parse_scoring(const std::string& text) {
  if (text == "greedy") return Scoring::Greedy;
  if (text == "forced") return Scoring::Forced;
  throw Error("--scoring: unknown scoring '" + text + "' (expected greedy or forced)");
}

std::optional<int64_t> first_integer(std::string_view text) {
  size_t i = 0;
  while (i < text.size() && !(text[i] >= '0' && text[i] <= '9')) ++i;
  if (i == text.size()) return std::nullopt;
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  int64_t value = 0;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
    const int64_t digit = text[i] - '0';
    value = value > (kMax - digit) / 10 ? kMax : value * 10 + digit;
  }
  return value;
}

bool contains_ignoring_case(std::string_view text, std::string_view part) {
  if (part.empty()) return true;
  for (size_t start = 0; start + part.size() <= text.size(); ++start) {
    size_t k = 0;
    while (k < part.size() && lower_ascii(text[start + k]) == lower_ascii(part[k])) ++k;
    if (k == part.size()) return true;
  }
  return false;
}

std::string normalise_whitespace(std::string_view text) {
  std::string out;
  bool pending_space = false;
  for (const char c : text) {
    if (is_space(c)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    out.push_back(lower_ascii(c));
  }
  return out;
}

std::string first_line(std::string_view text) {
  size_t begin = 0;
  while (begin < text.size() && is_space(text[begin])) ++begin;
  const size_t end = text.find('\n', begin);
  return std::string(text.substr(begin, end == std::string_view::npos ? std::string_view::npos : end - begin));
}

ForcedScore score_forced(model::LlamaForCausalLMImpl& model, const std::vector<int32_t>& prompt,
                         const std::vector<int32_t>& answer) {
  CREAM_CHECK(!prompt.empty(), "forced scoring: the prompt has no tokens");
  CREAM_CHECK(!answer.empty(), "forced scoring: the answer has no tokens");
  torch::NoGradGuard no_grad;
  const auto device = model.output_weight().device();
  // The last answer token predicts nothing we score, so it is not fed.
  std::vector<int64_t> ids(prompt.begin(), prompt.end());
  ids.insert(ids.end(), answer.begin(), answer.end() - 1);
  const auto n = static_cast<int64_t>(ids.size());
  const auto tokens = torch::tensor(ids, torch::kLong).unsqueeze(0).to(device);      // [1, n]
  const auto positions = torch::arange(n, torch::kLong).unsqueeze(0).to(device);    // [1, n]
  const auto hidden = model.hidden_states(tokens, positions);                      // [1, n, hidden]
  const auto m = static_cast<int64_t>(answer.size());
  const auto rows = hidden[0].narrow(0, static_cast<int64_t>(prompt.size()) - 1, m);  // [m, hidden]
  const auto logits = torch::matmul(rows, model.output_weight().t());                 // [m, vocab]
  const auto predicted = logits.argmax(-1).to(torch::kCPU);
  ForcedScore score;
  score.total = m;
  for (int64_t j = 0; j < m; ++j) {
    const auto token = predicted[j].item<int64_t>();
    score.predicted.push_back(static_cast<int32_t>(token));
    if (token == answer[j]) ++score.matched;
  }
  return score;
}

int64_t default_max_new_tokens(RetrievalTask task) {
  switch (task) {
    case RetrievalTask::Passkey: return 10;
    case RetrievalTask::Lines: return 35;
    case RetrievalTask::KeyValue: return 64;
    case RetrievalTask::Needle: return 50;
  }
  return 0;
}

std::vector<double> default_depths(RetrievalTask task) {
  switch (task) {
    case RetrievalTask::Passkey: return {0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100};
    case RetrievalTask::Lines: return {0, 25, 50, 75, 100};
    case RetrievalTask::KeyValue: return {};
    case RetrievalTask::Needle: return {0, 20, 40, 60, 80, 100};
  }
  return {};
}

const char* size_flag(RetrievalTask task) {
  return task == RetrievalTask::Lines ? "--lines" : task == RetrievalTask::KeyValue ? "--pairs" : "--lengths";
}

const char* size_key(RetrievalTask task) {
  return task == RetrievalTask::Lines ? "lines" : task == RetrievalTask::KeyValue ? "pairs" : "lengths";
}

std::vector<CellSpec> plan_cells(const RetrievalOptions& options) {
  const std::string flag = size_flag(options.task);
  CREAM_CHECK(!options.sizes.empty(), flag + ": give at least one value");
  for (const auto size : options.sizes) CREAM_CHECK(size >= 1, flag + ": " + std::to_string(size) + " is not positive");
  CREAM_CHECK(options.trials >= 1, "--trials: must be at least 1, got " + std::to_string(options.trials));
  CREAM_CHECK(options.max_new_tokens >= 0, "--max-new-tokens: must be positive");
  CREAM_CHECK(options.scoring == Scoring::Greedy || options.task == RetrievalTask::Passkey,
              "--scoring: forced scoring is only defined for passkey");
  std::vector<CellSpec> cells;
  if (options.task == RetrievalTask::KeyValue) {
    CREAM_CHECK(options.depths.empty(), "--depths: kv places the gold pair with --gold-positions");
    for (const auto pairs : options.sizes) {
      const auto indices = options.gold_positions.empty() ? spread_indices(pairs) : options.gold_positions;
      for (const auto index : indices) {
        CREAM_CHECK(index >= 0 && index < pairs, "--gold-positions: index " + std::to_string(index) +
                                                     " is outside 0.." + std::to_string(pairs - 1) + " for " +
                                                     std::to_string(pairs) + " pairs");
        cells.push_back({pairs, gold_depth(index, pairs), index});
      }
    }
    return cells;
  }
  CREAM_CHECK(options.gold_positions.empty(), "--gold-positions: only kv has gold positions");
  CREAM_CHECK(!options.depths.empty(), "--depths: give at least one depth");
  for (const auto depth : options.depths)
    CREAM_CHECK(std::isfinite(depth) && depth >= 0 && depth <= 100,
                "--depths: " + percent_text(depth) + " is outside 0..100 (percent)");
  for (const auto size : options.sizes)
    for (const auto depth : options.depths) cells.push_back({size, depth, -1});
  return cells;
}

uint64_t trial_stream(RetrievalTask task, const CellSpec& cell, int64_t trial) {
  uint64_t state = 0x43524541ULL + static_cast<uint64_t>(task);  // "CREA" + task
  for (const int64_t part : {cell.size, static_cast<int64_t>(std::llround(cell.depth * 1e6)), cell.gold_index, trial}) {
    state ^= static_cast<uint64_t>(part);
    state = util::splitmix64_next(state);
  }
  return state;
}

TrialResult score_output(RetrievalTask task, const data::RetrievalPrompt& prompt, const std::string& output) {
  TrialResult result;
  result.expected = prompt.answer;
  result.output = output;
  result.prompt_tokens = static_cast<int64_t>(prompt.ids.size());
  result.token_depth = prompt.token_depth_percent;
  switch (task) {
    case RetrievalTask::Passkey:
    case RetrievalTask::Lines: {
      const auto got = first_integer(output), want = first_integer(prompt.answer);
      result.correct = got.has_value() && want.has_value() && *got == *want;
      break;
    }
    case RetrievalTask::KeyValue:
      result.correct = contains_ignoring_case(output, prompt.answer);
      break;
    case RetrievalTask::Needle:
      result.rouge_l_f1 = rouge_l(first_line(output), prompt.answer).f1;
      result.correct = normalise_whitespace(output).find(normalise_whitespace(kNeedleKeyPhrase)) != std::string::npos;
      break;
  }
  return result;
}

namespace {

TrialResult run_trial(model::LlamaForCausalLMImpl& model, const io::Tokenizer& tokenizer,
                      const data::RetrievalPrompt& prompt, const RetrievalOptions& options,
                      const std::vector<int64_t>& stop_ids) {
  if (options.scoring == Scoring::Forced) {
    const auto forced = score_forced(model, prompt.ids, prompt.answer_ids);
    TrialResult result = score_output(options.task, prompt, tokenizer.decode(forced.predicted));
    result.correct = forced.all_matched();
    result.token_accuracy = static_cast<double>(forced.matched) / static_cast<double>(forced.total);
    result.new_tokens = forced.total - 1;  // the answer tokens fed after the prompt
    return result;
  }
  GenerateOptions generate_options;
  generate_options.max_new_tokens = options.max_new_tokens > 0 ? options.max_new_tokens
                                                               : default_max_new_tokens(options.task);
  generate_options.stop_ids = stop_ids;
  const auto generated = generate(model, std::vector<int64_t>(prompt.ids.begin(), prompt.ids.end()), generate_options);
  const std::vector<int32_t> new_ids(generated.tokens.begin(), generated.tokens.end());
  TrialResult result = score_output(options.task, prompt, tokenizer.decode(new_ids));
  result.new_tokens = static_cast<int64_t>(new_ids.size());
  return result;
}

}  // namespace

std::vector<CellResult> evaluate_retrieval(model::LlamaForCausalLMImpl& model, const io::Tokenizer& tokenizer,
                                           const PromptMaker& make_prompt, const RetrievalOptions& options,
                                           const std::vector<int64_t>& stop_ids,
                                           const std::function<void(const RetrievalProgress&)>& progress,
                                           const std::function<bool()>& stop) {
  const auto cells = plan_cells(options);
  torch::NoGradGuard no_grad;
  const auto start = std::chrono::steady_clock::now();
  RetrievalProgress report;
  report.cells_total = static_cast<int64_t>(cells.size());
  report.trials_total = report.cells_total * options.trials;
  std::vector<CellResult> results;
  for (const auto& cell : cells) {
    CellResult result;
    result.spec = cell;
    for (int64_t trial = 0; trial < options.trials; ++trial) {
      auto rng = util::Rng::derive(options.seed, trial_stream(options.task, cell, trial));
      const auto prompt = make_prompt(cell, rng);
      const auto begin = std::chrono::steady_clock::now();
      result.trials.push_back(run_trial(model, tokenizer, prompt, options, stop_ids));
      const auto end = std::chrono::steady_clock::now();
      result.seconds += std::chrono::duration<double>(end - begin).count();
      if (stop && stop()) {  // SIGINT/SIGTERM: the trials so far, this cell possibly short
        results.push_back(std::move(result));
        return results;
      }
      if (!progress) continue;
      ++report.trials_done;
      report.cells_done = static_cast<int64_t>(results.size()) + (trial + 1 == options.trials ? 1 : 0);
      report.cell = &cell;
      report.seconds = std::chrono::duration<double>(end - start).count();
      progress(report);
    }
    results.push_back(std::move(result));
  }
  return results;
}

}  // namespace cream::eval
