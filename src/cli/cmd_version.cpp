// `cream version`: build facts useful in bug reports (LibTorch version, threads, CUDA).
#include <iostream>

#include <CLI/CLI.hpp>
#include <torch/version.h>
#include <ATen/Parallel.h>
#include <torch/cuda.h>

#include "command_registry.h"

namespace cream::cli {
namespace {

void setup_version(CLI::App& root) {
  auto* cmd = root.add_subcommand("version", "Print build facts (LibTorch version, threads, CUDA)");
  cmd->callback([] {
    std::cout << "cream 0.1.0\n"
              << "libtorch " << TORCH_VERSION << "\n"
              << "intra-op threads " << at::get_num_threads() << "\n"
              << "cuda " << (torch::cuda::is_available() ? "available" : "not available") << "\n";
  });
}

const bool kRegistered = register_command("version", 100, setup_version);

}  // namespace
}  // namespace cream::cli
