// The memory model behind the plan (include/cream/train/memory_plan.h): the state's
// exact bytes, the activations autograd saves, the transients of the loss, of one
// layer's backward and of the optimizer step, and the walk through one step that
// finds the peak. README.md "Memory plan" derives each term.
#include "cream/train/memory_plan.h"

#include <unistd.h>

#include <algorithm>
#include <vector>

#include "cream/train/adamw.h"
#include "cream/train/device.h"
#include "cream/train/device_memory.h"
#include "cream/train/metrics.h"

namespace cream::train {

namespace {

using config::MemoryMode;

// The model's sizes, in elements, as the parameter tensors are laid out.
struct Shape {
  double hidden = 0, intermediate = 0, heads = 0, kv_heads = 0, head_dim = 0, vocab = 0;
  int64_t layers = 0;
  int64_t parameters = 0;
  int64_t layer_parameters = 0;  // one decoder layer
  int64_t mlp_parameters = 0;    // its MLP and the RMSNorm before it
  int64_t embedding = 0;         // [vocab, hidden]
  int64_t head = 0;              // lm_head [vocab, hidden]; 0 when tied to the embedding
  int64_t largest = 0;           // the largest parameter tensor
  int64_t largest_mlp = 0;        // the largest tensor of a layer's MLP
  int64_t largest_attention = 0;  // ... and of its attention
};

Shape shape_of(const model::LlamaConfig& m) {
  Shape s;
  s.hidden = static_cast<double>(m.hidden_size);
  s.intermediate = static_cast<double>(m.intermediate_size);
  s.heads = static_cast<double>(m.num_attention_heads);
  s.kv_heads = static_cast<double>(m.num_key_value_heads);
  s.head_dim = static_cast<double>(m.head_dim);
  s.vocab = static_cast<double>(m.vocab_size);
  s.layers = m.num_hidden_layers;
  s.parameters = m.num_parameters();
  s.embedding = m.vocab_size * m.hidden_size;
  s.head = m.tie_word_embeddings ? 0 : s.embedding;
  s.layer_parameters = (s.parameters - s.embedding - s.head - m.hidden_size) / std::max<int64_t>(1, s.layers);
  s.mlp_parameters = 3 * m.hidden_size * m.intermediate_size +
                     (m.mlp_bias ? 2 * m.intermediate_size + m.hidden_size : 0) + m.hidden_size;
  s.largest_mlp = m.intermediate_size * m.hidden_size;
  s.largest_attention = m.num_attention_heads * m.head_dim * m.hidden_size;
  s.largest = std::max({s.embedding, s.largest_mlp, s.largest_attention});
  return s;
}

bool accumulates_in_fp32(const MemorySettings& s) {
  return (s.mode == MemoryMode::bf16_sr || s.mode == MemoryMode::bf16_rtn) &&
         s.grad_accumulation == config::GradAccumulation::fp32;
}

// Bytes per element of the compute model (weights, activations, autograd's gradients).
double compute_bytes(const MemorySettings& s) {
  return s.mode == MemoryMode::fp32_masters && s.dtype == config::Dtype::fp32 ? 4.0 : 2.0;
}

// Elements of one chunk of the bf16 update and of the norm's float64 copy.
double update_chunk(int64_t elements) { return static_cast<double>(std::min(elements, kUpdateChunkElements)); }

// --- the optimizer step ------------------------------------------------------

// The transient of AdamW's update of one tensor of `n` elements (adamw.cpp).
double update_transient(const MemorySettings& s, int64_t n) {
  const double chunk = update_chunk(n);
  if (s.mode == MemoryMode::fp32_masters) {
    // CUDA: the fused kernel works in place. CPU: v.sqrt() and its quotient, float32.
    return s.cuda ? 0.0 : 8.0 * static_cast<double>(n);
  }
  if (s.mode == MemoryMode::offload) {
    // The host's float32 gradient + the two float32 temporaries: the whole tensor on the
    // CPU, one chunk on CUDA (those are host bytes there, not device bytes).
    return s.cuda ? 0.0 : 12.0 * static_cast<double>(n);
  }
  // bf16: float32 copies of weight and moments (12 B) and of a bf16 gradient (4 B), then
  // sqrt + quotient (8 B) or the rounding: to nearest one bf16 result (2 B);
  // stochastically (stochastic_round.cpp) 16 random bits drawn as int64 words (2 B),
  // widened to int32 and summed with the value's bits (4 B), the bf16 result (2 B) and
  // the NaN mask (1 B).
  const double copies = 12.0 + (accumulates_in_fp32(s) ? 0.0 : 4.0);
  const double rounding = s.mode == MemoryMode::bf16_rtn ? 2.0 : 9.0;
  return chunk * (copies + std::max(8.0, rounding));
}

// The optimizer step's transient beyond the gradients: the update, or the norm's
// float64 copy of one chunk.
double step_transient(const MemorySettings& s, const Shape& shape) {
  double transient = std::max(update_transient(s, shape.largest), 8.0 * update_chunk(shape.largest));
  // fp32-masters with bf16: each bf16 gradient becomes a float32 one, then is freed;
  // the last one converted (the output weight) is the largest overlap.
  if (s.mode == MemoryMode::fp32_masters && s.dtype == config::Dtype::bf16)
    transient = std::max(transient, 2.0 * static_cast<double>(shape.head > 0 ? shape.head : shape.embedding));
  return transient;
}

// --- gradients during backward -----------------------------------------------

// Bytes per parameter of the gradients autograd leaves in .grad during backward
// (present from the second micro-batch on; built up during the first).
double backward_gradient_bytes(const MemorySettings& s) {
  if (s.mode == MemoryMode::step_in_backward || accumulates_in_fp32(s)) return 0.0;
  return compute_bytes(s);
}

// The transient of one tensor's gradient (n elements) arriving in backward, beyond
// what backward_gradient_bytes() counts.
double gradient_arrival(const MemorySettings& s, int64_t n, bool first_micro_batch) {
  const double c = compute_bytes(s), elements = static_cast<double>(n);
  if (s.mode == MemoryMode::step_in_backward) {
    // The bf16 gradient, its float64 norm chunk or the update.
    return c * elements + std::max(8.0 * update_chunk(n), update_transient(s, n));
  }
  // The hook adds the bf16 gradient into the float32 accumulator; the CPU's add_ makes
  // a float32 copy of a bf16 operand first (CUDA casts inside the kernel).
  if (accumulates_in_fp32(s)) return c * elements + (s.cuda ? 0.0 : 4.0 * elements);
  // The first micro-batch's gradient becomes .grad (counted); later ones are added in.
  return first_micro_batch ? 0.0 : c * elements;
}

// --- activations ---------------------------------------------------------------

// Bytes per token one RMSNorm saves: CUDA's fused kernel keeps its input and the
// float32 1/rms; the CPU path keeps the float32 input, 1/rms and the normed value.
double norm_saved(const Shape& m, double c, bool cuda) {
  return cuda ? c * m.hidden + 4.0 : 4.0 * m.hidden + c * m.hidden + 4.0;
}

// RMSNorm's backward: CUDA's fused kernel writes the input gradient; the CPU composite
// holds three float32 [tokens, hidden] gradients of its statistics at once. Both beside
// the incoming gradient and the residual gradient waiting for the other branch.
double norm_backward(const Shape& m, double c, bool cuda) {
  return (cuda ? c * m.hidden : 12.0 * m.hidden) + 2.0 * c * m.hidden;
}

// One stage of a block's backward: the weight gradients that arrive in it, the saved
// tensors released before it (bytes per token), its transient beyond what is still
// saved (bytes per token) and its largest weight (elements).
struct Stage {
  int64_t parameters = 0;
  double released = 0;
  double transient = 0;
  int64_t largest = 0;
};

// One block of a decoder layer (the MLP or attention, each with the RMSNorm before it):
// what autograd saves of it (bytes per token) and its backward, stage by stage in the
// order the autograd engine runs them.
struct Block {
  double saved = 0;
  std::vector<Stage> stages;  // after the last one, the rest of `saved` is released
};

// MLP: saves its RMSNorm's tensors, the normed input m of gate and up, and four
// [tokens, intermediate] tensors: gate out g (silu's input), silu out s, up out u and
// their product (down's input). Backward: down (its weight gradient; then the product's
// gradient, and those of s and u, beside the incoming gradient, the product released);
// gate and up (their weights; s, u and the product released; the gradients of u and g
// beside the incoming and residual gradients); the RMSNorm (g and m released).
Block mlp_block(const Shape& m, double c, bool cuda) {
  const int64_t hi = m.largest_mlp, h = static_cast<int64_t>(m.hidden);
  Block b;
  b.saved = norm_saved(m, c, cuda) + c * m.hidden + 4.0 * c * m.intermediate;
  b.stages = {{hi, 0.0, 2.0 * c * m.intermediate + c * m.hidden, hi},
              {m.mlp_parameters - hi - h, 3.0 * c * m.intermediate, 2.0 * c * m.intermediate + 2.0 * c * m.hidden, hi},
              {h, c * m.intermediate + c * m.hidden, norm_backward(m, c, cuda), h}};
  return b;
}

// Attention on the SDPA path (flash / memory-efficient kernels: no [T, T] scores):
// saves its RMSNorm's tensors, the normed input a of q, k, v; q and k after RoPE and v;
// the output (o_proj's input) and the float32 logsumexp per head. Grouped-query k and v
// are expanded (copied) to every head before SDPA. Backward: o_proj's weight, then SDPA's
// q, k, v gradients beside its incoming gradient (on CUDA also flash's float32 dq
// accumulator); the q, k, v projections (their weights; SDPA's tensors released); the
// RMSNorm (a released).
Block attention_block(const Shape& m, double c, bool cuda) {
  const double q = m.heads * m.head_dim;
  const double kv = (m.kv_heads == m.heads ? m.kv_heads : m.heads) * m.head_dim;
  const int64_t qh = m.largest_attention, h = static_cast<int64_t>(m.hidden);
  const int64_t attention = m.layer_parameters - m.mlp_parameters;
  const double sdpa = c * q + 2.0 * c * kv + c * q + 4.0 * m.heads;
  Block b;
  b.saved = norm_saved(m, c, cuda) + c * m.hidden + sdpa;
  b.stages = {{qh, 0.0, 2.0 * c * q + 2.0 * c * kv + c * m.hidden + (cuda ? 4.0 * q : 0.0), qh},
              {attention - qh - h, sdpa, c * q + 2.0 * c * kv + 2.0 * c * m.hidden, qh},
              {h, c * m.hidden, norm_backward(m, c, cuda), h}};
  return b;
}

bool recomputed(const MemorySettings& s, int64_t layer) {
  return s.checkpointing && layer % std::max<int64_t>(1, s.checkpointing_stride) == 0;
}

// --- the loss --------------------------------------------------------------------

// Rows per chunk of the chunked cross-entropy: model/loss.cpp's automatic_chunk_rows
// (64 Mi float32 logits) unless set.
int64_t chunk_rows(const MemorySettings& s, int64_t vocab) {
  return s.loss_chunk_rows > 0 ? s.loss_chunk_rows : std::max<int64_t>(1, (int64_t{1} << 26) / std::max<int64_t>(vocab, 1));
}

struct LossBytes {
  double forward = 0;   // a chunk's logits in the compute dtype + their float32 copy
  double backward = 0;  // a chunk's float32 gradient + its compute-dtype copy, the output
                        // weight's float32 gradient sum + one chunk's part, the hidden gradient
};

LossBytes loss_bytes(const Shape& m, const MemorySettings& s) {
  const double c = compute_bytes(s);
  const int64_t rows = s.micro_batch * std::max<int64_t>(s.sequence_length - 1, 0);
  const int64_t per_chunk = chunk_rows(s, static_cast<int64_t>(m.vocab));
  const double n = static_cast<double>(std::min(rows, per_chunk));
  const bool one_chunk = rows <= per_chunk;
  const double weight = m.vocab * m.hidden;
  LossBytes loss;
  loss.forward = (c == 4.0 ? 4.0 : 4.0 + c) * n * m.vocab;
  const double chunk = (c == 4.0 ? 4.0 : 4.0 + c) * n * m.vocab;
  // bf16: a float32 sum beside each chunk's bf16 part; from the second chunk on, the
  // CPU's add_ also makes a float32 copy of the part (CUDA casts inside the kernel).
  // float32: the first part is the sum; later chunks add a second one.
  const double later_parts = one_chunk ? 0.0 : (c == 4.0 ? 4.0 : (s.cuda ? 0.0 : 4.0));
  const double weight_gradient = (c == 4.0 ? 4.0 : 4.0 + c) * weight + later_parts * weight;
  loss.backward = chunk + weight_gradient + c * static_cast<double>(rows) * m.hidden;
  return loss;
}

// --- the walk through one step --------------------------------------------------------

struct Peak {
  double bytes = 0;
  std::string at;
  void consider(double value, const std::string& where) {
    if (value > bytes) {
      bytes = value;
      at = where;
    }
  }
};

uint64_t bytes_of(double value) { return value <= 0 ? 0 : static_cast<uint64_t>(value + 0.5); }

}  // namespace

// Every rank's whole state (no ZeRO split): planned_state_bytes() then shards the moments.
StateBytes planned_unsharded_state_bytes(const model::LlamaConfig& model, const MemorySettings& s);

double heaviest_shard_fraction(const model::LlamaConfig& model, int64_t shards) {
  if (shards <= 1) return 1.0;
  const int64_t h = model.hidden_size, q = model.num_attention_heads * model.head_dim,
                kv = model.num_key_value_heads * model.head_dim, i = model.intermediate_size;
  std::vector<int64_t> numels{model.vocab_size * h};
  for (int64_t layer = 0; layer < model.num_hidden_layers; ++layer) {
    for (const int64_t n : {q * h, kv * h, kv * h, h * q, i * h, i * h, h * i, h, h}) numels.push_back(n);
    if (model.qkv_bias())
      for (const int64_t n : {q, kv, kv}) numels.push_back(n);
    if (model.o_proj_bias()) numels.push_back(h);
  }
  numels.push_back(h);
  if (!model.tie_word_embeddings) numels.push_back(model.vocab_size * h);
  const auto owners = shard_owners(numels, static_cast<int>(shards));
  std::vector<int64_t> load(static_cast<size_t>(shards), 0);
  int64_t total = 0;
  for (size_t k = 0; k < numels.size(); ++k) {
    load[owners[k]] += numels[k];
    total += numels[k];
  }
  return static_cast<double>(*std::max_element(load.begin(), load.end())) / static_cast<double>(total);
}

StateBytes planned_state_bytes(const model::LlamaConfig& model, const MemorySettings& s) {
  auto bytes = planned_unsharded_state_bytes(model, s);
  if (s.optimizer_shards > 1) {
    const double share = heaviest_shard_fraction(model, s.optimizer_shards);
    const bool host_moments = s.mode == MemoryMode::offload;
    if (host_moments) bytes.host -= bytes.optimizer;
    bytes.optimizer = static_cast<uint64_t>(static_cast<double>(bytes.optimizer) * share + 0.5);
    if (host_moments) bytes.host += bytes.optimizer;
  }
  return bytes;
}

StateBytes planned_unsharded_state_bytes(const model::LlamaConfig& model, const MemorySettings& s) {
  const auto p = static_cast<uint64_t>(model.num_parameters());
  const bool mixed = s.dtype == config::Dtype::bf16;
  StateBytes bytes;
  if (s.mode == MemoryMode::fp32_masters) {
    bytes.weights = p * (mixed ? 2 : 4);
    bytes.gradients = p * 4;
    bytes.optimizer = p * 8;
    bytes.masters = mixed ? p * 4 : 0;
  } else if (s.mode == MemoryMode::offload) {
    bytes.weights = p * 2;
    bytes.gradients = p * 2;
    bytes.optimizer = p * 8;
    bytes.masters = p * 4;
    bytes.host = bytes.optimizer + bytes.masters;
    // Two pinned bf16 slots each way, one update chunk each (CUDA only).
    if (s.cuda) bytes.staging = 4 * 2 * static_cast<uint64_t>(update_chunk(shape_of(model).largest));
  } else {
    bytes.weights = p * 2;
    bytes.gradients = s.mode == MemoryMode::step_in_backward ? 0 : p * (accumulates_in_fp32(s) ? 4 : 2);
    bytes.optimizer = p * 4;
  }
  return bytes;
}

MemoryPlan plan_memory(const model::LlamaConfig& model, const MemorySettings& s) {
  const Shape m = shape_of(model);
  const double c = compute_bytes(s);
  const double tokens = static_cast<double>(s.micro_batch * s.sequence_length);
  MemoryPlan plan;
  plan.parameters = m.parameters;
  plan.state = planned_state_bytes(model, s);
  const auto& state = plan.state;
  // What the device holds throughout: on CUDA offload's host part is elsewhere; on the
  // CPU the host is the device, so it counts against the same RAM. Float32 accumulators
  // are allocated once and kept.
  const double persistent_gradients = accumulates_in_fp32(s) ? static_cast<double>(state.gradients) : 0.0;
  const double resident = static_cast<double>(state.weights + state.optimizer + state.masters) -
                          (s.cuda ? static_cast<double>(state.host) : 0.0) + persistent_gradients;
  if (s.cuda && state.host > 0)  // + the host update's float32 gradient chunk and temporaries
    plan.host = bytes_of(static_cast<double>(state.host + state.staging) + 12.0 * update_chunk(m.largest));

  // Activations of one micro-batch.
  const Block mlp = mlp_block(m, c, s.cuda), attention = attention_block(m, c, s.cuda);
  const double layer = (mlp.saved + attention.saved) * tokens;  // one layer's saved activations
  const double layer_input = c * m.hidden * tokens;  // what a recomputed layer keeps
  double layers_saved = 0;
  for (int64_t l = 0; l < m.layers; ++l) layers_saved += recomputed(s, l) ? layer_input : layer;
  const double inputs = (3.0 * 8.0 + 2.0 * c * m.head_dim) * tokens;  // ids, positions, targets, RoPE cos/sin
  const double output = (norm_saved(m, c, s.cuda) + c * m.hidden) * tokens;  // final norm, the loss's input
  const LossBytes loss = loss_bytes(m, s);
  plan.activations = bytes_of(layers_saved + inputs + output);
  plan.recomputed_layer = s.checkpointing ? bytes_of(layer) : 0;
  plan.loss_chunk = bytes_of(std::max(loss.forward, loss.backward));

  // Gradients: with accumulation, a later micro-batch starts with all of them (the worst
  // case); a single micro-batch builds them up during its backward.
  const double per_parameter = backward_gradient_bytes(s);
  const bool first = s.accumulation <= 1;
  const double base = resident + (first ? 0.0 : per_parameter * static_cast<double>(m.parameters));
  double largest_transient = 0;
  for (const Block* block : {&mlp, &attention})
    for (const auto& stage : block->stages)
      largest_transient = std::max(largest_transient, stage.transient * tokens + gradient_arrival(s, stage.largest, first));
  const double step_work = step_transient(s, m);
  plan.working = bytes_of(std::max(largest_transient, step_work));

  Peak peak;
  const double saved = layers_saved + inputs + output;
  peak.consider(base + saved + loss.forward, "loss forward");
  const bool tied = m.head == 0;
  const double output_weight = static_cast<double>(tied ? m.embedding : m.head);
  const double head_gradient = (first ? per_parameter * output_weight : 0.0) +
                               gradient_arrival(s, tied ? m.embedding : m.head, first);
  peak.consider(base + saved + std::max(loss.backward, head_gradient), "loss backward");
  double gradients = first ? per_parameter * (output_weight + m.hidden) : 0.0;
  double below = layers_saved + inputs;  // layers not yet back-propagated, and the inputs
  for (int64_t l = m.layers - 1; l >= 0; --l) {
    // A recomputed layer holds its input and, once rebuilt, all its activations.
    below -= recomputed(s, l) ? layer_input : layer;
    double held = below + (recomputed(s, l) ? layer_input + layer : layer);
    const std::string where = "backward of layer " + std::to_string(l);
    for (const Block* block : {&mlp, &attention}) {
      double released = 0;
      for (const auto& stage : block->stages) {
        if (first) gradients += per_parameter * static_cast<double>(stage.parameters);
        released += stage.released;
        const double transient = stage.transient * tokens + gradient_arrival(s, stage.largest, first);
        peak.consider(base + gradients + held - released * tokens + transient, where);
      }
      held -= block->saved * tokens;
    }
  }
  // The embedding's dense [vocab, hidden] gradient arrives last (a second one when tied).
  const bool new_embedding_gradient = first && !tied;
  peak.consider(base + gradients + (new_embedding_gradient ? per_parameter * static_cast<double>(m.embedding) : 0.0) +
                    gradient_arrival(s, m.embedding, new_embedding_gradient),
                "embedding backward");
  // The step, with the gradients the mode holds then (accumulators are resident).
  const double step_gradients = accumulates_in_fp32(s) ? 0.0 : static_cast<double>(state.gradients);
  peak.consider(resident + step_gradients + step_work, "optimizer step");
  plan.peak = bytes_of(peak.bytes);
  plan.peak_at = peak.at;
  return plan;
}

uint64_t physical_memory_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) : 0;
}

namespace {

uint64_t process_reserve() {
  const int64_t rss = process_rss_bytes();
  return rss > 0 ? static_cast<uint64_t>(rss) : 0;
}

}  // namespace

PlanDevice this_machine_device(config::Device wanted) {
  const torch::Device device = select_device(wanted);
  PlanDevice out;
  out.host_capacity = physical_memory_bytes();
  if (device.is_cuda()) {
    out.cuda = true;
    out.name = device.str() + " " + device_name(device);
    out.capacity = device_capacity_bytes(device);
    out.reserve = kCudaReserveBytes;
  } else {
    out.name = "cpu (physical RAM)";
    out.capacity = out.host_capacity;
    out.reserve = process_reserve();
  }
  return out;
}

PlanDevice named_device(config::Device device, uint64_t capacity) {
  PlanDevice out;
  out.cuda = device != config::Device::cpu;
  out.capacity = capacity;
  out.name = std::string("--device-memory (") + (out.cuda ? "cuda" : "cpu") + ")";
  out.reserve = out.cuda ? kCudaReserveBytes : process_reserve();
  return out;
}

}  // namespace cream::train
