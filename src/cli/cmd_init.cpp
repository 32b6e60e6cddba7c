// `cream init`: a randomly initialised model folder in HF layout, written tensor by
// tensor (a 7B preset never sits in memory), with a tokenizer copied in when given.
#include <filesystem>
#include <iostream>

#include <CLI/CLI.hpp>

#include "cli_common.h"
#include "command_registry.h"
#include "cream/io/safetensors.h"
#include "cream/io/size.h"
#include "cream/io/tokenizer.h"
#include "cream/model/config.h"
#include "cream/model/presets.h"
#include "cream/model/random_init.h"
#include "cream/model/weights.h"
#include "cream/util/error.h"
#include "cream/util/fs.h"
#include "cream/util/log.h"

namespace cream::cli {
namespace {

namespace fs = std::filesystem;

struct InitOptions {
  std::string preset;
  std::string model_config;
  std::string out;
  uint64_t seed = 0;
  std::string dtype = "fp32";
  std::string tokenizer;
  std::string shard_size = "5GB";
};

model::LlamaConfig initial_config(const InitOptions& options) {
  CREAM_CHECK(options.preset.empty() != options.model_config.empty(),
              "init: give exactly one of --preset and --model-config");
  return options.preset.empty() ? model::LlamaConfig::from_file(options.model_config)
                                : model::preset(options.preset);
}

void run_init(const InitOptions& options) {
  util::check_output_path(options.out, "--out", /*is_folder=*/true);
  // Refused before anything is logged: an error is the only line a failed command prints.
  CREAM_CHECK(!fs::exists(fs::symlink_status(options.out)), options.out + ": already exists (refusing to overwrite)");
  auto config = initial_config(options);
  const auto dtype = parse_float_dtype(options.dtype, "--dtype");
  const auto shard_bytes = io::parse_size(options.shard_size);
  std::unique_ptr<io::Tokenizer> tokenizer;
  if (!options.tokenizer.empty()) {
    tokenizer = std::make_unique<io::Tokenizer>(options.tokenizer);
    model::adopt_tokenizer(config, *tokenizer);
    config.validate("init");
  }
  config.torch_dtype = model::hf_dtype_name(dtype);
  log::info("init: {} parameters, {} -> {}", config.num_parameters(), io::dtype_name(dtype), options.out);
  util::create_folder_atomic(options.out, [&](const fs::path& folder) {
    util::write_file_atomic(folder / "config.json", config.to_json().dump(2) + "\n");
    io::CheckpointWriteOptions write_options;
    write_options.max_shard_bytes = shard_bytes;
    io::write_checkpoint(folder, model::random_tensor_sources(config, options.seed, dtype), write_options);
    if (tokenizer) io::copy_tokenizer_files(*tokenizer, folder);
  });
  std::cout << "wrote " << options.out << "\n";
}

void setup_init(CLI::App& root) {
  auto options = std::make_shared<InitOptions>();
  auto* cmd = root.add_subcommand("init", "Write a randomly initialised model folder in HF layout");
  cmd->add_option("--preset", options->preset, "Architecture preset (tiny, llama2-7b, llama2-13b, llama3-8b, ...)");
  cmd->add_option("--model-config", options->model_config, "An HF config.json to initialise instead of a preset");
  cmd->add_option("--out", options->out, "Output folder (must not exist)")->required();
  cmd->add_option("--seed", options->seed, "Seed of the N(0, 0.02) initialisation")->capture_default_str();
  cmd->add_option("--dtype", options->dtype, "Weight dtype: fp32 or bf16")->capture_default_str();
  cmd->add_option("--tokenizer", options->tokenizer,
                  "tokenizer.model (SentencePiece) or tokenizer.json to copy in (sets vocab_size and BOS/EOS ids)");
  cmd->add_option("--shard-size", options->shard_size, "Largest shard (HF decimal units: 5GB = 5e9 bytes)")
      ->capture_default_str();
  cmd->callback([options] { run_init(*options); });
}

const bool kRegistered = register_command("init", 70, setup_init);

}  // namespace
}  // namespace cream::cli
