// The processes of one run and the collectives between them, on PyTorch's c10d:
// ranks meet through a TCPStore (rank 0 hosts it, or torchrun's agent does), then
// talk through ProcessGroupGloo on CPUs or ProcessGroupNCCL on GPUs (one per local
// rank). This concern sees tensors and process groups, never the model.
//
// Failures are named. Every rank beats a heartbeat into the store and, when it fails,
// leaves its error there before it exits. A collective that breaks (a peer's sockets
// closed) or times out (dist.timeout_s) is turned into one line naming the rank: the
// one that reported an error, or the ones whose heartbeat stopped (killed, hung).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "cream/dist/launch.h"

namespace cream::dist {

struct GroupOptions {
  std::chrono::seconds timeout{600};     // rendezvous, each collective, each store wait
  int64_t bucket_bytes = int64_t{25} << 20;  // all_reduce_sum of many tensors: bytes per collective
};

// What went through the collectives so far (this rank's view).
struct CommStats {
  int64_t collectives = 0;
  int64_t bytes = 0;     // payload bytes this rank contributed
  double seconds = 0.0;  // wall time blocked in collectives (waiting for peers included; async
                         // sums count only the wait in wait_pending(), not what overlapped)
};

class ProcessGroup {
 public:
  // Meets the other ranks (everyone arrives within options.timeout, or the missing
  // ranks are named) and creates the backend for `device` (Gloo for the CPU, NCCL for
  // CUDA).
  ProcessGroup(const LaunchEnv& env, const torch::Device& device, GroupOptions options);
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int rank() const;
  int world_size() const;
  bool is_root() const { return rank() == 0; }
  const std::string& backend_name() const;  // "gloo" or "nccl"

  // In-place sum over the ranks. Many tensors are flattened into buckets of
  // options.bucket_bytes (consecutive tensors of one dtype and device), one
  // collective per bucket. Every tensor must be defined and live where the backend
  // works (the CPU for Gloo, the GPU for NCCL).
  void all_reduce_sum(const std::vector<torch::Tensor>& tensors);
  void all_reduce_sum(const torch::Tensor& tensor);
  void all_reduce_max(const torch::Tensor& tensor);
  // Starts an in-place sum and returns at once (to overlap it with backward); every
  // started sum is complete after wait_pending(). Ranks must start them in one order.
  void all_reduce_sum_async(const torch::Tensor& tensor);
  void wait_pending();
  // `tensor` takes root's values on every rank (a CPU tensor on NCCL goes through the GPU).
  void broadcast(const torch::Tensor& tensor, int root);
  std::string broadcast_string(const std::string& value, int root);
  // Each rank's status, "" when fine: returns "rank R: <message>" for every rank that
  // gave one, the same list on every rank (one collective, messages via the store).
  std::vector<std::string> gather_failures(const std::string& mine);
  void barrier();

  const CommStats& stats() const;

  // Leaves `message` in the store for the other ranks (best effort, never throws),
  // closes this rank's connections so peers notice now, and, where this rank hosts the
  // store, keeps it up a few seconds so they can read why.
  void report_failure(const std::string& message) noexcept;
  // A successful end: a barrier, then the store host waits until everyone is done with it.
  void finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cream::dist
