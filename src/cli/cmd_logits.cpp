// `cream logits`: one forward pass saved as float32 `logits` [T, vocab] — the hook for
// parity checks against other implementations (HF transformers, llama.cpp, ...).
#include <filesystem>
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>
#include <torch/torch.h>

#include "cli_common.h"
#include "command_registry.h"
#include "cream/io/safetensors.h"
#include "cream/model/weights.h"
#include "cream/util/error.h"
#include "cream/util/fs.h"

namespace cream::cli {
namespace {

struct LogitsOptions {
  std::string model;
  std::string tokens;
  std::string positions;
  std::string out;
  std::string dtype = "fp32";
  std::string device = "cpu";
  int threads = 0;
};

torch::Tensor row_tensor(const std::vector<int64_t>& values) {
  return torch::tensor(values, torch::kLong).unsqueeze(0);  // [1, T]
}

std::vector<int64_t> positions_for(const LogitsOptions& options, size_t count) {
  if (options.positions.empty()) {
    std::vector<int64_t> positions(count);
    for (size_t i = 0; i < count; ++i) positions[i] = static_cast<int64_t>(i);
    return positions;
  }
  auto positions = parse_int_list(options.positions, "--positions");
  CREAM_CHECK(positions.size() == count, "--positions: " + std::to_string(positions.size()) +
                                             " positions for " + std::to_string(count) + " tokens");
  for (auto p : positions) CREAM_CHECK(p >= 0, "--positions: negative position " + std::to_string(p));
  return positions;
}

void run_logits(const LogitsOptions& options) {
  util::check_output_path(options.out, "--out");
  set_threads(options.threads);
  const auto tokens = parse_int_list(options.tokens, "--tokens");
  const auto positions = positions_for(options, tokens.size());
  const auto device = parse_device(options.device, "--device");
  const auto dtype = model::torch_dtype(parse_float_dtype(options.dtype, "--dtype"));
  const auto folder = resolve_model_folder(options.model, "--model");
  auto model = model::load_model(folder, device, dtype);
  const auto vocab = model->config().vocab_size;
  for (auto id : tokens)
    CREAM_CHECK(id >= 0 && id < vocab, "--tokens: id " + std::to_string(id) + " is outside the vocabulary [0, " +
                                           std::to_string(vocab) + ")");
  torch::NoGradGuard no_grad;
  model->eval();
  auto logits = model->forward(row_tensor(tokens).to(device), row_tensor(positions).to(device));
  auto result = logits[0].to(torch::kCPU, torch::kFloat).contiguous();  // [T, vocab]
  io::TensorSource source{"logits", io::DType::F32, {result.size(0), result.size(1)}, nullptr};
  source.write = [result](std::ostream& out) {
    out.write(static_cast<const char*>(result.data_ptr()), static_cast<std::streamsize>(result.nbytes()));
  };
  io::write_safetensors_file(options.out, {source}, {{"format", "pt"}, {"model", folder}});
  std::cout << "wrote " << options.out << ": logits [" << result.size(0) << ", " << result.size(1) << "]\n";
}

void setup_logits(CLI::App& root) {
  auto options = std::make_shared<LogitsOptions>();
  auto* cmd = root.add_subcommand("logits", "Run one forward pass and save float32 logits [T, vocab]");
  cmd->add_option("--model", options->model, "HF model folder")->required();
  cmd->add_option("--tokens", options->tokens, "Token ids, e.g. \"1 5 9\"")->required();
  cmd->add_option("--positions", options->positions, "Position ids (default 0..T-1), e.g. \"0 700 4095\"");
  cmd->add_option("--out", options->out, "Output .safetensors file (tensor `logits`)")->required();
  cmd->add_option("--dtype", options->dtype, "Compute dtype: fp32 or bf16")->capture_default_str();
  cmd->add_option("--device", options->device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  cmd->add_option("--threads", options->threads, "Intra-op threads (0: LibTorch default)");
  cmd->callback([options] { run_logits(*options); });
}

const bool kRegistered = register_command("logits", 90, setup_logits);

}  // namespace
}  // namespace cream::cli
