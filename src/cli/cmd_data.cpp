// `cream data prepare`: tokenize JSONL / plain-text inputs into token shards.
#include <filesystem>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "command_registry.h"
#include "cream/data/prepare.h"

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
};

void run_prepare(const PrepareArgs& args) {
  data::PrepareOptions options;
  options.tokenizer = args.tokenizer;
  for (const auto& input : args.inputs) options.inputs.emplace_back(input);
  options.out = args.out;
  options.text_field = args.text_field;
  options.append_eos = args.eos;
  options.threads = args.threads;
  options.max_shard_tokens = args.shard_tokens;
  options.force = args.force;
  options.progress = !args.quiet;
  data::prepare(options);
}

void setup_data(CLI::App& root) {
  auto* data = root.add_subcommand("data", "Prepare training data (tokenize into token shards)");
  data->require_subcommand(1);
  auto* prepare = data->add_subcommand(
      "prepare",
      "Tokenize JSONL ({\"text\": ...} or {\"input_ids\": [...]}, one document per line) or plain-text files "
      "(one document per file) into memory-mappable token shards with a manifest");
  auto args = std::make_shared<PrepareArgs>();
  prepare->add_option("--tokenizer", args->tokenizer, "SentencePiece tokenizer.model")->required();
  prepare->add_option("--input", args->inputs, "Input files (.jsonl/.json: JSON lines; other: plain text)")
      ->required();
  prepare->add_option("--out", args->out, "Output folder (written atomically)")->required();
  prepare->add_option("--text-field", args->text_field, "JSONL field holding the text")->capture_default_str();
  prepare->add_flag("--eos", args->eos, "Append the tokenizer's EOS to every document");
  prepare->add_option("--threads", args->threads, "Tokenizer threads (0: all cores)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  prepare->add_option("--shard-tokens", args->shard_tokens, "Maximum tokens per shard file")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  prepare->add_flag("--force", args->force, "Replace an existing --out folder");
  prepare->add_flag("--quiet", args->quiet, "No progress line");
  prepare->callback([args] { run_prepare(*args); });
}

const bool kRegistered = register_command("data", 70, setup_data);

}  // namespace
}  // namespace cream::cli
