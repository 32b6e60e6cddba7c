// `cream eval passkey|lines|kv|needle` end to end (folder checks, prompts, model, trials)
// and the JSON record.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>

#include "cream/eval/retrieval.h"
#include "cream/io/checkpoint_folder.h"
#include "cream/io/tokenizer.h"
#include "cream/model/weights.h"
#include "cream/util/error.h"
#include "cream/util/log.h"

namespace cream::eval {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Sums over trials, for a cell, a group of cells or the whole run.
struct Tally {
  int64_t trials = 0, correct = 0;
  double token_accuracy = 0, rouge_l_f1 = 0, token_depth = 0, seconds = 0;
  int64_t prompt_tokens = 0, new_tokens = 0;

  void add(const CellResult& cell) {
    for (const auto& t : cell.trials) {
      ++trials;
      correct += t.correct ? 1 : 0;
      token_accuracy += t.token_accuracy;
      rouge_l_f1 += t.rouge_l_f1;
      token_depth += t.token_depth;
      prompt_tokens += t.prompt_tokens;
      new_tokens += t.new_tokens;
    }
    seconds += cell.seconds;
  }
  double mean(double sum) const { return trials > 0 ? sum / static_cast<double>(trials) : 0.0; }
  double tokens_per_s() const {
    return seconds > 0 ? static_cast<double>(prompt_tokens + new_tokens) / seconds : 0.0;
  }

  // The scores every summary carries; the task decides which extra ones apply.
  void write(json& j, const RetrievalOptions& options) const {
    j["trials"] = trials;
    j["correct"] = correct;
    j["accuracy"] = mean(static_cast<double>(correct));
    if (options.scoring == Scoring::Forced) j["token_accuracy"] = mean(token_accuracy);
    if (options.task == RetrievalTask::Needle) {
      j["rouge_l_f1"] = mean(rouge_l_f1);
      j["strict_hit"] = mean(static_cast<double>(correct));
    }
    j["prompt_tokens"] = mean(static_cast<double>(prompt_tokens));
    j["tokens_per_s"] = tokens_per_s();
  }
};

json cell_json(const RetrievalOptions& options, const CellResult& cell) {
  Tally tally;
  tally.add(cell);
  json j;
  const bool sized_by_tokens = options.task == RetrievalTask::Passkey || options.task == RetrievalTask::Needle;
  // lines / kv cells are sized by records; their "length" is the mean prompt length reached.
  j["length"] = sized_by_tokens ? json(cell.spec.size) : json(tally.mean(static_cast<double>(tally.prompt_tokens)));
  if (options.task == RetrievalTask::Lines) j["lines"] = cell.spec.size;
  if (options.task == RetrievalTask::KeyValue) {
    j["pairs"] = cell.spec.size;
    j["gold_index"] = cell.spec.gold_index;
  }
  j["depth"] = cell.spec.depth;
  j["token_depth"] = tally.mean(tally.token_depth);
  tally.write(j, options);
  j["new_tokens"] = tally.mean(static_cast<double>(tally.new_tokens));
  j["seconds"] = tally.seconds;
  json samples = json::array();
  for (const auto& t : cell.trials) {
    json s = {{"expected", t.expected}, {"output", t.output}, {"correct", t.correct}};
    if (options.scoring == Scoring::Forced) s["token_accuracy"] = t.token_accuracy;
    if (options.task == RetrievalTask::Needle) s["rouge_l_f1"] = t.rouge_l_f1;
    samples.push_back(std::move(s));
  }
  j["samples"] = std::move(samples);
  return j;
}

// Summaries grouped by a key of the cell (depth, or size).
template <typename Key>
json grouped(const RetrievalOptions& options, const std::vector<CellResult>& cells, const std::string& name,
             Key (*key_of)(const CellSpec&)) {
  std::map<Key, Tally> groups;
  for (const auto& cell : cells) groups[key_of(cell.spec)].add(cell);
  json rows = json::array();
  for (const auto& [key, tally] : groups) {
    json row;
    row[name] = key;
    tally.write(row, options);
    rows.push_back(std::move(row));
  }
  return rows;
}

double depth_of(const CellSpec& cell) { return cell.depth; }
int64_t size_of(const CellSpec& cell) { return cell.size; }

fs::path tokenizer_path(const fs::path& folder) {
  CREAM_CHECK(fs::is_directory(folder), "--model: " + folder.string() + " is not a folder");
  const auto path = io::tokenizer_file_in(folder);
  CREAM_CHECK(!path.empty(), "--model: " + folder.string() +
                                             " has no tokenizer.model or tokenizer.json (the retrieval evals need the model's "
                                             "tokenizer to build their text prompts)");
  return path;
}

// The prompt builder of the task, with its word lists / haystack loaded once.
PromptMaker prompt_maker(const RetrievalRequest& request, const io::Tokenizer& tokenizer, json& sources) {
  const auto& options = request.options;
  const auto chat = options.chat;
  switch (options.task) {
    case RetrievalTask::Passkey:
      return [&tokenizer, chat](const CellSpec& cell, util::Rng& rng) {
        data::PasskeyOptions o;
        o.length = cell.size;
        o.depth_percent = cell.depth;
        o.key = data::draw_passkey(rng);
        o.chat = chat;
        return data::build_passkey(tokenizer, o);
      };
    case RetrievalTask::Lines: {
      auto words = std::make_shared<data::WordLists>(data::load_word_lists(request.words));
      sources["words"] = words->source;
      return [&tokenizer, chat, words](const CellSpec& cell, util::Rng& rng) {
        return data::build_lines(tokenizer, *words, {cell.size, cell.depth, chat}, rng);
      };
    }
    case RetrievalTask::KeyValue:
      return [&tokenizer, chat](const CellSpec& cell, util::Rng& rng) {
        return data::build_key_value(tokenizer, {cell.size, cell.gold_index, chat}, rng);
      };
    case RetrievalTask::Needle: {
      auto haystack = std::make_shared<data::Haystack>(data::load_haystack(tokenizer, request.haystack));
      sources["haystack"] = haystack->source;
      sources["needle"] = data::kDefaultNeedle;
      sources["question"] = data::kDefaultNeedleQuestion;
      return [&tokenizer, chat, haystack](const CellSpec& cell, util::Rng&) {
        data::NeedleOptions o;
        o.length = cell.size;
        o.depth_percent = cell.depth;
        o.chat = chat;
        return data::build_needle(tokenizer, *haystack, o);
      };
    }
  }
  throw Error("eval: unknown retrieval task");
}

// Builds trial 0 of the smallest and the largest cells before any weights load: a length
// too short for the fixed text (or a haystack too short) fails here, and the longest prompt
// decides the beyond-the-window warning.
void precheck_prompts(const RetrievalOptions& options, const std::vector<CellSpec>& cells, const PromptMaker& make,
                      const model::LlamaConfig& config) {
  const auto by_size = [](const CellSpec& a, const CellSpec& b) { return a.size < b.size; };
  const auto smallest = *std::min_element(cells.begin(), cells.end(), by_size);
  const auto largest = *std::max_element(cells.begin(), cells.end(), by_size);
  int64_t longest = 0;
  for (const auto& cell : {smallest, largest}) {
    auto rng = util::Rng::derive(options.seed, trial_stream(options.task, cell, 0));
    longest = std::max<int64_t>(longest, static_cast<int64_t>(make(cell, rng).ids.size()));
  }
  warn_beyond_window(config, longest, std::string("eval ") + task_name(options.task));
}

std::vector<int64_t> stop_ids(const io::Tokenizer& tokenizer, const model::LlamaConfig& config) {
  std::vector<int64_t> ids(config.eos_token_ids.begin(), config.eos_token_ids.end());
  if (tokenizer.eos_id() >= 0 && std::find(ids.begin(), ids.end(), tokenizer.eos_id()) == ids.end())
    ids.push_back(tokenizer.eos_id());
  return ids;
}

}  // namespace

std::string protocol_variant(const RetrievalOptions& options) {
  switch (options.task) {
    case RetrievalTask::Passkey: return "pose-filler-no-separator";
    case RetrievalTask::Lines: return "longchat-lines-wordnet-labels";
    case RetrievalTask::KeyValue: return "litm-kv-uuid";
    case RetrievalTask::Needle: return "needle-token-offset-rouge-first-line";
  }
  return "?";
}

json retrieval_results_json(const RetrievalOptions& options, const std::vector<CellResult>& cells) {
  json j;
  j["eval"] = task_name(options.task);
  j["scoring"] = scoring_name(options.scoring);
  j["variant"] = protocol_variant(options);
  j["chat_template"] = data::chat_template_name(options.chat);
  j["seed"] = options.seed;
  j["trials"] = options.trials;
  j["max_new_tokens"] = options.scoring == Scoring::Forced ? json(nullptr)
                        : options.max_new_tokens > 0       ? json(options.max_new_tokens)
                                                           : json(default_max_new_tokens(options.task));
  j[size_key(options.task)] = options.sizes;
  if (options.task == RetrievalTask::KeyValue) {
    json gold = json::array();
    std::vector<double> depths;
    for (const auto& cell : cells) {
      gold.push_back({{"pairs", cell.spec.size}, {"gold_index", cell.spec.gold_index}, {"depth", cell.spec.depth}});
      depths.push_back(cell.spec.depth);
    }
    std::sort(depths.begin(), depths.end());
    depths.erase(std::unique(depths.begin(), depths.end()), depths.end());
    j["depths"] = depths;
    j["gold_positions"] = gold;
  } else {
    j["depths"] = options.depths;
  }
  json rows = json::array();
  Tally overall;
  for (const auto& cell : cells) {
    rows.push_back(cell_json(options, cell));
    overall.add(cell);
  }
  j["cells"] = std::move(rows);
  j["by_depth"] = grouped<double>(options, cells, "depth", depth_of);
  const std::string by_size_name = options.task == RetrievalTask::Lines      ? "lines"
                                   : options.task == RetrievalTask::KeyValue ? "pairs"
                                                                             : "length";
  j[by_size_name == "length" ? "by_length" : "by_" + by_size_name] =
      grouped<int64_t>(options, cells, by_size_name, size_of);
  overall.write(j, options);
  // Top level: "trials" stays the per-cell count the run asked for; the sum is separate.
  j["trials_total"] = overall.trials;
  j["trials"] = options.trials;
  return j;
}

json run_retrieval(const RetrievalRequest& request) {
  const auto start = std::chrono::steady_clock::now();
  const fs::path folder = request.model_folder;
  const auto tokenizer_file = tokenizer_path(folder);
  auto config = model::LlamaConfig::from_file(folder / "config.json");
  apply_rope_overrides(config, request.rope);
  const auto cells = plan_cells(request.options);
  const io::Tokenizer tokenizer(tokenizer_file);
  CREAM_CHECK(tokenizer.vocab_size() <= config.vocab_size,
              tokenizer_file.string() + ": tokenizer vocabulary (" + std::to_string(tokenizer.vocab_size()) +
                  ") is larger than the model's vocab_size (" + std::to_string(config.vocab_size) + ")");
  json sources = json::object();
  const auto make_prompt = prompt_maker(request, tokenizer, sources);
  precheck_prompts(request.options, cells, make_prompt, config);

  const io::CheckpointFolder weights(folder);
  auto model = model::load_model(config, weights, request.device, request.dtype);
  model->eval();
  const auto cell_results =
      evaluate_retrieval(*model, tokenizer, make_prompt, request.options, stop_ids(tokenizer, config), request.progress,
                         request.stop);

  json record = retrieval_results_json(request.options, cell_results);
  record["partial"] = cell_results.size() < cells.size() ||
                      (!cell_results.empty() &&
                       static_cast<int64_t>(cell_results.back().trials.size()) < request.options.trials);
  record["model"] = folder.string();
  record.update(rope_record(config, request.rope));
  record.update(sources);
  record["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  record["dtype"] = model::hf_dtype_name(model::io_dtype(request.dtype));
  record["device"] = request.device.str();
  return record;
}

}  // namespace cream::eval
