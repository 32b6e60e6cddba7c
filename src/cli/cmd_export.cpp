// `cream export`: a trainer checkpoint or any HF Llama folder -> a plain HF model folder.
#include <iostream>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "cli_common.h"
#include "command_registry.h"
#include "cream/io/size.h"
#include "cream/train/export.h"
#include "cream/util/error.h"
#include "cream/util/fs.h"

namespace cream::cli {
namespace {

struct ExportCommandOptions {
  std::string checkpoint;
  std::string out;
  std::string dtype = "bf16";
  std::string shard_size = "5GB";
};

uint64_t parse_shard_size(const std::string& text) {
  try {
    return io::parse_size(text);
  } catch (const Error& e) {
    throw Error(std::string("--shard-size: ") + e.what());
  }
}

void run_export(const ExportCommandOptions& options) {
  util::check_output_path(options.out, "--out", /*is_folder=*/true);
  train::ExportOptions export_options;
  export_options.checkpoint = resolve_model_folder(options.checkpoint, "--checkpoint");
  export_options.out = options.out;
  export_options.dtype = parse_float_dtype(options.dtype, "--dtype");
  export_options.max_shard_bytes = parse_shard_size(options.shard_size);
  CREAM_CHECK(export_options.max_shard_bytes > 0, "--shard-size: must be more than 0 bytes");
  const auto summary = train::export_model(export_options);
  std::cout << "exported " << summary.tensors << " tensors (" << summary.weight_bytes << " bytes, "
            << options.dtype << (summary.sharded ? ", sharded" : "") << ") to " << options.out << ":";
  for (const auto& file : summary.files) std::cout << " " << file;
  std::cout << "\n";
}

void setup_export(CLI::App& root) {
  auto options = std::make_shared<ExportCommandOptions>();
  auto* cmd = root.add_subcommand("export", "Write a checkpoint as a plain HF model folder");
  cmd->add_option("--checkpoint", options->checkpoint, "Checkpoint folder (step-NNNNNN/), a run folder (its newest checkpoint) or any HF Llama folder")
      ->required();
  cmd->add_option("--out", options->out, "New output folder (must not exist)")->required();
  cmd->add_option("--dtype", options->dtype, "Weight dtype: bf16, fp32 or fp16")->capture_default_str();
  cmd->add_option("--shard-size", options->shard_size, "Largest shard, HF units (5GB = 5e9 bytes)")
      ->capture_default_str();
  cmd->callback([options] { run_export(*options); });
}

const bool kRegistered = register_command("export", 40, setup_export);

}  // namespace
}  // namespace cream::cli
