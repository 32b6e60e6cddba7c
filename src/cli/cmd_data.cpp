// `cream data prepare`: tokenize JSONL / plain-text inputs into token shards.
// `cream data synth`: synthetic retrieval documents (passkey, lines, kv) as JSONL.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "command_registry.h"
#include "cream/data/prepare.h"
#include "cream/data/prompts.h"
#include "cream/util/error.h"
#include "cream/data/synth.h"
#include "cream/io/tokenizer.h"
#include "cream/util/fs.h"

namespace cream::cli {
namespace {

struct PrepareArgs {
  std::string tokenizer;
  std::vector<std::string> inputs;
  std::string out;
  std::string text_field = "text";
  bool eos = false;
  int threads = 0;
  uint64_t shard_tokens = data::PrepareOptions{}.max_shard_tokens;
  bool force = false;
  bool quiet = false;
  std::string format = "text";
  std::string chat_template = "none";
};

void run_prepare(const PrepareArgs& args) {
  CREAM_CHECK(args.format == "text" || args.format == "sharegpt",
              "--format: unknown format '" + args.format + "' (valid: text, sharegpt)");
  const auto chat = data::parse_chat_template(args.chat_template);
  CREAM_CHECK(args.format == "text" || chat != data::ChatTemplate::none,
              "--format sharegpt: needs --chat-template (vicuna, llama2, llama3 or qwen2): the layout of the turns");
  CREAM_CHECK(args.format == "sharegpt" || chat == data::ChatTemplate::none,
              "--chat-template: only with --format sharegpt (texts are tokenized as they are)");
  util::check_output_path(args.out, "--out", /*is_folder=*/true);
  data::PrepareOptions options;
  options.tokenizer = args.tokenizer;
  for (const auto& input : args.inputs) options.inputs.emplace_back(input);
  options.out = args.out;
  options.text_field = args.text_field;
  options.format = args.format;
  options.chat_template = args.chat_template;
  options.append_eos = args.eos;
  options.threads = args.threads;
  options.max_shard_tokens = args.shard_tokens;
  options.force = args.force;
  options.progress = !args.quiet;
  data::prepare(options);
}

struct SynthArgs {
  std::string tokenizer;
  std::string task;
  int64_t count = 0;
  std::string out;
  uint64_t seed = 0;
  data::SynthOptions defaults;
  std::vector<int64_t> lengths = defaults.lengths;
  std::vector<int64_t> lines = defaults.lines;
  std::vector<int64_t> pairs = defaults.pairs;
  std::string units = data::repeat_units_name(defaults.units);
  std::vector<int64_t> repeats = defaults.repeats;
  std::string chat_template = "none";
  int64_t context_tokens = 0;
  std::string haystack;
  std::string word_lists = "/usr/share/wordnet";
};

void run_synth(const SynthArgs& args) {
  util::check_output_path(args.out, "--out");
  data::SynthOptions options;
  options.task = data::parse_synth_task(args.task);
  options.count = args.count;
  options.seed = args.seed;
  options.lengths = args.lengths;
  options.lines = args.lines;
  options.pairs = args.pairs;
  options.units = data::parse_repeat_units(args.units);
  options.repeats = args.repeats;
  options.chat = data::parse_chat_template(args.chat_template);
  options.context_tokens = args.context_tokens;
  data::check_synth_options(options);  // before the (slow) word lists and haystack

  const io::Tokenizer tokenizer(args.tokenizer);
  std::optional<data::WordLists> words;
  std::optional<data::Haystack> haystack;
  std::vector<int32_t> word_pieces;
  data::SynthSources sources;
  if (options.task == data::SynthTask::repeat && options.units == data::RepeatUnits::words)
    sources.word_pieces = &(word_pieces = data::repeat_words(tokenizer));
  if (options.task == data::SynthTask::lines) sources.words = &words.emplace(data::load_word_lists(args.word_lists));
  if (options.context_tokens > 0) {
    std::optional<std::filesystem::path> file;
    if (!args.haystack.empty()) file = args.haystack;
    sources.haystack = &haystack.emplace(data::load_haystack(tokenizer, file));
  }
  const data::SynthSummary summary = data::write_synth(tokenizer, options, sources, args.out);
  std::printf("wrote %lld %s examples to %s (mean %.1f tokens)\n", static_cast<long long>(summary.count),
              data::synth_task_name(options.task), args.out.c_str(), summary.mean_tokens);
}

void setup_synth(CLI::App& data) {
  auto* synth = data.add_subcommand(
      "synth",
      "Write synthetic retrieval documents (passkey, LongChat-Lines, key-value) as JSONL for `data prepare`: "
      "the eval prompt followed by its answer, at a random depth, optionally inside natural text");
  auto args = std::make_shared<SynthArgs>();
  synth->add_option("--tokenizer", args->tokenizer, "tokenizer.model (SentencePiece) or tokenizer.json")->required();
  synth->add_option("--task", args->task, "passkey | lines | kv | repeat (a random passage, then the same passage again)")->required();
  synth->add_option("--count", args->count, "Number of examples")->required();
  synth->add_option("--out", args->out, "Output .jsonl (written atomically)")->required();
  synth->add_option("--seed", args->seed, "Seed; example i uses Rng::derive(seed, i)")->capture_default_str();
  synth->add_option("--lengths", args->lengths, "passkey: prompt lengths in tokens; repeat: units per passage; one drawn per example")
      ->delimiter(',')
      ->capture_default_str();
  synth->add_option("--lines", args->lines, "lines: record counts, one drawn per example")
      ->delimiter(',')
      ->capture_default_str();
  synth->add_option("--pairs", args->pairs, "kv: JSON pair counts, one drawn per example")
      ->delimiter(',')
      ->capture_default_str();
  synth->add_option("--units", args->units,
                    "repeat: words (whole-word pieces) | digits | hex (strings of 3-10 distinct characters)")
      ->capture_default_str();
  synth->add_option("--repeats", args->repeats, "repeat: copies of the passage, one count drawn per example")
      ->delimiter(',')
      ->capture_default_str();
  synth->add_option("--chat-template", args->chat_template, "none | vicuna | llama3 | qwen2")->capture_default_str();
  synth->add_option("--context-tokens", args->context_tokens,
                    "Embed each example at a random offset in this many tokens of natural text (0: off)")
      ->capture_default_str();
  synth->add_option("--haystack", args->haystack,
                    "Plain-text file for --context-tokens (default: prose of perl-doc's .pod files)");
  synth->add_option("--word-lists", args->word_lists, "Folder with WordNet's index.adj and index.noun (lines task)")
      ->capture_default_str();
  synth->callback([args] { run_synth(*args); });
}

void setup_data(CLI::App& root) {
  auto* data = root.add_subcommand("data", "Prepare training data (tokenize into token shards; synthesize retrieval documents)");
  data->require_subcommand(1);
  auto* prepare = data->add_subcommand(
      "prepare",
      "Tokenize JSONL ({\"text\": ...} or {\"input_ids\": [...]}, one document per line) or plain-text files "
      "(one document per file) into memory-mappable token shards with a manifest");
  auto args = std::make_shared<PrepareArgs>();
  prepare->add_option("--tokenizer", args->tokenizer, "tokenizer.model (SentencePiece) or tokenizer.json")->required();
  prepare->add_option("--input", args->inputs, "Input files (.jsonl/.json: JSON lines; other: plain text)")
      ->required();
  prepare->add_option("--out", args->out, "Output folder (written atomically)")->required();
  prepare->add_option("--text-field", args->text_field, "JSONL field holding the text")->capture_default_str();
  prepare->add_flag("--eos", args->eos, "Append the tokenizer's EOS to every document");
  prepare->add_option("--format", args->format,
                      "text (JSONL {\"text\"} / {\"input_ids\"}, plain text) or sharegpt (conversations: "
                      "{\"conversations\": [{\"from\", \"value\"}]} or {\"messages\": [{\"role\", \"content\"}]} "
                      "per JSONL line or in one JSON array)")
      ->capture_default_str();
  prepare->add_option("--chat-template", args->chat_template,
                      "With --format sharegpt: vicuna, llama2, llama3 or qwen2 (docs/chat-data.md)")
      ->capture_default_str();
  prepare->add_option("--threads", args->threads, "Tokenizer threads (0: all cores)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  prepare->add_option("--shard-tokens", args->shard_tokens, "Maximum tokens per shard file")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  prepare->add_flag("--force", args->force, "Replace an existing --out folder");
  prepare->add_flag("--quiet", args->quiet, "No progress line");
  prepare->callback([args] { run_prepare(*args); });
  setup_synth(*data);
}

const bool kRegistered = register_command("data", 70, setup_data);

}  // namespace
}  // namespace cream::cli
