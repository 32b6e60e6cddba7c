// `cream version` / `cream info` / `cream --version`: the build facts a bug report
// needs: the commit it was built from, LibTorch version, the CUDA and cuDNN it was
// compiled with (and whether its CUDA kernels are loaded at all), thread count, and
// the GPUs this process sees.
#include <iostream>
#include <sstream>

#include <ATen/Parallel.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <CLI/CLI.hpp>
#include <torch/cuda.h>
#include <torch/version.h>

#ifdef CREAM_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <cuda_runtime_api.h>
#include <cudnn_version.h>
#endif

#include "command_registry.h"
#include "cream_build_commit.h"  // generated at build time: CREAM_BUILD_COMMIT

namespace cream::cli {
namespace {

// "13000" -> "13.0"; cuDNN "91900" -> "9.19.0".
std::string cuda_version_text(long v) { return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10); }
std::string cudnn_version_text(long v) {
  return std::to_string(v / 10000) + "." + std::to_string(v % 10000 / 100) + "." + std::to_string(v % 100);
}

// What LibTorch's CUDA library (libtorch_cuda) reports; "not loaded" when the
// binary runs without it (a CPU LibTorch, or a link that dropped it).
std::string torch_cuda_line() {
  const auto& hooks = at::detail::getCUDAHooks();
  if (!hooks.hasCUDART()) return "libtorch_cuda not loaded (CPU-only LibTorch)";
  std::string line = "CUDA " + cuda_version_text(hooks.versionCUDART());
  if (hooks.hasCuDNN()) line += ", cuDNN " + cudnn_version_text(hooks.versionCuDNN());
  return line;
}

std::string gpus_line() {
  const auto count = static_cast<int>(torch::cuda::device_count());
  if (count == 0) return "none";
  std::string line = std::to_string(count);
#ifdef CREAM_CUDA
  for (int i = 0; i < count; ++i) {
    const auto* properties = at::cuda::getDeviceProperties(i);
    line += std::string(i == 0 ? ": " : "; ") + "cuda:" + std::to_string(i) + " " + properties->name + " (" +
            std::to_string(properties->totalGlobalMem >> 20) + " MiB, sm_" + std::to_string(properties->major) +
            std::to_string(properties->minor) + ")";
  }
#endif
  return line;
}

}  // namespace

std::string build_info() {
  std::ostringstream out;
  out << "cream 0.1.0\n"
      << "commit " << CREAM_BUILD_COMMIT << "\n"
      << "libtorch " << TORCH_VERSION << "\n";
#ifdef CREAM_CUDA
  out << "build CUDA-enabled: compiled with CUDA " << cuda_version_text(CUDART_VERSION) << ", cuDNN "
      << CUDNN_MAJOR << "." << CUDNN_MINOR << "." << CUDNN_PATCHLEVEL << "\n";
#else
  out << "build CPU-only (no CUDA toolkit or a CPU LibTorch at configure time)\n";
#endif
  out << "libtorch cuda " << torch_cuda_line() << "\n"
      << "intra-op threads " << at::get_num_threads() << "\n"
      << "gpus " << gpus_line() << "\n";
  return out.str();
}

namespace {

void add_info_command(CLI::App& root, const char* name) {
  auto* cmd = root.add_subcommand(name, "Print build facts (LibTorch, CUDA, cuDNN, threads, visible GPUs)");
  cmd->callback([] { std::cout << build_info(); });
}

const bool kRegistered = register_command("version", 100, [](CLI::App& root) { add_info_command(root, "version"); });
const bool kRegisteredInfo = register_command("info", 101, [](CLI::App& root) { add_info_command(root, "info"); });

}  // namespace
}  // namespace cream::cli
