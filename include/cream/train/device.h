// Which device a process trains on, and the CUDA math settings it trains with.
#pragma once

#include <string>

#include <torch/torch.h>

#include "cream/config/sections.h"

namespace cream::train {

// model.device: cpu -> CPU; cuda -> cuda:LOCAL_RANK (0 when LOCAL_RANK is unset), a
// one-line cream::Error when no GPU is visible or LOCAL_RANK names a GPU that does not
// exist; auto -> cuda:LOCAL_RANK when a GPU is visible, else the CPU.
// `name` is what errors call the setting: the YAML key, or the flag the user typed.
torch::Device select_device(config::Device wanted, const std::string& name = "model.device");

// model.device auto that fell back to the CPU for a model above ~1B parameters is almost
// always a missing GPU or a CPU-only build: a warning (train and --dry-run alike).
void warn_if_large_model_falls_back_to_cpu(config::Device wanted, bool on_cuda, int64_t parameters);

// LOCAL_RANK from the environment (torchrun, SLURM wrappers); 0 when unset.
// A value that is not a non-negative integer is a cream::Error naming the variable.
int local_rank();

// On CUDA: TF32 for the float32 matmuls and convolutions that remain, and the SDPA
// backends cream prefers (flash, then cuDNN, then memory-efficient; the math path
// stays as the last resort). Logs what it set. Does nothing on the CPU.
void configure_cuda_math(const torch::Device& device);

}  // namespace cream::train
