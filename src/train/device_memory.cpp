#include "cream/train/device_memory.h"

#include <torch/cuda.h>

#ifdef CREAM_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace cream::train {

DeviceMemory read_device_memory(const torch::Device& device) {
  DeviceMemory memory;
#ifdef CREAM_CUDA
  if (!device.is_cuda()) return memory;
  const auto index = device.has_index() ? device.index() : c10::DeviceIndex{0};
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(index);
  const auto all = static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE);
  memory.allocated_bytes = static_cast<uint64_t>(stats.allocated_bytes[all].current);
  memory.allocated_peak_bytes = static_cast<uint64_t>(stats.allocated_bytes[all].peak);
  memory.reserved_bytes = static_cast<uint64_t>(stats.reserved_bytes[all].current);
  memory.reserved_peak_bytes = static_cast<uint64_t>(stats.reserved_bytes[all].peak);
#endif
  return memory;
}

void reset_device_peak(const torch::Device& device) {
#ifdef CREAM_CUDA
  if (!device.is_cuda()) return;
  c10::cuda::CUDACachingAllocator::resetPeakStats(device.has_index() ? device.index() : c10::DeviceIndex{0});
#endif
}

void synchronize(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.has_index() ? device.index() : -1);
}

std::string device_name(const torch::Device& device) {
#ifdef CREAM_CUDA
  if (device.is_cuda()) return at::cuda::getDeviceProperties(device.has_index() ? device.index() : 0)->name;
#endif
  return device.str();
}

uint64_t device_capacity_bytes(const torch::Device& device) {
#ifdef CREAM_CUDA
  if (device.is_cuda())
    return static_cast<uint64_t>(at::cuda::getDeviceProperties(device.has_index() ? device.index() : 0)->totalGlobalMem);
#endif
  return 0;
}

}  // namespace cream::train
