#include "cream/model/llama.h"

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <optional>

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/utils.h>

#include "cream/util/error.h"
#include "cream/util/log.h"

namespace cream::model {

LinearImpl::LinearImpl(int64_t in_features, int64_t out_features, bool with_bias, const torch::TensorOptions& options) {
  weight = register_parameter("weight", torch::empty({out_features, in_features}, options));
  if (with_bias) bias = register_parameter("bias", torch::empty({out_features}, options));
}

torch::Tensor LinearImpl::forward(const torch::Tensor& x) { return torch::linear(x, weight, bias); }

EmbeddingImpl::EmbeddingImpl(int64_t vocab, int64_t hidden, const torch::TensorOptions& options) {
  weight = register_parameter("weight", torch::empty({vocab, hidden}, options));
}

torch::Tensor EmbeddingImpl::forward(const torch::Tensor& ids) { return torch::embedding(weight, ids); }

RMSNormImpl::RMSNormImpl(int64_t size, double eps_, const torch::TensorOptions& options) : eps(eps_) {
  weight = register_parameter("weight", torch::ones({size}, options));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  // On CUDA, LibTorch's fused kernel (one pass, statistics in float32); it applies the
  // weight before the final rounding, so bf16 results may differ from HF's by one ulp.
  if (x.is_cuda() && x.scalar_type() == weight.scalar_type())
    return at::rms_norm(x, {weight.size(0)}, weight, eps);
  // Statistics in float32 whatever the compute dtype, cast back before the weight (as HF).
  const auto x32 = x.to(torch::kFloat);
  const auto normed = x32 * torch::rsqrt(x32.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return weight * normed.to(x.scalar_type());
}

LlamaAttentionImpl::LlamaAttentionImpl(const LlamaConfig& c, const torch::TensorOptions& options)
    : heads_(c.num_attention_heads), kv_heads_(c.num_key_value_heads), head_dim_(c.head_dim) {
  // Llama: attention_bias on all four; Qwen2: q/k/v only; Mistral: none.
  const bool bias = c.qkv_bias();
  q_proj = register_module("q_proj", Linear(c.hidden_size, heads_ * head_dim_, bias, options));
  k_proj = register_module("k_proj", Linear(c.hidden_size, kv_heads_ * head_dim_, bias, options));
  v_proj = register_module("v_proj", Linear(c.hidden_size, kv_heads_ * head_dim_, bias, options));
  o_proj = register_module("o_proj", Linear(heads_ * head_dim_, c.hidden_size, c.o_proj_bias(), options));
}

namespace {

// The exact path: query rows in chunks, scores and softmax in float32, an explicit mask
// aligned to the END of the keys (queries are the last Tq of Tk sequence indices).
// Grouped-query heads share their kv head without copying it: the `group` query heads of
// one kv head are stacked as extra rows, [B, kv, group * rows, d] x [B, kv, d, Tk].
torch::Tensor chunked_math_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                     int64_t chunk) {
  const int64_t batch = q.size(0), heads = q.size(1), tq = q.size(2), dim = q.size(3);
  const int64_t kv_heads = k.size(1), tk = k.size(2), group = heads / kv_heads;
  const double scale = 1.0 / std::sqrt(static_cast<double>(dim));
  const int64_t step = chunk > 0 ? chunk : std::max<int64_t>(tq, 1);
  const auto grouped = q.reshape({batch, kv_heads, group, tq, dim});  // head j = g * group + r
  const auto keys_t = k.to(torch::kFloat).transpose(-1, -2);        // [B, kv, d, Tk]
  const auto index_options = torch::TensorOptions().dtype(torch::kLong).device(q.device());
  std::vector<torch::Tensor> outputs;
  for (int64_t start = 0; start < tq; start += step) {
    const int64_t rows = std::min(step, tq - start);
    // Query row i sits at sequence index tk - tq + start + i and sees keys up to it.
    const int64_t visible = tk - tq + start + rows;
    const auto queries = grouped.narrow(3, start, rows).to(torch::kFloat).reshape({batch, kv_heads, group * rows, dim});
    const auto scores = (torch::matmul(queries, keys_t.narrow(3, 0, visible)) * scale)
                            .view({batch, kv_heads, group, rows, visible});
    const auto query_index = torch::arange(tk - tq + start, visible, index_options).unsqueeze(1);
    const auto key_index = torch::arange(0, visible, index_options).unsqueeze(0);
    const auto masked = scores.masked_fill(key_index > query_index, -std::numeric_limits<float>::infinity());
    const auto probs = torch::softmax(masked, -1).to(v.scalar_type()).view({batch, kv_heads, group * rows, visible});
    outputs.push_back(torch::matmul(probs, v.narrow(2, 0, visible)).view({batch, kv_heads, group, rows, dim}));
  }
  return torch::cat(outputs, 3).reshape({batch, heads, tq, dim});
}

// LibTorch 2.11's CPU flash attention packs bf16 with AVX-512 instructions whenever the
// CPU has them, and throws ("pack_vnni2 is only supported when avx512 is supported") when
// ATEN_CPU_CAPABILITY pins a lower kernel set, as the demo does for reproducible figures.
// Then, and only on the CPU, the same attention runs on LibTorch's math path.
std::atomic<bool> cpu_flash_refused{false};

torch::Tensor sdpa(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                   const std::optional<torch::Tensor>& mask, bool causal) {
  const bool cpu = q.device().is_cpu();
  if (!(cpu && cpu_flash_refused.load()))
    try {
      return at::scaled_dot_product_attention(q, k, v, mask, 0.0, causal);
    } catch (const c10::Error& e) {
      if (!cpu || std::string(e.what()).find("pack_vnni2") == std::string::npos) throw;
      if (!cpu_flash_refused.exchange(true))
        log::warn("attention: LibTorch's CPU flash kernel refuses bf16 under ATEN_CPU_CAPABILITY={}; using "
                  "the math path (same result, more memory)",
                  std::getenv("ATEN_CPU_CAPABILITY") ? std::getenv("ATEN_CPU_CAPABILITY") : "(unset)");
    }
  return std::get<0>(at::_scaled_dot_product_attention_math(q, k, v, mask, 0.0, causal));
}

}  // namespace

torch::Tensor causal_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                               const AttentionOptions& options) {
  if (!options.force_math) {
    const int64_t group = q.size(1) / k.size(1);
    auto expand = [&](const torch::Tensor& t) {
      if (group == 1) return t;
      const auto s = t.sizes();
      return t.unsqueeze(2).expand({s[0], s[1], group, s[2], s[3]}).reshape({s[0], s[1] * group, s[2], s[3]});
    };
    const int64_t tq = q.size(2), tk = k.size(2);
    if (tq == tk)  // is_causal aligns the mask top-left: correct only without earlier keys
      return sdpa(q, expand(k), expand(v), std::nullopt, /*causal=*/true);
    const auto index_options = torch::TensorOptions().dtype(torch::kLong).device(q.device());
    const auto visible = torch::arange(0, tk, index_options).unsqueeze(0) <=
                         torch::arange(tk - tq, tk, index_options).unsqueeze(1);  // [Tq, Tk], true = attend
    return sdpa(q, expand(k), expand(v), visible, /*causal=*/false);
  }
  return chunked_math_attention(q, k, v, options.query_chunk);
}

torch::Tensor LlamaAttentionImpl::forward(const torch::Tensor& x, const RopeTables& rope,
                                          const AttentionOptions& options, torch::Tensor* cache_keys,
                                          torch::Tensor* cache_values) {
  const int64_t batch = x.size(0), time = x.size(1);
  auto split_heads = [&](const torch::Tensor& t, int64_t heads) {
    return t.view({batch, time, heads, head_dim_}).transpose(1, 2);  // [B, heads, T, d]
  };
  const auto q = apply_rope(split_heads(q_proj(x), heads_), rope);
  auto k = apply_rope(split_heads(k_proj(x), kv_heads_), rope);
  auto v = split_heads(v_proj(x), kv_heads_);
  if (cache_keys != nullptr) {
    if (cache_keys->defined()) {
      k = torch::cat({*cache_keys, k}, 2);
      v = torch::cat({*cache_values, v}, 2);
    }
    *cache_keys = k;
    *cache_values = v;
  }
  const auto attended = causal_attention(q, k, v, options);  // [B, heads, T, d]
  return o_proj(attended.transpose(1, 2).reshape({batch, time, heads_ * head_dim_}));
}

LlamaMLPImpl::LlamaMLPImpl(const LlamaConfig& c, const torch::TensorOptions& options) {
  gate_proj = register_module("gate_proj", Linear(c.hidden_size, c.intermediate_size, c.mlp_bias, options));
  up_proj = register_module("up_proj", Linear(c.hidden_size, c.intermediate_size, c.mlp_bias, options));
  down_proj = register_module("down_proj", Linear(c.intermediate_size, c.hidden_size, c.mlp_bias, options));
}

torch::Tensor LlamaMLPImpl::forward(const torch::Tensor& x) {
  return down_proj(torch::silu(gate_proj(x)) * up_proj(x));
}

LlamaDecoderLayerImpl::LlamaDecoderLayerImpl(const LlamaConfig& c, const torch::TensorOptions& options) {
  input_layernorm = register_module("input_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps, options));
  self_attn = register_module("self_attn", LlamaAttention(c, options));
  post_attention_layernorm =
      register_module("post_attention_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps, options));
  mlp = register_module("mlp", LlamaMLP(c, options));
}

torch::Tensor LlamaDecoderLayerImpl::forward(const torch::Tensor& x, const RopeTables& rope,
                                             const AttentionOptions& options, torch::Tensor* cache_keys,
                                             torch::Tensor* cache_values) {
  const auto h = x + self_attn(input_layernorm(x), rope, options, cache_keys, cache_values);
  return h + mlp(post_attention_layernorm(h));
}

LlamaModelImpl::LlamaModelImpl(const LlamaConfig& c, const torch::TensorOptions& options) : config_(c) {
  embed_tokens = register_module("embed_tokens", Embedding(c.vocab_size, c.hidden_size, options));
  auto list = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    layers.push_back(LlamaDecoderLayer(c, options));
    list->push_back(layers.back());
  }
  norm = register_module("norm", RMSNorm(c.hidden_size, c.rms_norm_eps, options));
}

namespace {

void check_ids(const torch::Tensor& tokens, const torch::Tensor& positions, int64_t vocab, bool check_values) {
  CREAM_CHECK(tokens.dim() == 2 && tokens.scalar_type() == torch::kLong, "model: token ids must be int64 [batch, time]");
  CREAM_CHECK(positions.sizes() == tokens.sizes(), "model: position ids must have the shape of the token ids");
  if (tokens.numel() == 0 || !check_values) return;
  const int64_t low = tokens.min().item<int64_t>(), high = tokens.max().item<int64_t>();
  CREAM_CHECK(low >= 0 && high < vocab, "model: token id " + std::to_string(low < 0 ? low : high) +
                                            " is outside the vocabulary [0, " + std::to_string(vocab) + ")");
  CREAM_CHECK(positions.min().item<int64_t>() >= 0, "model: position ids must be >= 0");
}


// Backward of a checkpointed decoder layer: re-runs the layer on its saved input with grad
// enabled, back-propagates into it (which accumulates the layer's parameter gradients) and
// passes the input's gradient on.
struct CheckpointedLayerBackward : public torch::autograd::Node {
  LlamaDecoderLayer layer{nullptr};
  torch::Tensor input;
  RopeTables rope;
  AttentionOptions options;

  torch::autograd::variable_list apply(torch::autograd::variable_list&& grads) override {
    CREAM_CHECK(input.defined(), "activation checkpointing: backward ran twice through the same graph");
    torch::AutoGradMode enable_grad(true);
    auto x = input.detach().requires_grad_(true);
    const auto y = layer->forward(x, rope, options);
    torch::autograd::backward({y}, {grads[0]});
    return {x.grad()};
  }
  void release_variables() override { input.reset(); }
};

torch::Tensor checkpointed_layer(LlamaDecoderLayer layer, const torch::Tensor& x, const RopeTables& rope,
                                 const AttentionOptions& options) {
  torch::Tensor out;
  {
    torch::NoGradGuard no_grad;  // nothing inside the layer is kept for backward
    out = layer->forward(x, rope, options);
  }
  auto node = std::shared_ptr<CheckpointedLayerBackward>(new CheckpointedLayerBackward(), torch::autograd::deleteNode);
  node->layer = layer;
  node->input = x.detach();
  node->rope = rope;
  node->options = options;
  node->set_next_edges(torch::autograd::collect_next_edges(x));
  torch::autograd::set_history(out, node);
  return out;
}

}  // namespace

torch::Tensor LlamaModelImpl::forward(const torch::Tensor& tokens, const torch::Tensor& positions,
                                      const AttentionOptions& options, KVCache* cache) {
  check_ids(tokens, positions, config_.vocab_size, check_inputs_on_device);
  // A sliding window (Mistral, Qwen2) changes nothing while every key lies inside it.
  config_.check_sequence_length(tokens.size(1) + (cache != nullptr ? cache->length() : 0));
  const auto& table = embed_tokens->weight;
  const auto rope = rope_tables(config_, positions.to(table.device()), table.scalar_type());
  auto h = embed_tokens(tokens.to(table.device()));
  if (cache != nullptr) {
    cache->keys.resize(layers.size());
    cache->values.resize(layers.size());
  }
  const bool checkpoint = activation_checkpointing && cache == nullptr && torch::GradMode::is_enabled();
  const auto stride = static_cast<size_t>(std::max<int64_t>(1, activation_checkpointing_stride));
  for (size_t i = 0; i < layers.size(); ++i) {
    if (cache != nullptr) h = layers[i]->forward(h, rope, options, &cache->keys[i], &cache->values[i]);
    else if (checkpoint && i % stride == 0) h = checkpointed_layer(layers[i], h, rope, options);
    else h = layers[i]->forward(h, rope, options);
  }
  return norm(h);
}

LlamaForCausalLMImpl::LlamaForCausalLMImpl(const LlamaConfig& c, const torch::TensorOptions& options) : config_(c) {
  c.validate();
  model = register_module("model", LlamaModel(c, options));
  if (!c.tie_word_embeddings)
    lm_head = register_module("lm_head", Linear(c.hidden_size, c.vocab_size, /*bias=*/false, options));
}

torch::Tensor LlamaForCausalLMImpl::output_weight() const {
  return config_.tie_word_embeddings ? model->embed_tokens->weight : lm_head->weight;
}

torch::Tensor LlamaForCausalLMImpl::hidden_states(const torch::Tensor& tokens, const torch::Tensor& positions,
                                                  KVCache* cache) {
  model->check_inputs_on_device = check_inputs_on_device;
  return model->forward(tokens, positions, attention, cache);
}

torch::Tensor LlamaForCausalLMImpl::forward(const torch::Tensor& tokens, const torch::Tensor& positions,
                                            KVCache* cache) {
  return torch::matmul(hidden_states(tokens, positions, cache), output_weight().t());
}

LossSum LlamaForCausalLMImpl::loss_sum(const torch::Tensor& tokens, const torch::Tensor& positions,
                                       const torch::Tensor& labels, int64_t ignore_index) {
  CREAM_CHECK(labels.sizes() == tokens.sizes() && labels.scalar_type() == torch::kLong,
              "loss: labels must be int64 with the shape of the token ids");
  const auto hidden = hidden_states(tokens, positions);
  const int64_t batch = tokens.size(0), time = tokens.size(1);
  const auto device = hidden.device();
  if (time < 2)
    return {torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat).device(device)) + 0.0 * hidden.sum(),
            torch::zeros({}, torch::TensorOptions().dtype(torch::kLong).device(device))};
  // HF shift: the hidden state at t predicts labels[t + 1].
  const auto rows = hidden.narrow(1, 0, time - 1).reshape({batch * (time - 1), hidden.size(2)});
  const auto targets = labels.to(device).narrow(1, 1, time - 1).reshape({-1});
  auto sum = chunked_cross_entropy_sum(rows, output_weight(), targets, ignore_index, loss_chunk_rows,
                                      check_inputs_on_device);
  return {sum, (targets != ignore_index).sum()};
}

torch::Tensor LlamaForCausalLMImpl::loss(const torch::Tensor& tokens, const torch::Tensor& positions,
                                         const torch::Tensor& labels, int64_t ignore_index) {
  const auto total = loss_sum(tokens, positions, labels, ignore_index);
  return total.sum / total.count.clamp_min(1).to(torch::kFloat);
}

}  // namespace cream::model
