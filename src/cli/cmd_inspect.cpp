// `cream inspect DIR`: what a model folder holds and every problem found in it. Reads
// config.json and the safetensors headers only (weights are mapped, never read).
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "command_registry.h"
#include "cream/io/checkpoint_folder.h"
#include "cream/io/tokenizer.h"
#include "cream/model/config.h"
#include "cream/model/rope.h"
#include "cream/model/weights.h"
#include "cream/util/error.h"

namespace cream::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct Findings {
  json report = json::object();
  std::vector<std::string> problems;
  std::vector<std::string> notes;

  // Runs `step`; a cream::Error (or any exception) becomes a problem instead of ending the scan.
  template <typename Step>
  void attempt(Step&& step) {
    try {
      step();
    } catch (const std::exception& e) {
      problems.push_back(e.what());
    }
  }
};

json rope_summary(const model::LlamaConfig& config) {
  const auto& rope = config.rope;
  json out = {{"type", model::rope_type_name(rope.type)},
              {"rope_theta", config.rope_theta},
              {"max_position_embeddings", config.max_position_embeddings}};
  if (rope.type != model::RopeType::Default) {
    out["factor"] = rope.factor;
    out["original_max_position_embeddings"] = config.original_window();
  }
  const bool depends = model::rope_depends_on_positions(config);
  if (!depends) out["attention_factor"] = model::rope_frequencies(config).attention_factor;
  return out;
}

void inspect_config(const fs::path& folder, Findings& findings, std::optional<model::LlamaConfig>& config) {
  findings.attempt([&] {
    config = model::LlamaConfig::from_file(folder / "config.json");
    const auto window = config->active_sliding_window();
    findings.report["config"] = {{"architecture", model::architecture_name(config->family)},
                                 {"sliding_window", window ? nlohmann::json(*window) : nlohmann::json("none")},
                                 {"hidden_size", config->hidden_size},
                                 {"intermediate_size", config->intermediate_size},
                                 {"num_hidden_layers", config->num_hidden_layers},
                                 {"num_attention_heads", config->num_attention_heads},
                                 {"num_key_value_heads", config->num_key_value_heads},
                                 {"head_dim", config->head_dim},
                                 {"vocab_size", config->vocab_size},
                                 {"tie_word_embeddings", config->tie_word_embeddings},
                                 {"torch_dtype", config->torch_dtype},
                                 {"parameters", config->num_parameters()}};
    findings.report["rope"] = rope_summary(*config);
  });
}

void inspect_weights(const fs::path& folder, Findings& findings, const std::optional<model::LlamaConfig>& config) {
  findings.attempt([&] {
    io::CheckpointFolder weights(folder);
    std::map<std::string, int64_t> tensors_by_dtype;
    uint64_t bytes = 0, elements = 0;
    for (const auto& name : weights.names()) {
      const auto& info = weights.info(name);
      tensors_by_dtype[io::dtype_name(info.dtype)] += 1;
      bytes += info.nbytes();
      elements += info.numel();
    }
    findings.report["weights"] = {{"files", weights.files().size()},
                                  {"tensors", weights.names().size()},
                                  {"elements", elements},
                                  {"bytes", bytes},
                                  {"dtypes", tensors_by_dtype}};
    if (config) model::check_weights(*config, weights);
  });
}

void inspect_tokenizer(const fs::path& folder, Findings& findings, const std::optional<model::LlamaConfig>& config) {
  const auto path = io::tokenizer_file_in(folder);
  if (path.empty()) {
    findings.notes.push_back("no tokenizer.model or tokenizer.json (evaluations and generation need one)");
    return;
  }
  findings.attempt([&] {
    io::Tokenizer tokenizer(path);
    findings.report["tokenizer"] = {{"vocab_size", tokenizer.vocab_size()},
                                    {"bos_id", tokenizer.bos_id()},
                                    {"eos_id", tokenizer.eos_id()},
                                    {"sha256", tokenizer.sha256()}};
    if (config && tokenizer.vocab_size() > config->vocab_size)
      findings.problems.push_back(path.string() + ": tokenizer has " + std::to_string(tokenizer.vocab_size()) +
                                  " pieces but the model's vocab_size is " + std::to_string(config->vocab_size));
  });
}

void print_human(const fs::path& folder, const Findings& findings) {
  std::cout << "model folder: " << folder.string() << "\n";
  for (const char* section : {"config", "rope", "weights", "tokenizer"}) {
    if (!findings.report.contains(section)) continue;
    std::cout << section << ":\n";
    for (const auto& [key, value] : findings.report[section].items())
      std::cout << "  " << std::left << std::setw(34) << key << value.dump() << "\n";
  }
  for (const auto& note : findings.notes) std::cout << "note: " << note << "\n";
  if (findings.problems.empty()) {
    std::cout << "no problems found\n";
    return;
  }
  std::cout << findings.problems.size() << " problem(s):\n";
  for (const auto& problem : findings.problems) std::cout << "  - " << problem << "\n";
}

int run_inspect(const std::string& dir, bool as_json) {
  const fs::path folder(resolve_model_folder(dir, "DIR"));
  CREAM_CHECK(fs::is_directory(folder), dir + ": not a folder");
  Findings findings;
  std::optional<model::LlamaConfig> config;
  inspect_config(folder, findings, config);
  inspect_weights(folder, findings, config);
  inspect_tokenizer(folder, findings, config);
  if (as_json) {
    findings.report["folder"] = folder.string();
    findings.report["problems"] = findings.problems;
    findings.report["notes"] = findings.notes;
    std::cout << findings.report.dump(2) << "\n";
  } else {
    print_human(folder, findings);
  }
  if (!findings.problems.empty()) {
    // The first problem on stderr too, so that scripts see what is wrong without parsing stdout.
    std::cerr << "cream: error: " << dir << ": " << findings.problems.size() << " problem(s) found, first: "
              << findings.problems.front() << "\n";
    return 1;
  }
  return 0;
}

void setup_inspect(CLI::App& root) {
  auto dir = std::make_shared<std::string>();
  auto as_json = std::make_shared<bool>(false);
  auto* cmd = root.add_subcommand("inspect", "Summarise a model folder and list every problem found in it");
  cmd->add_option("DIR", *dir, "HF model folder, or a run folder (its newest checkpoint)")->required();
  cmd->add_flag("--json", *as_json, "Print the report as JSON");
  cmd->callback([dir, as_json] {
    const int status = run_inspect(*dir, *as_json);
    if (status != 0) throw ExitWithStatus{status};
  });
}

const bool kRegistered = register_command("inspect", 80, setup_inspect);

}  // namespace
}  // namespace cream::cli
