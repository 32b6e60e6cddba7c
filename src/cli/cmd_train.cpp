// `cream train`: fine-tune (or pretrain a small model) from a YAML experiment.
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "command_registry.h"
#include "cream/train/trainer.h"

namespace cream::cli {
namespace {

void setup_train(CLI::App& root) {
  auto command = std::make_shared<train::TrainCommand>();
  auto config_path = std::make_shared<std::string>();
  auto* cmd = root.add_subcommand("train", "Fine-tune (or pretrain a small model) from a YAML experiment config");
  cmd->add_option("-c,--config", *config_path, "Experiment config (YAML; see configs/README.md)")->required();
  cmd->add_option("--set", command->overrides, "Override a key: section.key=value (repeatable)");
  cmd->add_flag("--resume", command->resume, "Continue from the latest complete checkpoint in checkpoint.output_dir");
  cmd->add_flag("--force", command->force, "Resume even when the config changed");
  cmd->add_flag("--dry-run", command->dry_run, "Validate and print the plan without weights or data");
  cmd->callback([command, config_path] {
    command->config_path = *config_path;
    const int status = train::run_train_command(*command, std::cout);
    if (status != 0) throw ExitWithStatus{status};
  });
}

const bool kRegistered = register_command("train", 10, setup_train);

}  // namespace
}  // namespace cream::cli
