// `cream generate`: KV-cache decoding from a text prompt with the model folder's own
// tokenizer; greedy by default, temperature / top-p sampling on request; stops at EOS.
#include <filesystem>
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "cli_common.h"
#include "command_registry.h"
#include "cream/eval/generate.h"
#include "cream/eval/model_overrides.h"
#include "cream/io/tokenizer.h"
#include "cream/model/weights.h"
#include "cream/util/error.h"
#include "cream/util/log.h"

namespace cream::cli {
namespace {

namespace fs = std::filesystem;

struct GenerateCommand {
  std::string model;
  std::string prompt;
  eval::GenerateOptions options;
  std::string dtype = "fp32";
  std::string device = "auto";
  int threads = 0;
  bool no_bos = false;
  bool print_ids = false;
};

std::vector<int64_t> prompt_ids(const io::Tokenizer& tokenizer, const GenerateCommand& command) {
  std::vector<int64_t> ids;
  if (!command.no_bos && tokenizer.bos_id() >= 0) ids.push_back(tokenizer.bos_id());
  for (auto id : tokenizer.encode(command.prompt)) ids.push_back(id);
  return ids;
}

void run_generate(GenerateCommand command) {
  set_threads(command.threads);
  command.model = resolve_model_folder(command.model, "--model");
  const auto tokenizer_path = io::tokenizer_file_in(command.model);
  CREAM_CHECK(!tokenizer_path.empty(), command.model + ": no tokenizer.model or tokenizer.json in the model folder");
  const io::Tokenizer tokenizer(tokenizer_path);
  const auto device = parse_device(command.device, "--device");
  const auto dtype = model::torch_dtype(parse_float_dtype(command.dtype, "--dtype"));
  auto model = model::load_model(command.model, device, dtype);
  model->eval();
  CREAM_CHECK(tokenizer.vocab_size() <= model->config().vocab_size,
              tokenizer_path.string() + ": tokenizer vocabulary (" + std::to_string(tokenizer.vocab_size()) +
                  ") is larger than config.json's vocab_size (" + std::to_string(model->config().vocab_size) + ")");
  if (tokenizer.eos_id() >= 0) command.options.stop_ids.push_back(tokenizer.eos_id());
  const auto prompt = prompt_ids(tokenizer, command);
  // Said before the work: prompt plus new tokens past the window the model was made for.
  eval::warn_beyond_window(model->config(), static_cast<int64_t>(prompt.size()) + command.options.max_new_tokens,
                           "generate (prompt + --max-new-tokens)");
  const auto result = eval::generate(*model, prompt, command.options);
  if (command.print_ids) {  // exact tokens, for parity checks with other implementations
    for (size_t i = 0; i < result.tokens.size(); ++i) std::cout << (i ? " " : "") << result.tokens[i];
    std::cout << std::endl;
  } else {
    std::vector<int32_t> text_ids(result.tokens.begin(), result.tokens.end());
    std::cout << tokenizer.decode(text_ids) << std::endl;
  }
  log::info("generated {} tokens ({}), {:.1f} tokens/s", result.tokens.size(),
            result.stopped ? "stopped at EOS" : "max-new-tokens reached", result.tokens_per_s);
}

void setup_generate(CLI::App& root) {
  auto command = std::make_shared<GenerateCommand>();
  auto* cmd = root.add_subcommand("generate", "Decode from a prompt with a KV cache (greedy unless --temperature)");
  cmd->add_option("--model", command->model, "HF model folder with tokenizer.model, or a run folder (its newest checkpoint)")
      ->required();
  cmd->add_option("--prompt", command->prompt, "Prompt text")->required();
  cmd->add_option("--max-new-tokens", command->options.max_new_tokens, "Most tokens to generate")->capture_default_str();
  cmd->add_option("--temperature", command->options.temperature, "0 = greedy")->capture_default_str();
  cmd->add_option("--top-p", command->options.top_p, "Nucleus mass when sampling")->capture_default_str();
  cmd->add_option("--seed", command->options.seed, "Sampling seed")->capture_default_str();
  cmd->add_flag("--no-bos", command->no_bos, "Do not prepend BOS to the prompt");
  cmd->add_flag("--print-ids", command->print_ids, "Print the new token ids (space-separated) instead of the text");
  cmd->add_option("--dtype", command->dtype, "Compute dtype: fp32 or bf16")->capture_default_str();
  cmd->add_option("--device", command->device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  cmd->add_option("--threads", command->threads, "Intra-op threads (0: LibTorch default)");
  cmd->callback([command] { run_generate(*command); });
}

const bool kRegistered = register_command("generate", 45, setup_generate);

}  // namespace
}  // namespace cream::cli
