// Next-token cross entropy over row chunks, with a hand-written backward that recomputes
// each chunk's logits: autograd would otherwise keep every chunk's float32 log-softmax
// alive until backward, which is exactly the [rows, vocab] tensor we must never hold.
#include <algorithm>

#include "cream/model/llama.h"
#include "cream/util/error.h"

namespace cream::model {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// About 64 Mi float32 logits (256 MiB) per chunk.
int64_t automatic_chunk_rows(int64_t vocab) { return std::max<int64_t>(1, (int64_t{1} << 26) / std::max<int64_t>(vocab, 1)); }

struct ChunkedCrossEntropy : public torch::autograd::Function<ChunkedCrossEntropy> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& hidden, const torch::Tensor& weight,
                               const torch::Tensor& targets, int64_t ignore_index, int64_t chunk_rows) {
    ctx->saved_data["ignore_index"] = ignore_index;
    ctx->saved_data["chunk_rows"] = chunk_rows;
    auto total = torch::zeros({}, hidden.options().dtype(torch::kFloat));
    const int64_t rows = hidden.size(0);
    torch::Tensor single_chunk_logits;
    for (int64_t start = 0; start < rows; start += chunk_rows) {
      const int64_t n = std::min(chunk_rows, rows - start);
      const auto logits = torch::matmul(hidden.narrow(0, start, n), weight.t()).to(torch::kFloat);  // [n, V]
      if (n == rows) single_chunk_logits = logits;
      const auto target = targets.narrow(0, start, n);
      const auto counted = target != ignore_index;
      const auto safe_target = torch::where(counted, target, torch::zeros_like(target));
      const auto picked = logits.gather(1, safe_target.unsqueeze(1)).squeeze(1);
      const auto per_row = torch::logsumexp(logits, 1) - picked;
      total = total + torch::where(counted, per_row, torch::zeros_like(per_row)).sum();
    }
    // One chunk (the common training case): keep its logits, so backward skips the
    // recomputing matmul. Still at most one chunk of float32 logits alive; the values
    // are those backward would recompute, so results do not change.
    ctx->save_for_backward({hidden, weight, targets, single_chunk_logits});
    return total;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const auto& hidden = saved[0];
    const auto& weight = saved[1];
    const auto& targets = saved[2];
    const int64_t ignore_index = ctx->saved_data["ignore_index"].toInt();
    const int64_t chunk_rows = ctx->saved_data["chunk_rows"].toInt();
    const auto grad_total = grad_outputs[0].to(torch::kFloat);
    const bool want_hidden = ctx->needs_input_grad(0), want_weight = ctx->needs_input_grad(1);
    const auto& saved_logits = saved[3];
    torch::Tensor grad_hidden = want_hidden ? torch::empty_like(hidden) : torch::Tensor();
    torch::Tensor grad_weight;  // float32 sum over chunks
    const int64_t rows = hidden.size(0);
    for (int64_t start = 0; start < rows; start += chunk_rows) {
      const int64_t n = std::min(chunk_rows, rows - start);
      const auto h = hidden.narrow(0, start, n);
      const auto target = targets.narrow(0, start, n);
      const auto safe_target = torch::where(target != ignore_index, target, torch::zeros_like(target));
      // Per-row factor: grad_total, or 0 for ignored rows. One pass over the logits
      // instead of two; bitwise the same as multiplying by the mask then by grad_total.
      const auto row_scale = (target != ignore_index).to(torch::kFloat).unsqueeze(1) * grad_total;
      const auto logits = saved_logits.defined() ? saved_logits : torch::matmul(h, weight.t()).to(torch::kFloat);
      // d(lse - picked)/dlogits = softmax - onehot(target), zero for ignored rows.
      auto grad_logits = torch::softmax(logits, 1);
      grad_logits.scatter_add_(1, safe_target.unsqueeze(1), -torch::ones({n, 1}, grad_logits.options()));
      grad_logits.mul_(row_scale);
      // Both products in the weight's dtype: a bf16 model runs bf16 GEMMs (float32
      // accumulation inside) like PyTorch's own backward, not a float32 GEMM.
      const auto grad_compute = grad_logits.to(weight.scalar_type());
      if (want_hidden) grad_hidden.narrow(0, start, n).copy_(torch::matmul(grad_compute, weight));
      if (want_weight) {
        const auto part = torch::matmul(grad_compute.t(), h);
        if (!grad_weight.defined()) grad_weight = part.to(torch::kFloat);
        else grad_weight.add_(part);
      }
    }
    if (want_weight) grad_weight = grad_weight.to(weight.scalar_type());
    return {grad_hidden, grad_weight, torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor chunked_cross_entropy_sum(const torch::Tensor& hidden, const torch::Tensor& weight,
                                        const torch::Tensor& targets, int64_t ignore_index, int64_t chunk_rows) {
  CREAM_CHECK(hidden.dim() == 2 && weight.dim() == 2 && hidden.size(1) == weight.size(1),
              "loss: hidden [rows, H] and weight [vocab, H] do not match");
  CREAM_CHECK(targets.dim() == 1 && targets.size(0) == hidden.size(0), "loss: one target per row is needed");
  const auto counted = targets.masked_select(targets != ignore_index);
  if (counted.numel() > 0) {
    const int64_t low = counted.min().item<int64_t>(), high = counted.max().item<int64_t>();
    CREAM_CHECK(low >= 0 && high < weight.size(0),
                "loss: label " + std::to_string(low < 0 ? low : high) + " is outside the vocabulary [0, " +
                    std::to_string(weight.size(0)) + ") and is not the ignore index");
  }
  const int64_t rows = chunk_rows > 0 ? chunk_rows : automatic_chunk_rows(weight.size(0));
  return ChunkedCrossEntropy::apply(hidden, weight, targets, ignore_index, rows);
}

void initialize_weights(LlamaForCausalLMImpl& model, uint64_t seed, double std) {
  torch::NoGradGuard no_grad;
  auto generator = at::detail::createCPUGenerator(seed);
  for (const auto& item : model.named_parameters()) {
    auto& param = item.value();
    const auto& name = item.key();
    const bool is_norm = name.size() >= 11 && name.compare(name.size() - 11, 11, "norm.weight") == 0;
    const bool is_bias = name.size() >= 4 && name.compare(name.size() - 4, 4, "bias") == 0;
    if (is_norm) {
      param.fill_(1.0);
    } else if (is_bias) {
      param.zero_();
    } else {
      auto values = at::empty(param.sizes(), torch::TensorOptions().dtype(torch::kFloat));
      values.normal_(0.0, std, generator);
      param.copy_(values);
    }
  }
}

}  // namespace cream::model
