// Rope overrides for the evaluations: see include/cream/eval/model_overrides.h.
#include "cream/eval/model_overrides.h"

#include <algorithm>
#include <cmath>

#include "cream/eval/perplexity.h"
#include "cream/util/error.h"
#include "cream/util/log.h"
#include "cream/util/parse.h"

namespace cream::eval {
namespace {

using model::RopeType;

std::string joined_keys() {
  std::string text;
  for (const auto& key : rope_param_keys()) text += (text.empty() ? "" : ", ") + key;
  return text;
}

double positive_number(const std::string& key, const std::string& value) {
  const auto number = util::parse_real(value);
  CREAM_CHECK(number && *number > 0.0, "--rope-param " + key + ": '" + value + "' is not a positive number");
  return *number;
}

int64_t positive_integer(const std::string& key, const std::string& value) {
  const auto number = util::parse_integer(value);
  CREAM_CHECK(number && *number > 0, "--rope-param " + key + ": '" + value + "' is not a positive integer");
  return *number;
}

bool boolean(const std::string& key, const std::string& value) {
  if (value == "true" || value == "1") return true;
  if (value == "false" || value == "0") return false;
  throw Error("--rope-param " + key + ": '" + value + "' is not true, false, 1 or 0");
}

// Which rope types read `key` (rope_theta, on the config, applies to every type).
bool key_applies(const std::string& key, RopeType type) {
  const bool yarn = type == RopeType::Yarn || type == RopeType::YarnCream;
  if (key == "factor" || key == "original_max_position_embeddings") return type != RopeType::Default;
  if (key == "attention_factor") return yarn || type == RopeType::LongRope;
  if (key == "low_freq_factor" || key == "high_freq_factor") return type == RopeType::Llama3;
  return yarn;  // beta_fast, beta_slow, mscale, mscale_all_dim, truncate
}

}  // namespace

const std::vector<std::string>& rope_param_keys() {
  static const std::vector<std::string> keys = {
      "rope_theta",     "factor",          "original_max_position_embeddings", "beta_fast", "beta_slow",
      "attention_factor", "mscale",        "mscale_all_dim",                   "low_freq_factor",
      "high_freq_factor", "truncate"};
  return keys;
}

void apply_rope_param(model::LlamaConfig& config, const std::string& assignment) {
  const auto equals = assignment.find('=');
  CREAM_CHECK(equals != std::string::npos && equals > 0,
              "--rope-param: '" + assignment + "' is not key=value (keys: " + joined_keys() + ")");
  const std::string key = assignment.substr(0, equals), value = assignment.substr(equals + 1);
  const auto& keys = rope_param_keys();
  CREAM_CHECK(std::find(keys.begin(), keys.end(), key) != keys.end(),
              "--rope-param: unknown key '" + key + "' (valid: " + joined_keys() + ")");
  auto& rope = config.rope;
  if (key == "rope_theta") {
    config.rope_theta = positive_number(key, value);
    return;
  }
  CREAM_CHECK(key_applies(key, rope.type), "--rope-param " + key + ": not used by rope type " +
                                               model::rope_type_name(rope.type) +
                                               (rope.type == RopeType::Default ? " (set one with --rope-scaling)" : ""));
  if (key == "factor") rope.factor = positive_number(key, value);
  else if (key == "original_max_position_embeddings") rope.original_max_position_embeddings = positive_integer(key, value);
  else if (key == "beta_fast") rope.beta_fast = positive_number(key, value);
  else if (key == "beta_slow") rope.beta_slow = positive_number(key, value);
  else if (key == "attention_factor") rope.attention_factor = positive_number(key, value);
  else if (key == "mscale") rope.mscale = positive_number(key, value);
  else if (key == "mscale_all_dim") rope.mscale_all_dim = positive_number(key, value);
  else if (key == "low_freq_factor") rope.low_freq_factor = positive_number(key, value);
  else if (key == "high_freq_factor") rope.high_freq_factor = positive_number(key, value);
  else rope.truncate = boolean(key, value);
}

void apply_rope_overrides(model::LlamaConfig& config, const RopeOverrides& overrides) {
  if (overrides.empty()) return;
  std::string source;
  if (overrides.scaling) {
    config.rope = parse_rope_override(*overrides.scaling, config);
    source = "--rope-scaling " + *overrides.scaling;
  }
  for (const auto& param : overrides.params) {
    apply_rope_param(config, param);
    source += (source.empty() ? "" : " ") + std::string("--rope-param ") + param;
  }
  config.validate(source);
}

int64_t supported_window(const model::LlamaConfig& config) {
  int64_t window = config.max_position_embeddings;
  if (config.rope.type != RopeType::Default)
    window = std::max(window, static_cast<int64_t>(std::llround(config.rope.factor *
                                                                static_cast<double>(config.original_window()))));
  return window;
}

void warn_beyond_window(const model::LlamaConfig& config, int64_t length, const std::string& what) {
  const int64_t window = supported_window(config);
  if (length <= window) return;
  log::warn("{}: length {} is beyond the model's window of {} tokens (max_position_embeddings {}{})", what, length,
            window, config.max_position_embeddings, config.rope.type == RopeType::Default ? "" : ", with its rope scaling");
}

nlohmann::json rope_record(const model::LlamaConfig& config, const RopeOverrides& overrides) {
  const auto exported = config.to_json();
  nlohmann::json j;
  j["rope_theta"] = exported.at("rope_theta");
  j["rope_scaling"] = exported.contains("rope_scaling") ? exported.at("rope_scaling") : nlohmann::json(nullptr);
  j["rope_type"] = model::rope_type_name(config.rope.type);
  j["max_position_embeddings"] = config.max_position_embeddings;
  j["window"] = supported_window(config);
  j["rope_override"] = overrides.scaling ? nlohmann::json(*overrides.scaling) : nlohmann::json(nullptr);
  j["rope_params"] = overrides.params;
  return j;
}

}  // namespace cream::eval
