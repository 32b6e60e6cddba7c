// The four retrieval evaluations of docs/evals.md: passkey (PoSE), LongChat-Lines, Lost in the
// Middle key-value retrieval and needle in a haystack. Prompts come from data/prompts.h;
// this file plans the cells (size x depth), runs the trials (greedy decoding with a KV
// cache, or teacher-forced scoring of the passkey), scores the answers and writes the
// JSON record. Each trial's randomness is Rng::derive(seed, id of (task, size, depth, gold
// index, trial)), so a cell's prompts do not depend on which other cells ran.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "cream/data/prompts.h"
#include "cream/eval/model_overrides.h"
#include "cream/model/llama.h"

namespace cream::eval {

enum class RetrievalTask { Passkey, Lines, KeyValue, Needle };
enum class Scoring { Greedy, Forced };

const char* task_name(RetrievalTask task);  // "passkey", "lines", "kv", "needle"
const char* scoring_name(Scoring scoring);  // "greedy", "forced"
Scoring parse_scoring(const std::string& text);  // throws naming --scoring

// --- Answer checks (pure) -----------------------------------------------------------------
// The first run of ASCII digits as a number ("The pass key is 0042." -> 42), ignoring any
// sign; nullopt without digits. A run too long for int64 saturates at INT64_MAX.
std::optional<int64_t> first_integer(std::string_view text);
// `text` contains `part`, ASCII case-insensitively.
bool contains_ignoring_case(std::string_view text, std::string_view part);
// Lower-case with every run of whitespace collapsed to one space, ends trimmed.
std::string normalise_whitespace(std::string_view text);
// The first line of `text` after leading whitespace ("\n Paris\nmore" -> "Paris").
std::string first_line(std::string_view text);

inline constexpr const char* kNeedleKeyPhrase = "eat a sandwich and sit in Dolores Park";

// --- Teacher-forced scoring -----------------------------------------------------------------
struct ForcedScore {
  int64_t matched = 0;  // answer tokens whose top-1 prediction was right
  int64_t total = 0;    // answer tokens
  std::vector<int32_t> predicted;  // the top-1 token at each answer position
  bool all_matched() const { return total > 0 && matched == total; }
};
// Runs prompt + answer once and projects ONLY the rows predicting the answer tokens
// (hidden_states, then output_weight()); never [T, vocab] for the prompt.
ForcedScore score_forced(model::LlamaForCausalLMImpl& model, const std::vector<int32_t>& prompt,
                         const std::vector<int32_t>& answer);

// --- Plan -----------------------------------------------------------------------------------
struct RetrievalOptions {
  RetrievalTask task = RetrievalTask::Passkey;
  Scoring scoring = Scoring::Greedy;  // forced: passkey only
  std::vector<int64_t> sizes;         // passkey/needle: lengths; lines: line counts; kv: pair counts
  std::vector<double> depths;         // percent (not kv)
  std::vector<int64_t> gold_positions;  // kv: 0-based indices; empty: 5 evenly spaced per pair count
  int64_t trials = 1;
  uint64_t seed = 0;
  int64_t max_new_tokens = 0;  // 0: the task's default (default_max_new_tokens)
  data::ChatTemplate chat = data::ChatTemplate::none;
};

int64_t default_max_new_tokens(RetrievalTask task);  // passkey 10, lines 35, kv 64, needle 50
std::vector<double> default_depths(RetrievalTask task);  // passkey/needle 0,10..100 / 0,20..100; lines 0,25..100
const char* size_flag(RetrievalTask task);  // "--lengths", "--lines", "--pairs"
const char* size_key(RetrievalTask task);   // JSON key: "lengths", "lines", "pairs"

struct CellSpec {
  int64_t size = 0;         // length, line count or pair count
  double depth = 0;         // percent
  int64_t gold_index = -1;  // kv only
};

// Checks the options (sizes >= 1, depths in 0..100, trials >= 1, gold positions < pairs,
// forced scoring only for passkey) and returns every cell, sizes outer, depths inner.
std::vector<CellSpec> plan_cells(const RetrievalOptions& options);
// Rng stream id of one trial: a hash of task, size, depth (to 1e-6 %), gold index and trial.
uint64_t trial_stream(RetrievalTask task, const CellSpec& cell, int64_t trial);

// --- Run ------------------------------------------------------------------------------------
struct TrialResult {
  std::string expected;       // the answer
  std::string output;         // decoded new tokens (forced: the top-1 tokens)
  bool correct = false;       // passkey/lines: first integer; kv: contains; needle: strict hit
  double token_accuracy = 0;  // forced only
  double rouge_l_f1 = 0;      // needle only
  int64_t prompt_tokens = 0;
  int64_t new_tokens = 0;
  double token_depth = 0;  // where the item landed, percent of the prompt's tokens
};

struct CellResult {
  CellSpec spec;
  std::vector<TrialResult> trials;
  double seconds = 0;  // model time (prefill + decoding) of all trials
};

// Reported after every trial, so a long cell still shows progress.
struct RetrievalProgress {
  int64_t cells_done = 0, cells_total = 0;
  int64_t trials_done = 0, trials_total = 0;  // over the whole run
  const CellSpec* cell = nullptr;             // the cell of the trial just finished
  double seconds = 0;                         // since the start
};

// Builds the prompt of one trial from its rng (the caller binds tokenizer, word lists...).
using PromptMaker = std::function<data::RetrievalPrompt(const CellSpec&, util::Rng&)>;

// Runs every trial of every cell under NoGradGuard; `stop_ids` end greedy decoding (EOS).
std::vector<CellResult> evaluate_retrieval(model::LlamaForCausalLMImpl& model, const io::Tokenizer& tokenizer,
                                           const PromptMaker& make_prompt, const RetrievalOptions& options,
                                           const std::vector<int64_t>& stop_ids,
                                           const std::function<void(const RetrievalProgress&)>& progress = {},
                                           const std::function<bool()>& stop = {});

// Scores one greedy output against its prompt's answer (the task's rule).
TrialResult score_output(RetrievalTask task, const data::RetrievalPrompt& prompt, const std::string& output);

// The record's protocol-variant string, e.g. "pose-filler-no-separator".
std::string protocol_variant(const RetrievalOptions& options);

// The cells, by-depth and by-size summaries and overall numbers (see README / docs/evals.md);
// the caller adds model, rope and run fields.
nlohmann::json retrieval_results_json(const RetrievalOptions& options, const std::vector<CellResult>& cells);

// --- A whole `cream eval passkey|lines|kv|needle` run ------------------------------------------
struct RetrievalRequest {
  std::string model_folder;
  RetrievalOptions options;
  RopeOverrides rope;
  std::filesystem::path words = "/usr/share/wordnet";     // lines
  std::optional<std::filesystem::path> haystack;           // needle (default: perl-doc prose)
  torch::ScalarType dtype = torch::kFloat;
  torch::Device device = torch::kCPU;
  std::function<void(const RetrievalProgress&)> progress;
  // Polled after each trial: true ends the evaluation (SIGINT/SIGTERM) with the trials
  // so far; the record then says "partial": true.
  std::function<bool()> stop;
};

// Checks the folder (config.json, tokenizer.model), the overrides and the plan, builds the
// first prompt of the shortest and longest cells before loading weights (so a length too
// short for the fixed text fails fast), warns about lengths beyond the window, evaluates
// and returns the full JSON record.
nlohmann::json run_retrieval(const RetrievalRequest& request);

}  // namespace cream::eval
