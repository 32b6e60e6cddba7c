// `cream train`: fine-tune (or pretrain a small model) from a YAML experiment.
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "command_registry.h"
#include "cream/io/size.h"
#include "cream/train/memory_plan.h"
#include "cream/train/trainer.h"

namespace cream::cli {
namespace {

struct TrainArgs {
  train::TrainCommand command;
  std::string config_path;
  std::string device_memory;  // "80GiB"; empty: this machine's device
  int world_size = 1;
  bool no_memory_check = false;
};

void setup_train(CLI::App& root) {
  auto args = std::make_shared<TrainArgs>();
  auto* cmd = root.add_subcommand("train", "Fine-tune (or pretrain a small model) from a YAML experiment config");
  cmd->add_option("-c,--config", args->config_path, "Experiment config (YAML; see configs/README.md)")->required();
  cmd->add_option("--set", args->command.overrides, "Override a key: section.key=value (repeatable)");
  cmd->add_flag("--resume", args->command.resume, "Continue from the latest complete checkpoint in checkpoint.output_dir");
  cmd->add_flag("--force", args->command.force, "Resume even when the config changed");
  cmd->add_flag("--dry-run", args->command.dry_run,
                "Validate and print the plan and its memory (per component, peak vs capacity) without weights or data");
  cmd->add_option("--device-memory", args->device_memory,
                  "Plan against this much device memory (80GiB, 40GB) instead of this machine's device "
                  "(model.device cpu plans the CPU's kernels, cuda and auto CUDA's)");
  cmd->add_option("--world-size", args->world_size, "Processes the plan is for (with --dry-run): sets the accumulation")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--no-memory-check", args->no_memory_check, "Start even when the memory plan exceeds the device");
  cmd->callback([args] {
    args->command.config_path = args->config_path;
    train::PlanTarget target;
    target.world_size = args->world_size;
    if (!args->device_memory.empty()) target.device_memory = io::parse_size(args->device_memory);
    const int status = train::run_train_command(args->command, target, !args->no_memory_check, std::cout);
    if (status != 0) throw ExitWithStatus{status};
  });
}

const bool kRegistered = register_command("train", 10, setup_train);

}  // namespace
}  // namespace cream::cli
