// The Llama decoder in LibTorch, parameter for parameter the HF layout: parameter names
// equal the checkpoint keys ("model.layers.0.self_attn.q_proj.weight", ..., "lm_head.weight").
// Modules run in the dtype of their parameters; RMSNorm statistics, softmax and the loss
// run in float32. Parameters are created uninitialised (torch::empty) so that loading a
// 7B checkpoint does not pay for a random init first; see initialize_weights.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "cream/model/config.h"
#include "cream/model/rope.h"

namespace cream::model {

struct AttentionOptions {
  // Use the exact chunked math path even where at::scaled_dot_product_attention exists.
  bool force_math = false;
  // Query rows per chunk of the math path: scores are [B, heads, chunk, T] in float32,
  // so memory grows linearly in T. 0 means "all rows at once".
  int64_t query_chunk = 1024;
};

// Keys and values of earlier tokens, one entry per layer (for incremental decoding).
// Positions of the new tokens are given by the caller; the causal mask is by sequence index.
struct KVCache {
  std::vector<torch::Tensor> keys;    // per layer: [B, kv_heads, T_past, head_dim], after RoPE
  std::vector<torch::Tensor> values;  // per layer: [B, kv_heads, T_past, head_dim]
  int64_t length() const { return keys.empty() || !keys.front().defined() ? 0 : keys.front().size(2); }
};

// y = x W^T + b, with W uninitialised until loaded.
class LinearImpl : public torch::nn::Module {
 public:
  LinearImpl(int64_t in_features, int64_t out_features, bool bias, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight;  // [out_features, in_features]
  torch::Tensor bias;    // [out_features] when enabled, else undefined
};
TORCH_MODULE(Linear);

// Token embedding: rows of `weight` picked by id.
class EmbeddingImpl : public torch::nn::Module {
 public:
  EmbeddingImpl(int64_t vocab, int64_t hidden, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& ids);  // int64 [B, T] -> [B, T, hidden]
  torch::Tensor weight;  // [vocab, hidden]
};
TORCH_MODULE(Embedding);

class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(int64_t size, double eps, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight;  // [size]
  double eps;
};
TORCH_MODULE(RMSNorm);

class LlamaAttentionImpl : public torch::nn::Module {
 public:
  LlamaAttentionImpl(const LlamaConfig& config, const torch::TensorOptions& options);
  // x: [B, T, hidden] -> [B, T, hidden]. With `cache`, attends to its keys first and
  // appends this call's keys and values to cache_keys / cache_values.
  torch::Tensor forward(const torch::Tensor& x, const RopeTables& rope, const AttentionOptions& options,
                        torch::Tensor* cache_keys = nullptr, torch::Tensor* cache_values = nullptr);

  Linear q_proj{nullptr};  // [heads * head_dim, hidden]
  Linear k_proj{nullptr};  // [kv_heads * head_dim, hidden]
  Linear v_proj{nullptr};  // [kv_heads * head_dim, hidden]
  Linear o_proj{nullptr};  // [hidden, heads * head_dim]

 private:
  int64_t heads_, kv_heads_, head_dim_;
};
TORCH_MODULE(LlamaAttention);

// Causal attention of q [B, heads, Tq, d] against k, v [B, kv_heads, Tk, d], where query i
// sits at sequence index Tk - Tq + i. Grouped-query: head j reads kv head j / (heads / kv_heads).
torch::Tensor causal_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                               const AttentionOptions& options);

class LlamaMLPImpl : public torch::nn::Module {
 public:
  LlamaMLPImpl(const LlamaConfig& config, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);  // down(silu(gate(x)) * up(x))

  Linear gate_proj{nullptr};  // [intermediate, hidden]
  Linear up_proj{nullptr};    // [intermediate, hidden]
  Linear down_proj{nullptr};  // [hidden, intermediate]
};
TORCH_MODULE(LlamaMLP);

class LlamaDecoderLayerImpl : public torch::nn::Module {
 public:
  LlamaDecoderLayerImpl(const LlamaConfig& config, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x, const RopeTables& rope, const AttentionOptions& options,
                        torch::Tensor* cache_keys = nullptr, torch::Tensor* cache_values = nullptr);

  RMSNorm input_layernorm{nullptr};           // weight [hidden]
  LlamaAttention self_attn{nullptr};
  RMSNorm post_attention_layernorm{nullptr};  // weight [hidden]
  LlamaMLP mlp{nullptr};
};
TORCH_MODULE(LlamaDecoderLayer);

class LlamaModelImpl : public torch::nn::Module {
 public:
  LlamaModelImpl(const LlamaConfig& config, const torch::TensorOptions& options);
  // tokens, positions: int64 [B, T] -> final normed hidden states [B, T, hidden].
  torch::Tensor forward(const torch::Tensor& tokens, const torch::Tensor& positions,
                        const AttentionOptions& options, KVCache* cache = nullptr);

  Embedding embed_tokens{nullptr};  // weight [vocab, hidden]
  std::vector<LlamaDecoderLayer> layers;
  RMSNorm norm{nullptr};  // weight [hidden]
  // Keep only each layer's input while training and recompute the layer during backward
  // (reentrant, like PyTorch's checkpoint: parameter gradients accumulate into .grad, so
  // use backward(), not autograd::grad()). Ignored without grad mode or with a KV cache.
  bool activation_checkpointing = false;
  // Selective checkpointing: only layers 0, k, 2k, ... are recomputed (1 = every layer).
  int64_t activation_checkpointing_stride = 1;
  // Set from LlamaForCausalLMImpl::check_inputs_on_device.
  bool check_inputs_on_device = true;

 private:
  LlamaConfig config_;
};
TORCH_MODULE(LlamaModel);

// Summed next-token loss and the number of labels that counted (for token-weighted means
// across micro-batches).
struct LossSum {
  torch::Tensor sum;    // float32 scalar
  torch::Tensor count;  // int64 scalar
};

class LlamaForCausalLMImpl : public torch::nn::Module {
 public:
  LlamaForCausalLMImpl(const LlamaConfig& config, const torch::TensorOptions& options = {});

  // tokens, positions: int64 [B, T] -> logits [B, T, vocab] in the parameters' dtype.
  torch::Tensor forward(const torch::Tensor& tokens, const torch::Tensor& positions, KVCache* cache = nullptr);
  torch::Tensor hidden_states(const torch::Tensor& tokens, const torch::Tensor& positions, KVCache* cache = nullptr);

  // HF semantics: labels are NOT pre-shifted; logits at t are scored against labels[t + 1],
  // labels equal to ignore_index are skipped. Mean over counted labels in float32 (0 when
  // none counts). Rows are processed `loss_chunk_rows` at a time (0: automatic) in forward
  // AND backward, so no [B*T, vocab] float32 tensor ever exists.
  torch::Tensor loss(const torch::Tensor& tokens, const torch::Tensor& positions, const torch::Tensor& labels,
                     int64_t ignore_index = -100);
  LossSum loss_sum(const torch::Tensor& tokens, const torch::Tensor& positions, const torch::Tensor& labels,
                   int64_t ignore_index = -100);

  // The output projection: lm_head.weight, or the embedding when tied. [vocab, hidden]
  torch::Tensor output_weight() const;
  const LlamaConfig& config() const { return config_; }

  LlamaModel model{nullptr};
  Linear lm_head{nullptr};  // weight [vocab, hidden]; null when tie_word_embeddings
  AttentionOptions attention;
  int64_t loss_chunk_rows = 0;
  // Range checks of token ids, positions and labels read the values back to the host
  // (one device sync each). The trainer checks its batches on the host before the copy
  // and turns this off.
  bool check_inputs_on_device = true;

 private:
  LlamaConfig config_;
};
TORCH_MODULE(LlamaForCausalLM);

// Next-token cross entropy of rows `hidden` [R, H] against `targets` [R] through the
// projection `weight` [V, H], summed in float32, `chunk_rows` rows at a time (0: automatic).
// Differentiable in hidden and weight; backward recomputes each chunk's logits.
torch::Tensor chunked_cross_entropy_sum(const torch::Tensor& hidden, const torch::Tensor& weight,
                                        const torch::Tensor& targets, int64_t ignore_index, int64_t chunk_rows,
                                        bool check_targets = true);

// The SDPA kernel LibTorch picks for causal self-attention of `config` over `length`
// tokens in `dtype` on `device`: "flash", "efficient", "cudnn" or "math" (the trainer logs
// it, `cream bench` prints it). The memory plan assumes a fused kernel, not "math".
std::string sdpa_backend(const LlamaConfig& config, int64_t length, torch::ScalarType dtype,
                         const torch::Device& device);

// HF's initialisation: every Linear and the embedding ~ N(0, std), norms 1, biases 0.
// Drawn on the CPU from `seed` so the result does not depend on the device.
void initialize_weights(LlamaForCausalLMImpl& model, uint64_t seed, double std = 0.02);

}  // namespace cream::model
