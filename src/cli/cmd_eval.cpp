// `cream eval <protocol>`: evaluations of docs/evals.md, each writing a JSON record.
// `ppl`: perplexity in truncate (CREAM authors') or sliding (strided) mode.
// `passkey`, `lines`, `kv`, `needle`: the retrieval evaluations (eval/retrieval.h).
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>

#include <CLI/CLI.hpp>
#include <torch/torch.h>

#include "cli_common.h"
#include "command_registry.h"
#include "cream/data/prompts.h"
#include "cream/eval/perplexity.h"
#include "cream/eval/retrieval.h"
#include "cream/model/weights.h"
#include "cream/util/error.h"
#include "cream/util/fs.h"
#include "cream/util/parse.h"
#include "cream/util/signals.h"

namespace cream::cli {
namespace {

// Flags every eval subcommand takes.
struct CommonFlags {
  std::string model;
  std::string out;
  std::string dtype = "fp32";
  std::string device = "auto";
  std::string rope_scaling;
  std::vector<std::string> rope_params;
  std::string chat_template = "none";  // retrieval evals only
  int threads = 0;
  uint64_t seed = 0;
};

void add_common_flags(CLI::App* cmd, CommonFlags& flags, bool retrieval) {
  cmd->add_option("--model", flags.model, retrieval ? "HF model folder with tokenizer.model, or a run folder (its newest checkpoint)"
                                           : "HF model folder, or a run folder (its newest checkpoint)")
      ->required();
  cmd->add_option("--out", flags.out, "Write the JSON record here");
  cmd->add_option("--dtype", flags.dtype, "Compute dtype: fp32 or bf16")->capture_default_str();
  cmd->add_option("--device", flags.device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  cmd->add_option("--threads", flags.threads, "Intra-op threads (0: LibTorch default)");
  cmd->add_option("--seed", flags.seed,
                  retrieval ? "Seed of the trials' random keys, labels and values" : "Recorded only (ppl draws nothing)")
      ->capture_default_str();
  cmd->add_option("--rope-scaling", flags.rope_scaling, "Override the rope scaling: TYPE:FACTOR[:ORIGINAL]");
  cmd->add_option("--rope-param", flags.rope_params,
                  "Override one rope field after --rope-scaling, key=value (repeatable; e.g. beta_fast=16, "
                  "rope_theta=500000)");
  if (retrieval)
    cmd->add_option("--chat-template", flags.chat_template, "Wrap prompts: none, vicuna, llama3 or qwen2")->capture_default_str();
}

torch::ScalarType eval_dtype(const std::string& text) {
  const auto dtype = parse_float_dtype(text, "--dtype");
  CREAM_CHECK(dtype != io::DType::F16, "--dtype: fp16 is not supported for evaluation (use fp32 or bf16)");
  return model::torch_dtype(dtype);
}

eval::RopeOverrides rope_overrides(const CommonFlags& flags) {
  eval::RopeOverrides overrides;
  if (!flags.rope_scaling.empty()) overrides.scaling = flags.rope_scaling;
  overrides.params = flags.rope_params;
  return overrides;
}

void write_record(const std::string& out, const nlohmann::json& record) {
  if (!out.empty()) {
    // Decoded outputs of weak models can hold broken UTF-8: replace it rather than fail.
    util::write_file_atomic(out, record.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
    std::cout << "wrote " << out << (record.value("partial", false) ? " (partial)" : "") << "\n";
  }
  // SIGINT/SIGTERM: the results so far are written (marked "partial": true); the exit
  // status still says the evaluation did not finish.
  if (util::stop_requested()) {
    std::cerr << "cream: eval stopped by signal " << util::stop_signal()
              << (out.empty() ? "" : ": the results so far are in " + out + ", marked \"partial\": true") << "\n";
    throw ExitWithStatus{util::StopSignalGuard::forced_exit_status(util::stop_signal())};
  }
}

// "0,12.5 50" -> {0, 12.5, 50}; every item must be a number.
std::vector<double> parse_number_list(const std::string& text, const std::string& flag) {
  std::string spaced = text;
  for (auto& c : spaced)
    if (c == ',') c = ' ';
  std::istringstream in(spaced);
  std::vector<double> values;
  for (std::string item; in >> item;) {
    const auto value = util::parse_real(item);
    CREAM_CHECK(value.has_value(), flag + ": '" + item + "' is not a number");
    values.push_back(*value);
  }
  CREAM_CHECK(!values.empty(), flag + ": expected at least one number");
  return values;
}

// ---- ppl --------------------------------------------------------------------------------

struct PplCommandOptions {
  CommonFlags common;
  std::string data;
  std::string lengths;
  std::string mode = "truncate";
  int64_t stride = 0;
  int64_t docs = 50;
};

// "elapsed 12 s, ETA 36 s" from the work done so far (ETA unknown before the first item).
std::string elapsed_and_eta(double elapsed, int64_t done, int64_t total) {
  char text[96];
  if (done <= 0 || done >= total)
    std::snprintf(text, sizeof(text), "elapsed %.0f s", elapsed);
  else
    std::snprintf(text, sizeof(text), "elapsed %.0f s, ETA %.0f s", elapsed,
                  elapsed * static_cast<double>(total - done) / static_cast<double>(done));
  return text;
}

// Progress on stderr at most every few seconds, for long runs: per length, with the
// time spent on it and what is left of it.
std::function<void(int64_t, int64_t, int64_t)> ppl_progress_printer() {
  using Clock = std::chrono::steady_clock;
  struct State {
    Clock::time_point last = Clock::now(), length_start = Clock::now();
    int64_t length = -1;
  };
  auto state = std::make_shared<State>();
  return [state](int64_t length, int64_t done, int64_t total) {
    const auto now = Clock::now();
    if (length != state->length) state->length = length, state->length_start = now;
    if (done < total && now - state->last < std::chrono::seconds(5)) return;
    state->last = now;
    const double elapsed = std::chrono::duration<double>(now - state->length_start).count();
    std::cerr << "ppl: length " << length << ": " << done << "/" << total << " documents, "
              << elapsed_and_eta(elapsed, done, total) << "\n";
  };
}

void print_ppl_table(const nlohmann::json& record) {
  std::printf("%-10s %-8s %12s %14s %12s %6s %12s\n", "length", "stride", "ppl_token", "ppl_doc_mean", "tokens",
              "docs", "tokens/s");
  for (const auto& row : record.at("results")) {
    const std::string stride = row.contains("stride") ? std::to_string(row.at("stride").get<int64_t>()) : "-";
    std::printf("%-10lld %-8s %12.4f %14.4f %12lld %6lld %12.1f\n", static_cast<long long>(row.at("length")),
                stride.c_str(), row.at("ppl_token").get<double>(), row.at("ppl_doc_mean").get<double>(),
                static_cast<long long>(row.at("tokens_scored")), static_cast<long long>(row.at("documents")),
                row.at("tokens_per_s").get<double>());
  }
}

void run_ppl(const PplCommandOptions& options) {
  if (!options.common.out.empty()) util::check_output_path(options.common.out, "--out");
  set_threads(options.common.threads);
  eval::PerplexityRequest request;
  request.model_folder = resolve_model_folder(options.common.model, "--model");
  request.data_folder = options.data;
  request.options.mode = eval::parse_mode(options.mode);
  request.options.lengths = parse_int_list(options.lengths, "--lengths");
  CREAM_CHECK(options.stride >= 0, "--stride: must be positive");
  CREAM_CHECK(options.stride == 0 || request.options.mode == eval::PerplexityMode::Sliding,
              "--stride: only meaningful with --mode sliding");
  request.options.stride = options.stride;
  CREAM_CHECK(options.docs >= 0, "--docs: must be 0 (all) or positive");
  request.options.max_documents = options.docs;
  request.options.progress = ppl_progress_printer();
  util::StopSignalGuard stop_guard;  // first SIGINT/SIGTERM: stop after the document, write what is done
  request.options.stop = [] { return util::stop_requested(); };
  const auto overrides = rope_overrides(options.common);
  request.rope_override = overrides.scaling;
  request.rope_params = overrides.params;
  request.dtype = eval_dtype(options.common.dtype);
  request.device = parse_device(options.common.device, "--device");
  auto record = eval::run_perplexity(request);
  record["seed"] = options.common.seed;
  print_ppl_table(record);
  write_record(options.common.out, record);
}

void setup_ppl(CLI::App& eval) {
  auto options = std::make_shared<PplCommandOptions>();
  auto* cmd = eval.add_subcommand("ppl", "Perplexity (truncate: CREAM authors' protocol; sliding: strided)");
  add_common_flags(cmd, options->common, false);
  cmd->add_option("--data", options->data, "Prepared data folder (cream data prepare)")->required();
  cmd->add_option("--lengths", options->lengths, "Window lengths, e.g. 4096,8192")->required();
  cmd->add_option("--mode", options->mode, "truncate or sliding")->capture_default_str();
  cmd->add_option("--stride", options->stride, "Sliding stride (default: length / 2)");
  cmd->add_option("--docs", options->docs, "Documents to use, the first K eligible (0: all)")->capture_default_str();
  cmd->callback([options] { run_ppl(*options); });
}

// ---- passkey / lines / kv / needle ----------------------------------------------------------

struct RetrievalCommandOptions {
  eval::RetrievalTask task = eval::RetrievalTask::Passkey;
  CommonFlags common;
  std::string sizes;
  std::string depths;
  std::string gold_positions;
  std::string scoring = "greedy";
  int64_t trials = 10;
  int64_t max_new_tokens = 0;
  std::string words = "/usr/share/wordnet";
  std::string haystack;
};

std::function<void(const eval::RetrievalProgress&)> retrieval_progress_printer(eval::RetrievalTask task) {
  auto last = std::make_shared<std::chrono::steady_clock::time_point>(std::chrono::steady_clock::now());
  return [last, task](const eval::RetrievalProgress& p) {
    const auto now = std::chrono::steady_clock::now();
    if (p.trials_done < p.trials_total && now - *last < std::chrono::seconds(5)) return;
    *last = now;
    std::fprintf(stderr, "eval %s: %lld/%lld trials, %lld/%lld cells (now: %s %lld, depth %.4g%%), %s\n",
                 eval::task_name(task), static_cast<long long>(p.trials_done), static_cast<long long>(p.trials_total),
                 static_cast<long long>(p.cells_done), static_cast<long long>(p.cells_total), eval::size_key(task),
                 static_cast<long long>(p.cell->size), p.cell->depth,
                 elapsed_and_eta(p.seconds, p.trials_done, p.trials_total).c_str());
  };
}

// One line per cell, then the summaries by depth and by size, then the overall numbers.
void print_retrieval_table(const nlohmann::json& record) {
  const bool forced = record.at("scoring") == "forced";
  const bool needle = record.at("eval") == "needle";
  const bool kv = record.at("eval") == "kv";
  const std::string size_name = record.at("eval") == "lines" ? "lines" : kv ? "pairs" : "length";
  auto print_row = [&](const std::string& label, const nlohmann::json& row) {
    std::printf("%-24s %10.1f %6lld %9.3f", label.c_str(), row.at("prompt_tokens").get<double>(),
                static_cast<long long>(row.value("trials_total", row.at("trials").get<int64_t>())),
                row.at("accuracy").get<double>());
    if (forced) std::printf(" %9.3f", row.at("token_accuracy").get<double>());
    if (needle) std::printf(" %9.3f", row.at("rouge_l_f1").get<double>());
    std::printf(" %10.1f\n", row.at("tokens_per_s").get<double>());
  };
  std::printf("%-24s %10s %6s %9s", "cell", "prompt_tok", "trials", needle ? "strict" : "accuracy");
  if (forced) std::printf(" %9s", "token_acc");
  if (needle) std::printf(" %9s", "rouge_l");
  std::printf(" %10s\n", "tokens/s");
  for (const auto& cell : record.at("cells")) {
    std::ostringstream label;
    label << size_name << " " << cell.at(size_name).get<int64_t>();
    if (kv) label << " gold " << cell.at("gold_index").get<int64_t>();
    label << " @" << cell.at("depth").get<double>() << "%";
    print_row(label.str(), cell);
  }
  for (const auto& row : record.at("by_depth")) print_row("depth " + row.at("depth").dump() + "%", row);
  const std::string by_size = size_name == "length" ? "by_length" : "by_" + size_name;
  for (const auto& row : record.at(by_size)) print_row(size_name + " " + row.at(size_name).dump(), row);
  print_row("overall", record);
}

void run_retrieval_command(const RetrievalCommandOptions& options) {
  if (!options.common.out.empty()) util::check_output_path(options.common.out, "--out");
  set_threads(options.common.threads);
  eval::RetrievalRequest request;
  request.model_folder = resolve_model_folder(options.common.model, "--model");
  auto& o = request.options;
  o.task = options.task;
  o.scoring = eval::parse_scoring(options.scoring);
  o.sizes = parse_int_list(options.sizes, eval::size_flag(options.task));
  if (options.task != eval::RetrievalTask::KeyValue)
    o.depths = options.depths.empty() ? eval::default_depths(options.task) : parse_number_list(options.depths, "--depths");
  if (!options.gold_positions.empty()) o.gold_positions = parse_int_list(options.gold_positions, "--gold-positions");
  o.trials = options.trials;
  o.seed = options.common.seed;
  o.max_new_tokens = options.max_new_tokens;
  o.chat = data::parse_chat_template(options.common.chat_template);
  request.rope = rope_overrides(options.common);
  request.words = options.words;
  if (!options.haystack.empty()) request.haystack = options.haystack;
  request.dtype = eval_dtype(options.common.dtype);
  request.device = parse_device(options.common.device, "--device");
  request.progress = retrieval_progress_printer(options.task);
  util::StopSignalGuard stop_guard;  // first SIGINT/SIGTERM: stop after the trial, write what is done
  request.stop = [] { return util::stop_requested(); };
  const auto record = eval::run_retrieval(request);
  print_retrieval_table(record);
  write_record(options.common.out, record);
}

void setup_retrieval(CLI::App& eval, eval::RetrievalTask task, const std::string& description) {
  auto options = std::make_shared<RetrievalCommandOptions>();
  options->task = task;
  options->max_new_tokens = eval::default_max_new_tokens(task);
  if (task == eval::RetrievalTask::Needle) options->trials = 1;
  auto* cmd = eval.add_subcommand(eval::task_name(task), description);
  add_common_flags(cmd, options->common, true);
  const std::string size_flag = eval::size_flag(task);
  const char* size_help = task == eval::RetrievalTask::Lines      ? "Line counts, e.g. 100,200"
                          : task == eval::RetrievalTask::KeyValue ? "Pair counts, e.g. 75,140"
                                                                  : "Prompt lengths in tokens, e.g. 1024,2048";
  cmd->add_option(size_flag, options->sizes, size_help)->required();
  if (task == eval::RetrievalTask::KeyValue) {
    cmd->add_option("--gold-positions", options->gold_positions,
                    "0-based indices of the asked pair (default: 5 evenly spaced per pair count)");
  } else {
    std::string defaults;
    for (const double d : eval::default_depths(task)) defaults += (defaults.empty() ? "" : ",") + std::to_string(int(d));
    cmd->add_option("--depths", options->depths, "Depths in percent (default " + defaults + ")");
  }
  cmd->add_option("--trials", options->trials, "Trials per cell")->capture_default_str();
  cmd->add_option("--max-new-tokens", options->max_new_tokens, "Most tokens decoded per answer")->capture_default_str();
  if (task == eval::RetrievalTask::Passkey)
    cmd->add_option("--scoring", options->scoring, "greedy (decode) or forced (teacher-forced key tokens)")
        ->capture_default_str();
  if (task == eval::RetrievalTask::Lines)
    cmd->add_option("--words", options->words, "WordNet folder for the line labels")->capture_default_str();
  if (task == eval::RetrievalTask::Needle)
    cmd->add_option("--haystack", options->haystack, "Plain-text haystack file (default: perl-doc prose)");
  cmd->callback([options] { run_retrieval_command(*options); });
}

void setup_eval(CLI::App& root) {
  auto* eval = root.add_subcommand("eval", "Evaluate a model (JSON out; protocols in evals.md)");
  eval->require_subcommand(1);
  setup_ppl(*eval);
  setup_retrieval(*eval, eval::RetrievalTask::Passkey, "Passkey retrieval (PoSE protocol)");
  setup_retrieval(*eval, eval::RetrievalTask::Lines, "LongChat-Lines retrieval");
  setup_retrieval(*eval, eval::RetrievalTask::KeyValue, "Lost in the Middle key-value retrieval");
  setup_retrieval(*eval, eval::RetrievalTask::Needle, "Needle in a haystack (ROUGE-L and strict hit)");
}

const bool kRegistered = register_command("eval", 20, setup_eval);

}  // namespace
}  // namespace cream::cli
