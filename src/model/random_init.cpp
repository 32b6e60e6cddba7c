#include "cream/model/random_init.h"

#include <memory>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "cream/model/weights.h"
#include "cream/util/log.h"

namespace cream::model {
namespace {

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

void write_tensor(std::ostream& out, const torch::Tensor& tensor) {
  const auto contiguous = tensor.contiguous();
  out.write(static_cast<const char*>(contiguous.data_ptr()),
            static_cast<std::streamsize>(contiguous.numel() * contiguous.element_size()));
}

}  // namespace

std::vector<io::TensorSource> random_tensor_sources(const LlamaConfig& config, uint64_t seed, io::DType out,
                                                    double std) {
  // Shared by every source: the writer calls them once each, in order, so the draws
  // happen in module order just as in initialize_weights.
  auto generator = std::make_shared<at::Generator>(at::detail::createCPUGenerator(seed));
  const auto dtype = torch_dtype(out);
  std::vector<io::TensorSource> sources;
  for (const auto& [name, shape] : expected_tensors(config)) {
    io::TensorSource source{name, out, shape, nullptr};
    source.write = [generator, name = name, shape = shape, dtype, std](std::ostream& stream) {
      torch::NoGradGuard no_grad;
      auto values = at::empty(shape, torch::TensorOptions().dtype(torch::kFloat));
      if (ends_with(name, "norm.weight")) {
        values.fill_(1.0);
      } else if (ends_with(name, "bias")) {
        values.zero_();
      } else {
        values.normal_(0.0, std, *generator);
      }
      write_tensor(stream, values.to(dtype));
    };
    sources.push_back(std::move(source));
  }
  return sources;
}

void adopt_tokenizer(LlamaConfig& config, const io::Tokenizer& tokenizer) {
  if (config.vocab_size != tokenizer.vocab_size()) {
    log::info("vocab_size {} -> {} to match {}", config.vocab_size, tokenizer.vocab_size(), tokenizer.path().string());
    config.vocab_size = tokenizer.vocab_size();
  }
  if (tokenizer.bos_id() >= 0) config.bos_token_id = tokenizer.bos_id();
  if (tokenizer.eos_id() >= 0) config.eos_token_ids = {tokenizer.eos_id()};
}

}  // namespace cream::model
