// `cream bench`: FLOPs and peaks, random weights and batches on the device, the memory
// watch, and the JSON both timings share.
#include <algorithm>
#include <cmath>
#include <random>

#include <ATen/Parallel.h>
#include <torch/version.h>

#include "bench.h"
#include "cream/model/llama.h"
#include "cream/train/device_memory.h"

namespace cream::cli::bench {
namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool has(const std::string& text, const char* part) { return text.find(part) != std::string::npos; }

// N(0, std) into `weight`. On the host, tensors larger than a pool of 4M draws are filled
// with 2M-element windows of the pool at random offsets (one draw per element would take
// a minute for 7B float32 masters; the values only need to be sane, not independent).
void fill_normal(torch::Tensor& weight, double std, std::mt19937_64& offsets) {
  constexpr int64_t kPool = int64_t{1} << 22, kWindow = kPool / 2;
  const int64_t count = weight.numel();
  if (weight.is_cuda() || count <= kPool) {
    weight.normal_(0.0, std);
    return;
  }
  const auto pool = torch::empty({kPool}, weight.options()).normal_(0.0, std);
  auto flat = weight.view({-1});
  std::uniform_int_distribution<int64_t> offset(0, kPool - kWindow);
  for (int64_t start = 0; start < count; start += kWindow) {
    const int64_t length = std::min(kWindow, count - start);
    flat.narrow(0, start, length).copy_(pool.narrow(0, offset(offsets), length));
  }
}

Json bytes_json(uint64_t bytes) {
  return {{"bytes", bytes}, {"gib", rounded(static_cast<double>(bytes) / kGiB, 1000)}};
}

}  // namespace

double rounded(double value, double scale) { return std::round(value * scale) / scale; }

std::string checkpointing_name(int64_t stride) {
  if (stride <= 0) return "none";
  if (stride == 1) return "all";
  return "every:" + std::to_string(stride);
}

double training_flops_per_token(const model::LlamaConfig& c, int64_t seq) {
  const int64_t lookup_table = c.tie_word_embeddings ? 0 : c.vocab_size * c.hidden_size;
  const auto multiplying = static_cast<double>(c.num_parameters() - lookup_table);
  return 6.0 * multiplying +
         12.0 * static_cast<double>(c.num_hidden_layers) * static_cast<double>(c.hidden_size) * static_cast<double>(seq);
}

std::optional<Peak> peak_flops(const torch::Device& device, const std::string& name, config::Dtype dtype,
                               double override_tflops) {
  if (override_tflops > 0) return Peak{override_tflops * 1e12, "--peak-tflops"};
  if (!device.is_cuda()) return std::nullopt;
  const bool bf16 = dtype == config::Dtype::bf16;
  // Dense tensor-core peaks from the vendor's data sheets; fp32 runs its matmuls as TF32.
  if (has(name, "H100") && has(name, "PCIe")) return Peak{bf16 ? 756e12 : 378e12, "device table (H100 PCIe)"};
  if (has(name, "H100") || has(name, "H200")) return Peak{bf16 ? 989e12 : 494.5e12, "device table (H100/H200 SXM)"};
  if (has(name, "A100")) return Peak{bf16 ? 312e12 : 156e12, "device table (A100)"};
  return std::nullopt;
}

model::LlamaForCausalLM random_model(const model::LlamaConfig& config, const torch::TensorOptions& options,
                                     uint64_t seed) {
  model::LlamaForCausalLM model(config, options);
  torch::manual_seed(seed);  // seeds the CPU and every CUDA device's default generator
  torch::NoGradGuard no_grad;
  std::mt19937_64 offsets(seed);
  for (auto& item : model->named_parameters()) {
    auto weight = item.value();
    if (ends_with(item.key(), "norm.weight")) {
      weight.fill_(1.0);
    } else if (ends_with(item.key(), ".bias")) {
      weight.zero_();
    } else {
      fill_normal(weight, 0.02, offsets);
    }
  }
  return model;
}

Batch random_batch(int64_t vocab, int64_t rows, int64_t length, const torch::Device& device, uint64_t seed) {
  auto generator = at::detail::createCPUGenerator(seed);
  Batch batch;
  batch.tokens = at::randint(vocab, {rows, length}, generator, torch::TensorOptions().dtype(torch::kLong)).to(device);
  batch.positions = torch::arange(length, torch::TensorOptions().dtype(torch::kLong).device(device))
                        .unsqueeze(0)
                        .expand({rows, length})
                        .contiguous();
  return batch;
}

MemoryWatch::MemoryWatch(const torch::Device& device) : device_(device) {
  host_reset_ok_ = util::reset_host_peak();
  baseline_ = util::read_host_memory().value_or(util::HostMemory{});
}

void MemoryWatch::restart_peaks() {
  // Free blocks the allocator cached during setup count as reserved, not allocated.
  train::synchronize(device_);
  train::reset_device_peak(device_);
  host_reset_ok_ = util::reset_host_peak() && host_reset_ok_;
}

uint64_t MemoryWatch::peak_bytes() const {
  if (device_.is_cuda()) return train::read_device_memory(device_).allocated_peak_bytes;
  const auto now = util::read_host_memory().value_or(util::HostMemory{});
  return now.peak_bytes > baseline_.resident_bytes ? now.peak_bytes - baseline_.resident_bytes : 0;
}

Json MemoryWatch::report() const {
  const auto host = util::read_host_memory().value_or(util::HostMemory{});
  Json json;
  json["peak"] = bytes_json(peak_bytes());
  json["peak_is"] = device_.is_cuda() ? "CUDA caching allocator, peak allocated over the timed steps"
                                      : "host peak RSS over the timed steps minus the baseline before the model";
  json["host"] = {{"baseline", bytes_json(baseline_.resident_bytes)},
                  {"peak_rss", bytes_json(host.peak_bytes)},
                  {"peak_over_baseline", bytes_json(host.peak_bytes - std::min(host.peak_bytes, baseline_.resident_bytes))},
                  // False: the kernel refused the reset and the peaks count from process start.
                  {"peak_reset", host_reset_ok_}};
  if (device_.is_cuda()) {
    const auto device = train::read_device_memory(device_);
    json["device"] = {{"allocated_peak", bytes_json(device.allocated_peak_bytes)},
                      {"reserved_peak", bytes_json(device.reserved_peak_bytes)},
                      {"capacity", bytes_json(train::device_capacity_bytes(device_))}};
  } else {
    json["device"] = nullptr;
  }
  return json;
}

double Timing::total() const {
  double sum = 0;
  for (double s : seconds) sum += s;
  return sum;
}

Json settings_json(const BenchSettings& s) {
  const auto& c = s.config;
  return {{"impl", "cream"},
          {"preset", s.preset},
          {"custom_shape", s.custom_shape},
          {"shape",
           {{"layers", c.num_hidden_layers},
            {"hidden", c.hidden_size},
            {"heads", c.num_attention_heads},
            {"kv_heads", c.num_key_value_heads},
            {"head_dim", c.head_dim},
            {"intermediate", c.intermediate_size},
            {"vocab", c.vocab_size},
            {"tied_embeddings", c.tie_word_embeddings},
            {"parameters", c.num_parameters()}}},
          {"micro_batch", s.micro_batch},
          {"steps", s.steps},
          {"warmup", s.warmup},
          {"dtype", config::to_string(s.dtype)},
          {"device", s.device.str()},
          {"device_name", train::device_name(s.device)},
          {"libtorch", TORCH_VERSION},
          {"threads", at::get_num_threads()},
          {"seed", s.seed}};
}

Json speed_json(const BenchSettings& s, const Timing& timing, int64_t tokens_per_step,
                          double flops_per_token) {
  const double total = timing.total();
  const auto steps = static_cast<double>(timing.seconds.size());
  const double tokens_per_s = static_cast<double>(tokens_per_step) * steps / total;
  const auto peak = peak_flops(s.device, train::device_name(s.device), s.dtype, s.peak_tflops);
  Json json = {
      {"tokens_per_s", rounded(tokens_per_s, 10)},
      {"ms_per_step", rounded(1000 * total / steps, 100)},
      {"ms_per_step_min", rounded(1000 * *std::min_element(timing.seconds.begin(), timing.seconds.end()), 100)},
      // Less sensitive than wall time to other load on a shared machine.
      {"cpu_ms_per_step", rounded(1000 * timing.cpu_seconds / steps, 100)},
      {"flops_per_token", flops_per_token},
      {"peak_tflops", peak ? Json(peak->flops / 1e12) : Json(nullptr)},
      {"peak_source", peak ? Json(peak->source) : Json(nullptr)},
      {"mfu", peak ? Json(rounded(tokens_per_s * flops_per_token / peak->flops, 1e5)) : Json(nullptr)},
  };
  return json;
}

}  // namespace cream::cli::bench
