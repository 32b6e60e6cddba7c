// Which scaled-dot-product-attention kernel LibTorch runs for our attention shapes.
#include <ATen/SDPBackend.h>
#include <ATen/ops/_fused_sdp_choice.h>

#include "cream/model/llama.h"

namespace cream::model {

std::string sdpa_backend(const LlamaConfig& config, int64_t length, torch::ScalarType dtype,
                         const torch::Device& device) {
  // causal_attention expands grouped kv heads to all heads before SDPA, so q, k and v
  // share [1, heads, T, head_dim]; one sequence is enough, the choice does not depend on B.
  const auto options = torch::TensorOptions().dtype(dtype).device(device);
  const auto q = torch::empty({1, config.num_attention_heads, length, config.head_dim}, options);
  switch (static_cast<at::SDPBackend>(at::_fused_sdp_choice(q, q, q, {}, 0.0, /*is_causal=*/true))) {
    case at::SDPBackend::flash_attention: return "flash";
    case at::SDPBackend::efficient_attention: return "efficient";
    case at::SDPBackend::cudnn_attention: return "cudnn";
    case at::SDPBackend::math: return "math";
    case at::SDPBackend::overrideable: return "overrideable";
    case at::SDPBackend::error: break;
  }
  return "none";
}

}  // namespace cream::model
