// `cream positions`: draw position ids exactly as training does, and summarise them
// (coverage of absolute positions and relative distances, the middle segment's law).
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "command_registry.h"
#include "cream/positions/sampler.h"
#include "cream/positions/stats.h"
#include "cream/util/error.h"
#include "cream/util/fs.h"

namespace cream::cli {
namespace {

namespace fs = std::filesystem;

// Statistics keep a few int64 arrays of length L.
constexpr std::int64_t kMaxTargetLength = std::int64_t{1} << 24;

struct PositionsArgs {
  std::string method = "cream";
  std::int64_t train_length = 0, target_length = 0, samples = 0, window_length = 0;
  std::uint64_t seed = 0;
  std::optional<double> sigma, relativity_share;
  std::optional<std::int64_t> continuity_length, branch_batch_size;
  bool exact_truncnorm = false, branch_per_batch = false;
  std::string jsonl, stats;
  std::int64_t buckets = 256;
};

// The sampler's checks speak of YAML keys (positions.sigma); here the user typed flags,
// so the error names the flag instead.
void validate_naming_flags(const positions::Options& options) {
  try {
    options.validate();
  } catch (const Error& e) {
    std::string message = e.what();
    for (const auto& [key, flag] : std::vector<std::pair<std::string, std::string>>{
             {"positions.train_length", "--train-length"},
             {"positions.target_length", "--target-length"},
             {"positions.continuity_length", "--continuity-length"},
             {"positions.relativity_share", "--relativity-share"},
             {"positions.branch_batch_size", "--branch-batch-size"},
             {"positions.sigma", "--sigma"}}) {
      const auto at = message.find(key);
      if (at != std::string::npos) message.replace(at, key.size(), flag);
    }
    throw Error(message);
  }
}

positions::Options build_options(const PositionsArgs& args, const CLI::App& cmd) {
  positions::Options options;
  options.method = positions::parse_method(args.method);
  options.train_length = args.train_length;
  options.target_length = args.target_length;
  if (options.method != positions::Method::cream) {
    for (const char* flag : {"--sigma", "--continuity-length", "--relativity-share", "--exact-truncnorm",
                             "--branch-per-batch", "--branch-batch-size"})
      CREAM_CHECK(cmd.count(flag) == 0, std::string(flag) + " applies only to --method cream");
  }
  if (args.sigma) options.sigma = *args.sigma;
  if (args.relativity_share) options.relativity_share = *args.relativity_share;
  // 0 means "the default 4 x L/N", as positions.continuity_length: 0 does in a YAML file.
  if (args.continuity_length && *args.continuity_length != 0) options.continuity_length = args.continuity_length;
  options.exact_truncnorm = args.exact_truncnorm;
  if (args.branch_per_batch) options.branch_per = positions::BranchPer::batch;
  if (args.branch_batch_size) {
    CREAM_CHECK(args.branch_per_batch, "--branch-batch-size needs --branch-per-batch");
    options.branch_batch_size = *args.branch_batch_size;
  }
  validate_naming_flags(options);
  return options;
}

void write_jsonl_line(std::ostream& out, const positions::Sample& sample) {
  out << '[';
  for (std::size_t i = 0; i < sample.positions.size(); ++i) {
    if (i) out << ',';
    out << sample.positions[i];
  }
  out << "]\n";
}

void run_positions(const PositionsArgs& args, const CLI::App& cmd) {
  const positions::Options options = build_options(args, cmd);
  CREAM_CHECK(args.samples >= 1, "--samples must be >= 1, got " + std::to_string(args.samples));
  CREAM_CHECK(options.target_length <= kMaxTargetLength,
              "--target-length above " + std::to_string(kMaxTargetLength) + " is not supported here");
  CREAM_CHECK(args.buckets >= 1, "--buckets must be >= 1");
  positions::Sampler sampler(options);
  const std::int64_t window = args.window_length > 0 ? args.window_length : options.target_length;
  CREAM_CHECK(window >= sampler.min_window_length(),
              "--window-length must be at least " + std::to_string(sampler.min_window_length()) + " for method " +
                  args.method + ", got " + std::to_string(window));
  util::Rng rng = positions::sampler_stream(args.seed);
  positions::PositionStats stats(options, args.buckets);

  // The JSONL file is streamed into a temporary sibling, renamed only when complete.
  std::optional<fs::path> jsonl_tmp;
  std::optional<util::RemoveOnFailure> cleanup;
  std::ofstream jsonl;
  if (!args.jsonl.empty()) {
    jsonl_tmp = util::temporary_sibling(args.jsonl);
    cleanup.emplace(*jsonl_tmp);
    jsonl.open(*jsonl_tmp);
    CREAM_CHECK(jsonl.good(), "cannot write --jsonl file " + args.jsonl);
  }
  for (std::int64_t i = 0; i < args.samples; ++i) {
    const positions::Sample sample = sampler.draw(window, rng);
    stats.add(sample);
    if (jsonl.is_open()) write_jsonl_line(jsonl, sample);
  }
  if (jsonl.is_open()) {
    jsonl.close();
    CREAM_CHECK(!jsonl.fail(), "failed writing --jsonl file " + args.jsonl);
    fs::rename(*jsonl_tmp, args.jsonl);
    cleanup->release();
  }
  if (!args.stats.empty()) {
    nlohmann::json json = stats.to_json();
    json["seed"] = args.seed;
    json["window_length"] = window;
    json["options"] = {{"sigma", options.sigma},
                       {"continuity_length", options.resolved_continuity_length()},
                       {"relativity_share", options.relativity_share},
                       {"exact_truncnorm", options.exact_truncnorm},
                       {"branch_per", positions::branch_per_name(options.branch_per)},
                       {"branch_batch_size", options.branch_batch_size}};
    util::write_file_atomic(args.stats, json.dump() + "\n");
  }
  std::cout << stats.summary();
  if (!args.jsonl.empty()) std::cout << "wrote " << args.jsonl << "\n";
  if (!args.stats.empty()) std::cout << "wrote " << args.stats << "\n";
}

void setup_positions(CLI::App& root) {
  auto* cmd = root.add_subcommand("positions", "Draw position ids exactly as training does, with statistics");
  auto args = std::make_shared<PositionsArgs>();
  cmd->add_option("--method", args->method, "cream, pose, randpos, full or standard")->capture_default_str();
  cmd->add_option("--train-length", args->train_length, "N: tokens per training sequence")->required();
  cmd->add_option("--target-length", args->target_length, "L: positions are drawn from [0, L)")->required();
  cmd->add_option("--samples", args->samples, "number of sequences to draw")->required();
  cmd->add_option("--seed", args->seed, "run seed (the sampler uses its own stream of it)")->capture_default_str();
  cmd->add_option("--sigma", args->sigma, "cream: spread of the middle-scale Gaussian (default 3.0)");
  cmd->add_option("--continuity-length", args->continuity_length, "cream: head/tail length k of the continuity branch (0 or unset: 4f, as in YAML)");
  cmd->add_option("--relativity-share", args->relativity_share, "cream: probability of the relativity branch (default 0.5)");
  cmd->add_flag("--exact-truncnorm", args->exact_truncnorm, "cream: exact truncated normal for the middle scale");
  cmd->add_flag("--branch-per-batch", args->branch_per_batch, "cream: one branch coin per batch of sequences");
  cmd->add_option("--branch-batch-size", args->branch_batch_size, "cream: sequences per branch batch (default 3000)");
  cmd->add_option("--window-length", args->window_length, "document window length |D| (default L)");
  cmd->add_option("--jsonl", args->jsonl, "write one JSON array of position ids per line");
  cmd->add_option("--stats", args->stats, "write coverage statistics as JSON");
  cmd->add_option("--buckets", args->buckets, "buckets of the bucketed histograms")->capture_default_str();
  cmd->callback([args, cmd] { run_positions(*args, *cmd); });
}

const bool kRegistered = register_command("positions", 71, setup_positions);

}  // namespace
}  // namespace cream::cli
