// The CUDA caching allocator's own memory figures for one GPU: bytes handed to tensors
// (allocated) and bytes the allocator holds from the driver (reserved), now and at their
// peak since the last reset. This is the metric `cream bench` reports and the memory plan
// is checked against: cudaMemGetInfo would also count other processes and the CUDA
// context, and never shows a transient peak.
#pragma once

#include <cstdint>
#include <string>

#include <torch/torch.h>

namespace cream::train {

struct DeviceMemory {
  uint64_t allocated_bytes = 0;
  uint64_t allocated_peak_bytes = 0;
  uint64_t reserved_bytes = 0;
  uint64_t reserved_peak_bytes = 0;
};

// All zero for a CPU device (and in a build without CUDA).
DeviceMemory read_device_memory(const torch::Device& device);

// Restarts both peaks at the current figures. Does nothing for a CPU device.
void reset_device_peak(const torch::Device& device);

// Waits for the device's queued work (timing must not stop a clock on queued kernels).
// Does nothing for a CPU device.
void synchronize(const torch::Device& device);

// "NVIDIA H100 80GB HBM3" for a GPU, "cpu" for the CPU.
std::string device_name(const torch::Device& device);

// Total memory of the GPU in bytes; 0 for the CPU.
uint64_t device_capacity_bytes(const torch::Device& device);

}  // namespace cream::train
