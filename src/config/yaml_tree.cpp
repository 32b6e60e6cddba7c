#include "yaml_tree.h"

#include <algorithm>
#include <map>
#include <optional>

#include "cream/config/experiment.h"
#include "cream/config/suggest.h"

namespace cream::config {
namespace {

// The schema, collected once from the fields() lists so that it cannot drift.
struct Schema {
  std::vector<std::string> sections;
  std::map<std::string, std::vector<std::string>> keys;
};

const Schema& schema() {
  static const Schema instance = [] {
    Schema result;
    ExperimentConfig config;
    ExperimentConfig::sections(config, [&](const char* section_name, auto& section) {
      result.sections.push_back(section_name);
      auto& keys = result.keys[section_name];
      std::decay_t<decltype(section)>::fields(section, [&](const char* key, auto&) { keys.push_back(key); });
    });
    return result;
  }();
  return instance;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

bool contains(const std::vector<std::string>& items, const std::string& item) {
  return std::find(items.begin(), items.end(), item) != items.end();
}

// "optim.lr" when `key` is exactly a key of some section, else the closest key path.
std::optional<std::string> key_anywhere(const std::string& key) {
  for (const auto& section : schema().sections) {
    if (contains(section_keys(section), key)) return section + "." + key;
  }
  std::vector<std::string> names;
  std::vector<std::string> paths;
  for (const auto& section : schema().sections) {
    for (const auto& name : section_keys(section)) {
      names.push_back(name);
      paths.push_back(section + "." + name);
    }
  }
  const auto match = closest_match(key, names);
  if (!match) return std::nullopt;
  return paths[std::find(names.begin(), names.end(), *match) - names.begin()];
}

std::string key_text(const YAML::Node& key, const std::string& parent) {
  if (!key.IsScalar()) {
    throw KeyError(parent.empty() ? "(top level)" : parent, "keys must be plain names, got " + describe_node(key));
  }
  return key.Scalar();
}

std::string child_path(const std::string& parent, const std::string& key) {
  return parent.empty() ? key : parent + "." + key;
}

}  // namespace

const std::vector<std::string>& section_names() { return schema().sections; }

const std::vector<std::string>& section_keys(const std::string& section) {
  static const std::vector<std::string> kNone;
  const auto found = schema().keys.find(section);
  return found == schema().keys.end() ? kNone : found->second;
}

std::vector<std::string> known_key_paths() {
  std::vector<std::string> paths;
  for (const auto& section : section_names()) {
    for (const auto& key : section_keys(section)) paths.push_back(section + "." + key);
  }
  return paths;
}

std::string unknown_hint(const std::string& section, const std::string& key) {
  if (key.empty()) {
    if (auto match = closest_match(section, section_names())) return "did you mean " + *match + "?";
    if (auto path = key_anywhere(section)) return "did you mean " + *path + "?";
    return "sections: " + join(section_names());
  }
  if (auto match = closest_match(key, section_keys(section))) return "did you mean " + section + "." + *match + "?";
  if (auto path = key_anywhere(key)) return "did you mean " + *path + "?";
  return section + " accepts: " + join(section_keys(section));
}

std::string describe_node(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Scalar: return "\"" + node.Scalar() + "\"";
    default: return "no value";
  }
}

void check_no_duplicate_keys(const YAML::Node& node, const std::string& path) {
  if (node.IsSequence()) {
    for (std::size_t i = 0; i < node.size(); ++i) {
      check_no_duplicate_keys(node[i], path + "[" + std::to_string(i) + "]");
    }
    return;
  }
  if (!node.IsMap()) return;
  std::map<std::string, YAML::Mark> first_seen;  // key -> where it first occurs
  for (const auto& entry : node) {
    const auto key = key_text(entry.first, path);
    const auto [previous, inserted] = first_seen.emplace(key, entry.first.Mark());
    if (!inserted) {
      const auto& first = previous->second;
      const auto& again = entry.first.Mark();
      const auto where = first.line == again.line
                             ? "line " + std::to_string(again.line + 1) + ", columns " +
                                   std::to_string(first.column + 1) + " and " + std::to_string(again.column + 1)
                             : "lines " + std::to_string(first.line + 1) + " and " + std::to_string(again.line + 1);
      throw KeyError(child_path(path, key), "duplicate key (" + where + "); remove one");
    }
    check_no_duplicate_keys(entry.second, child_path(path, key));
  }
}

void check_known_keys(const YAML::Node& root) {
  if (root.IsNull()) return;
  if (!root.IsMap()) throw KeyError("(top level)", "expected a mapping of sections, got " + describe_node(root));
  for (const auto& entry : root) {
    const auto section = key_text(entry.first, "");
    if (!contains(section_names(), section)) throw KeyError(section, "unknown section (" + unknown_hint(section, "") + ")");
    const YAML::Node& body = entry.second;
    if (body.IsNull()) continue;  // an empty section: all defaults
    if (!body.IsMap()) throw KeyError(section, "expected a mapping of keys, got " + describe_node(body));
    for (const auto& item : body) {
      const auto key = key_text(item.first, section);
      if (!contains(section_keys(section), key)) throw KeyError(section + "." + key, "unknown key (" + unknown_hint(section, key) + ")");
    }
  }
}

void check_required_keys(const YAML::Node& root) {
  static const std::vector<std::pair<std::string, std::string>> kRequired = {
      {"positions", "method"}, {"positions", "train_length"}, {"positions", "target_length"},
      {"train", "steps"},      {"optim", "lr"},                {"checkpoint", "output_dir"}};
  for (const auto& [section, key] : kRequired) {
    const YAML::Node body = root.IsMap() ? root[section] : YAML::Node();
    if (!body.IsDefined() || !body.IsMap() || !body[key].IsDefined()) throw KeyError(section + "." + key, "missing required key");
  }
}

void apply_overrides(YAML::Node& root, const std::vector<std::string>& overrides,
                     std::vector<std::string>& overridden) {
  if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  for (const auto& argument : overrides) {
    const std::string where = "--set " + argument;
    const auto equals = argument.find('=');
    const auto path = argument.substr(0, equals);
    const auto dot = path.find('.');
    if (equals == std::string::npos || dot == std::string::npos || path.find('.', dot + 1) != std::string::npos) {
      throw cream::Error(where + ": expected section.key=value (e.g. --set train.steps=100)");
    }
    const auto section = path.substr(0, dot);
    const auto key = path.substr(dot + 1);
    if (!contains(section_names(), section)) {
      throw cream::Error(where + ": unknown section " + section + " (" + unknown_hint(section, "") + ")");
    }
    if (!contains(section_keys(section), key)) {
      throw cream::Error(where + ": unknown key " + path + " (" + unknown_hint(section, key) + ")");
    }
    YAML::Node value;
    try {
      value = YAML::Load(argument.substr(equals + 1));
    } catch (const YAML::Exception& e) {
      throw cream::Error(where + ": invalid YAML value: " + e.msg);
    }
    // Look up through a const reference first: yaml-cpp's non-const operator[]
    // creates entries, and assigning to a Node handle rewrites the node it refers to.
    const YAML::Node& const_root = root;
    const YAML::Node existing = const_root[section];
    if (!existing.IsDefined() || existing.IsNull()) root[section] = YAML::Node(YAML::NodeType::Map);
    YAML::Node body = root[section];
    if (!body.IsMap()) throw KeyError(section, "expected a mapping of keys, got " + describe_node(body));
    if (value.IsNull()) {
      body.remove(key);  // back to the default
    } else {
      body[key] = value;
    }
    overridden.push_back(path);
  }
}

}  // namespace cream::config
