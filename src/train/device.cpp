#include "cream/train/device.h"

#include <cstdlib>
#include <string>

#include <ATen/Context.h>
#include <torch/cuda.h>

#include "cream/dist/launch.h"
#include "cream/util/error.h"
#include "cream/util/log.h"

namespace cream::train {

int local_rank() { return dist::read_local_rank(dist::process_environment()); }

torch::Device select_device(config::Device wanted, const std::string& name) {
  if (wanted == config::Device::cpu) return torch::kCPU;
  const bool cuda = torch::cuda::is_available();
  if (!cuda) {
    CREAM_CHECK(wanted != config::Device::cuda,
                name + ": cuda was asked for but this process sees no CUDA GPU (`cream info` lists what the "
                "build sees)");
    return torch::kCPU;
  }
  const int rank = local_rank();
  const auto count = static_cast<int>(torch::cuda::device_count());
  CREAM_CHECK(rank < count, name + ": LOCAL_RANK " + std::to_string(rank) + " names GPU " +
                                std::to_string(rank) + " but this process sees " + std::to_string(count) +
                                " (check CUDA_VISIBLE_DEVICES and the launcher's processes per node)");
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(rank));
}

void warn_if_large_model_falls_back_to_cpu(config::Device wanted, bool on_cuda, int64_t parameters) {
  if (wanted != config::Device::auto_select || on_cuda || parameters <= 1'000'000'000) return;
  log::warn("model.device auto: no GPU visible, so {} parameters train on the CPU (very slow; set "
            "model.device: cuda to make a missing GPU an error)",
            parameters);
}

void configure_cuda_math(const torch::Device& device) {
  if (!device.is_cuda()) return;
  auto& context = at::globalContext();
  context.setAllowTF32CuBLAS(true);
  context.setAllowTF32CuDNN(true);
  context.setSDPUseFlash(true);
  context.setSDPUseCuDNN(true);
  context.setSDPUseMemEfficient(true);
  context.setSDPUseMath(true);
  log::info("cuda: {} (TF32 matmuls on; SDPA backends flash, cuDNN, memory-efficient, math as the last resort)",
            device.str());
}

}  // namespace cream::train
