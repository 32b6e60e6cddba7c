// Next-token cross entropy over row chunks, with a hand-written backward that recomputes
// each chunk's logits: autograd would otherwise keep every chunk's float32 log-softmax
// alive until backward, which is exactly the [rows, vocab] tensor we must never hold.
//
// Speed: a chunk's [rows, vocab] float32 tensor is the biggest thing a small model's step
// touches, so it is allocated once per pass and worked on in place (log-softmax in
// forward, exp and scaling in backward): each fresh allocation of that size costs page
// faults on every step, and each extra pass a full read and write.
#include <algorithm>

#include "cream/model/llama.h"
#include "cream/util/error.h"

namespace cream::model {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// About 64 Mi float32 logits (256 MiB) per chunk.
int64_t automatic_chunk_rows(int64_t vocab) { return std::max<int64_t>(1, (int64_t{1} << 26) / std::max<int64_t>(vocab, 1)); }

// float32 log-probabilities [n, V] of rows `h` [n, H] through `weight` [V, H]. The
// log-softmax runs in place on the fresh float32 logits (the last-dim kernel reads each
// row before writing it), saving a second [n, V] tensor.
torch::Tensor chunk_log_probs(const torch::Tensor& h, const torch::Tensor& weight) {
  auto logits = torch::matmul(h, weight.t()).to(torch::kFloat);  // a new tensor in every dtype
  at::_log_softmax_out(logits, logits, 1, /*half_to_float=*/false);
  return logits;
}

torch::Tensor safe_targets(const torch::Tensor& target, int64_t ignore_index) {
  return torch::where(target != ignore_index, target, torch::zeros_like(target));
}

struct ChunkedCrossEntropy : public torch::autograd::Function<ChunkedCrossEntropy> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& hidden, const torch::Tensor& weight,
                               const torch::Tensor& targets, int64_t ignore_index, int64_t chunk_rows) {
    ctx->save_for_backward({hidden, weight, targets});
    ctx->saved_data["ignore_index"] = ignore_index;
    ctx->saved_data["chunk_rows"] = chunk_rows;
    auto total = torch::zeros({}, hidden.options().dtype(torch::kFloat));
    const int64_t rows = hidden.size(0);
    for (int64_t start = 0; start < rows; start += chunk_rows) {
      const int64_t n = std::min(chunk_rows, rows - start);
      const auto log_probs = chunk_log_probs(hidden.narrow(0, start, n), weight);  // [n, V]
      const auto target = targets.narrow(0, start, n);
      const auto per_row = -log_probs.gather(1, safe_targets(target, ignore_index).unsqueeze(1)).squeeze(1);
      total = total + torch::where(target != ignore_index, per_row, torch::zeros_like(per_row)).sum();
      // One chunk (the common training case): backward reuses these log-probabilities
      // instead of recomputing them; still at most one chunk alive, as in backward.
      if (n == rows) ctx->saved_data["log_probs"] = log_probs;
    }
    return total;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const auto& hidden = saved[0];
    const auto& weight = saved[1];
    const auto& targets = saved[2];
    const int64_t ignore_index = ctx->saved_data["ignore_index"].toInt();
    const int64_t chunk_rows = ctx->saved_data["chunk_rows"].toInt();
    // Taken, not copied: backward turns them into gradients in place, and they are freed
    // with the gradient rather than with the graph.
    torch::Tensor kept;
    if (ctx->saved_data.count("log_probs")) {
      kept = ctx->saved_data["log_probs"].toTensor();
      ctx->saved_data.erase("log_probs");
    }
    const int64_t rows = hidden.size(0);
    CREAM_CHECK(kept.defined() || rows == 0 || rows > chunk_rows,
                "loss: backward ran twice through the same graph (retain_graph is not supported)");
    const auto grad_total = grad_outputs[0].to(torch::kFloat);
    const bool want_hidden = ctx->needs_input_grad(0), want_weight = ctx->needs_input_grad(1);
    torch::Tensor grad_hidden = want_hidden ? torch::empty_like(hidden) : torch::Tensor();
    torch::Tensor grad_weight;  // float32 sum over chunks
    for (int64_t start = 0; start < rows; start += chunk_rows) {
      const int64_t n = std::min(chunk_rows, rows - start);
      const auto h = hidden.narrow(0, start, n);
      const auto target = targets.narrow(0, start, n);
      // d(-log p[target])/dlogits = softmax - onehot(target), times grad_total, zero for
      // ignored rows: all in place on the chunk's log-probabilities.
      auto grad_logits = (kept.defined() ? kept : chunk_log_probs(h, weight)).exp_();
      grad_logits.scatter_add_(1, safe_targets(target, ignore_index).unsqueeze(1),
                               -torch::ones({n, 1}, grad_logits.options()));
      grad_logits.mul_((target != ignore_index).to(torch::kFloat).unsqueeze(1) * grad_total);
      // Both products in the weight's dtype: a bf16 model runs bf16 GEMMs (float32
      // accumulation inside) as PyTorch's own backward does, not a float32 GEMM.
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
                                        const torch::Tensor& targets, int64_t ignore_index, int64_t chunk_rows,
                                        bool check_targets) {
  CREAM_CHECK(hidden.dim() == 2 && weight.dim() == 2 && hidden.size(1) == weight.size(1),
              "loss: hidden [rows, H] and weight [vocab, H] do not match");
  CREAM_CHECK(targets.dim() == 1 && targets.size(0) == hidden.size(0), "loss: one target per row is needed");
  const auto counted = check_targets ? targets.masked_select(targets != ignore_index) : torch::Tensor();
  if (check_targets && counted.numel() > 0) {
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
