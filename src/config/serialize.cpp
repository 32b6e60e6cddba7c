// ExperimentConfig -> the resolved YAML, flat key/value lists, fingerprint and
// the resume diff. All of them walk the same fields() lists as the reader.
#include <algorithm>
#include <cstdio>
#include <map>
#include <type_traits>

#include <yaml-cpp/yaml.h>

#include "cream/config/experiment.h"
#include "cream/config/scalars.h"
#include "cream/util/fs.h"

namespace cream::config {
namespace {

// ---- emitting one value into a YAML::Emitter --------------------------------
void emit(YAML::Emitter& out, int64_t value) { out << std::to_string(value); }
void emit(YAML::Emitter& out, double value) { out << format_double(value); }
void emit(YAML::Emitter& out, bool value) { out << (value ? "true" : "false"); }
// Free-form strings (paths, presets) are always quoted, so that a folder called
// "null" or "8" reads back as that string.
void emit(YAML::Emitter& out, const std::string& value) { out << YAML::DoubleQuoted << value; }
template <typename Enum>
std::enable_if_t<std::is_enum_v<Enum>> emit(YAML::Emitter& out, Enum value) {
  out << to_string(value);
}
template <typename List>
void emit_list(YAML::Emitter& out, const List& values) {
  out << YAML::Flow << YAML::BeginSeq;
  for (const auto& value : values) emit(out, value);
  out << YAML::EndSeq;
}
void emit(YAML::Emitter& out, const std::vector<int64_t>& values) { emit_list(out, values); }
void emit(YAML::Emitter& out, const std::array<double, 2>& values) { emit_list(out, values); }

// ---- the same values as plain text, for comparisons -------------------------
std::string text(int64_t value) { return std::to_string(value); }
std::string text(double value) { return format_double(value); }
std::string text(bool value) { return value ? "true" : "false"; }
std::string text(const std::string& value) {
  std::string quoted = "\"";
  for (const char c : value) {
    if (c == '"' || c == '\\') quoted += '\\';
    quoted += c == '\n' ? std::string("\\n") : std::string(1, c);
  }
  return quoted + "\"";
}
template <typename Enum>
std::enable_if_t<std::is_enum_v<Enum>, std::string> text(Enum value) {
  return to_string(value);
}
template <typename List>
std::string list_text(const List& values) {
  std::string result = "[";
  for (const auto& value : values) result += (result.size() > 1 ? ", " : "") + text(value);
  return result + "]";
}
std::string text(const std::vector<int64_t>& values) { return list_text(values); }
std::string text(const std::array<double, 2>& values) { return list_text(values); }

// Keys without a value (an unset optional, an empty string) are left out.
template <typename T>
const T* present(const T& value) {
  if constexpr (std::is_same_v<T, std::string>) return value.empty() ? nullptr : &value;
  return &value;
}
template <typename T>
const T* present(const std::optional<T>& value) {
  return value ? &*value : nullptr;
}

// Calls fn(section name, key, value) for every key that has a value.
template <typename Fn>
void for_each_present(const ExperimentConfig& config, Fn&& fn) {
  ExperimentConfig::sections(config, [&](const char* section_name, const auto& section) {
    std::decay_t<decltype(section)>::fields(section, [&](const char* key, const auto& value) {
      if (const auto* v = present(value)) fn(section_name, key, *v);
    });
  });
}

std::string fnv1a_hex(const std::string& data) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (const unsigned char c : data) {
    hash ^= c;
    hash *= 0x100000001b3ULL;
  }
  char buffer[17];
  std::snprintf(buffer, sizeof(buffer), "%016llx", static_cast<unsigned long long>(hash));
  return buffer;
}

}  // namespace

std::string to_yaml(const ExperimentConfig& config) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  std::string open_section;
  for_each_present(config, [&](const char* section, const char* key, const auto& value) {
    if (open_section != section) {
      if (!open_section.empty()) out << YAML::EndMap;
      out << YAML::Key << section << YAML::Value << YAML::BeginMap;
      open_section = section;
    }
    out << YAML::Key << key << YAML::Value;
    emit(out, value);
  });
  if (!open_section.empty()) out << YAML::EndMap;
  out << YAML::EndMap;
  return "# Resolved experiment config (every key with the value used).\n"
         "# fingerprint: " + fingerprint(config) + "\n" + out.c_str() + "\n";
}

std::vector<std::pair<std::string, std::string>> flatten(const ExperimentConfig& config) {
  std::vector<std::pair<std::string, std::string>> result;
  for_each_present(config, [&](const char* section, const char* key, const auto& value) {
    result.emplace_back(std::string(section) + "." + key, text(value));
  });
  return result;
}

bool operator==(const ExperimentConfig& a, const ExperimentConfig& b) { return flatten(a) == flatten(b); }

bool is_resume_protected(const std::string& key_path) {
  static const char* const kProtected[] = {"model.path",   "model.init",        "model.arch",  "model.dtype",
                                           "model.tokenizer", "data.train",     "data.short_docs",
                                           "train.seed",   "train.global_batch", "train.memory_mode"};
  for (const char* path : kProtected) {
    if (key_path == path) return true;
  }
  return key_path.rfind("positions.", 0) == 0 || key_path.rfind("rope.", 0) == 0;
}

std::string fingerprint(const ExperimentConfig& config) {
  std::string protected_text;
  for (const auto& [path, value] : flatten(config)) {
    if (is_resume_protected(path)) protected_text += path + "=" + value + "\n";
  }
  return fnv1a_hex(protected_text);
}

std::vector<ConfigChange> diff_for_resume(const ExperimentConfig& saved, const ExperimentConfig& current) {
  const auto before = flatten(saved);
  const auto after = flatten(current);
  const std::map<std::string, std::string> before_map(before.begin(), before.end());
  const std::map<std::string, std::string> after_map(after.begin(), after.end());
  auto value_of = [](const std::map<std::string, std::string>& values, const std::string& path) {
    const auto found = values.find(path);
    return found == values.end() ? std::string("(unset)") : found->second;
  };
  std::vector<ConfigChange> changes;
  for (const auto& path : known_key_paths()) {
    const auto old_value = value_of(before_map, path);
    const auto new_value = value_of(after_map, path);
    if (old_value != new_value) changes.push_back({path, old_value, new_value, is_resume_protected(path)});
  }
  std::stable_partition(changes.begin(), changes.end(), [](const ConfigChange& c) { return c.protected_key; });
  return changes;
}

std::vector<ConfigChange> check_resume(const ExperimentConfig& saved, const ExperimentConfig& current, bool force) {
  auto changes = diff_for_resume(saved, current);
  std::string refused;
  for (const auto& change : changes) {
    if (!change.protected_key) continue;
    refused += (refused.empty() ? "" : "; ") + change.key_path + " " + change.before + " -> " + change.after;
  }
  if (refused.empty() || force) return changes;
  throw cream::Error(current.source + ": differs from the run's saved config " + saved.source + " in keys that " +
                     "must not change on resume: " + refused + "; use --force to resume anyway");
}

void write_resolved_config(const ExperimentConfig& config, const std::filesystem::path& run_dir) {
  util::write_file_atomic(run_dir / kResolvedConfigName, to_yaml(config));
}

}  // namespace cream::config
