// `cream eval <protocol>`: evaluations of evals.md, each writing a JSON record.
// `ppl`: perplexity in truncate (CREAM authors') or sliding (strided) mode.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <torch/torch.h>

#include "cli_common.h"
#include "command_registry.h"
#include "cream/eval/perplexity.h"
#include "cream/model/weights.h"
#include "cream/util/error.h"
#include "cream/util/fs.h"

namespace cream::cli {
namespace {

struct PplCommandOptions {
  std::string model;
  std::string data;
  std::string lengths;
  std::string mode = "truncate";
  int64_t stride = 0;
  int64_t docs = 50;
  std::string out;
  std::string dtype = "fp32";
  std::string device = "auto";
  std::string rope_scaling;
  int threads = 0;
};

// Progress on stderr at most every few seconds, for long runs.
std::function<void(int64_t, int64_t, int64_t)> progress_printer() {
  auto last = std::make_shared<std::chrono::steady_clock::time_point>(std::chrono::steady_clock::now());
  return [last](int64_t length, int64_t done, int64_t total) {
    const auto now = std::chrono::steady_clock::now();
    if (done < total && now - *last < std::chrono::seconds(5)) return;
    *last = now;
    std::cerr << "ppl: length " << length << ": " << done << "/" << total << " documents\n";
  };
}

void print_table(const nlohmann::json& record) {
  std::printf("%-10s %-8s %12s %14s %12s %6s %12s\n", "length", "stride", "ppl_token", "ppl_doc_mean", "tokens",
              "docs", "tokens/s");
  for (const auto& row : record.at("results")) {
    const std::string stride = row.contains("stride") ? std::to_string(row.at("stride").get<int64_t>()) : "-";
    std::printf("%-10lld %-8s %12.4f %14.4f %12lld %6lld %12.1f\n", static_cast<long long>(row.at("length")),
                stride.c_str(), row.at("ppl_token").get<double>(), row.at("ppl_doc_mean").get<double>(),
                static_cast<long long>(row.at("tokens_scored")), static_cast<long long>(row.at("documents")),
                row.at("tokens_per_s").get<double>());
  }
}

void run_ppl(const PplCommandOptions& options) {
  set_threads(options.threads);
  eval::PerplexityRequest request;
  request.model_folder = options.model;
  request.data_folder = options.data;
  request.options.mode = eval::parse_mode(options.mode);
  request.options.lengths = parse_int_list(options.lengths, "--lengths");
  CREAM_CHECK(options.stride >= 0, "--stride: must be positive");
  CREAM_CHECK(options.stride == 0 || request.options.mode == eval::PerplexityMode::Sliding,
              "--stride: only meaningful with --mode sliding");
  request.options.stride = options.stride;
  CREAM_CHECK(options.docs >= 0, "--docs: must be 0 (all) or positive");
  request.options.max_documents = options.docs;
  request.options.progress = progress_printer();
  if (!options.rope_scaling.empty()) request.rope_override = options.rope_scaling;
  const auto dtype = parse_float_dtype(options.dtype, "--dtype");
  CREAM_CHECK(dtype != io::DType::F16, "--dtype: fp16 is not supported for evaluation (use fp32 or bf16)");
  request.dtype = model::torch_dtype(dtype);
  request.device = parse_device(options.device, "--device");
  const auto record = eval::run_perplexity(request);
  print_table(record);
  if (!options.out.empty()) {
    util::write_file_atomic(options.out, record.dump(2) + "\n");
    std::cout << "wrote " << options.out << "\n";
  }
}

void setup_ppl(CLI::App& eval) {
  auto options = std::make_shared<PplCommandOptions>();
  auto* cmd = eval.add_subcommand("ppl", "Perplexity (truncate: CREAM authors' protocol; sliding: strided)");
  cmd->add_option("--model", options->model, "HF model folder")->required();
  cmd->add_option("--data", options->data, "Prepared data folder (cream data prepare)")->required();
  cmd->add_option("--lengths", options->lengths, "Window lengths, e.g. 4096,8192")->required();
  cmd->add_option("--mode", options->mode, "truncate or sliding")->capture_default_str();
  cmd->add_option("--stride", options->stride, "Sliding stride (default: length / 2)");
  cmd->add_option("--docs", options->docs, "Documents to use, the first K eligible (0: all)")->capture_default_str();
  cmd->add_option("--out", options->out, "Write the JSON record here");
  cmd->add_option("--dtype", options->dtype, "Compute dtype: fp32 or bf16")->capture_default_str();
  cmd->add_option("--device", options->device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  cmd->add_option("--threads", options->threads, "Intra-op threads (0: LibTorch default)");
  cmd->add_option("--rope-scaling", options->rope_scaling, "Override the rope scaling: TYPE:FACTOR[:ORIGINAL]");
  cmd->callback([options] { run_ppl(*options); });
}

void setup_eval(CLI::App& root) {
  auto* eval = root.add_subcommand("eval", "Evaluate a model (JSON out; protocols in evals.md)");
  eval->require_subcommand(1);
  setup_ppl(*eval);
}

const bool kRegistered = register_command("eval", 20, setup_eval);

}  // namespace
}  // namespace cream::cli
