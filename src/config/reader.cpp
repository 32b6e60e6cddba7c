// YAML text -> ExperimentConfig: tree checks, --set overrides, typed reading.
#include <algorithm>
#include <type_traits>

#include "cream/config/experiment.h"
#include "cream/config/scalars.h"
#include "cream/config/suggest.h"
#include "cream/util/fs.h"
#include "yaml_tree.h"

namespace cream::config {
namespace {

// The text of a scalar meant as a number or boolean. Quoted scalars are
// strings in YAML ("1000" is not 1000), so they are refused here.
std::string plain_scalar(const YAML::Node& node, const std::string& path, const std::string& expected) {
  if (node.IsNull()) throw KeyError(path, "has no value (remove the key to use the default)");
  if (!node.IsScalar()) throw KeyError(path, "expected " + expected + ", got " + describe_node(node));
  if (node.Tag() != "?") throw KeyError(path, "expected " + expected + ", got the string " + describe_node(node));
  return node.Scalar();
}

void read(const YAML::Node& node, const std::string& path, int64_t& value) {
  const auto text = plain_scalar(node, path, "an integer");
  if (const auto parsed = parse_int(text)) {
    value = *parsed;
  } else if (parse_double(text)) {
    const bool integral_digits = text.find_first_of(".eE") == std::string::npos;
    throw KeyError(path, integral_digits ? "integer " + text + " does not fit in 64 bits"
                                         : "expected an integer, got " + text);
  } else {
    throw KeyError(path, "expected an integer, got " + describe_node(node));
  }
}

void read(const YAML::Node& node, const std::string& path, double& value) {
  const auto text = plain_scalar(node, path, "a number");
  const auto parsed = parse_double(text);
  if (!parsed) throw KeyError(path, "expected a finite number, got " + describe_node(node));
  value = *parsed;
}

void read(const YAML::Node& node, const std::string& path, bool& value) {
  const auto text = plain_scalar(node, path, "true or false");
  const auto parsed = parse_bool(text);
  if (!parsed) throw KeyError(path, "expected true or false, got " + describe_node(node));
  value = *parsed;
}

void read(const YAML::Node& node, const std::string& path, std::string& value) {
  if (node.IsNull()) throw KeyError(path, "has no value (remove the key to use the default)");
  if (!node.IsScalar()) throw KeyError(path, "expected a string, got " + describe_node(node));
  if (node.Scalar().empty()) throw KeyError(path, "must not be empty (remove the key to use the default)");
  value = node.Scalar();
}

template <typename Enum>
std::enable_if_t<std::is_enum_v<Enum>> read(const YAML::Node& node, const std::string& path, Enum& value) {
  std::string text;
  read(node, path, text);
  std::vector<std::string> names;
  for (const Enum candidate : all_values<Enum>()) {
    if (text == to_string(candidate)) {
      value = candidate;
      return;
    }
    names.push_back(to_string(candidate));
  }
  for (const auto& [alias, candidate] : aliases<Enum>()) {
    if (text == alias) {
      value = candidate;
      return;
    }
  }
  std::string allowed;
  for (const auto& name : names) allowed += (allowed.empty() ? "" : ", ") + name;
  const auto match = closest_match(text, names);
  throw KeyError(path, "unknown value \"" + text + "\" (" + (match ? "did you mean " + *match + "? " : "") +
                           "expected one of: " + allowed + ")");
}

template <typename T>
void read(const YAML::Node& node, const std::string& path, std::optional<T>& value) {
  T parsed{};
  read(node, path, parsed);
  value = parsed;
}

void read(const YAML::Node& node, const std::string& path, std::vector<int64_t>& value) {
  if (!node.IsSequence()) throw KeyError(path, "expected a list of integers, got " + describe_node(node));
  value.assign(node.size(), 0);
  for (std::size_t i = 0; i < node.size(); ++i) read(node[i], path + "[" + std::to_string(i) + "]", value[i]);
}

void read(const YAML::Node& node, const std::string& path, std::array<double, 2>& value) {
  if (!node.IsSequence() || node.size() != 2) {
    const auto got = node.IsSequence() ? "a list of " + std::to_string(node.size()) : describe_node(node);
    throw KeyError(path, "expected a list of 2 numbers, got " + got);
  }
  for (std::size_t i = 0; i < 2; ++i) read(node[i], path + "[" + std::to_string(i) + "]", value[i]);
}

// Reads the keys of one section that are present; absent keys keep their defaults.
class FieldReader {
 public:
  FieldReader(YAML::Node body, std::string section) : body_(std::move(body)), section_(std::move(section)) {}

  template <typename T>
  void operator()(const char* key, T& value) const {
    const YAML::Node& body = body_;  // const lookup: never inserts the key
    const YAML::Node node = body[key];
    if (node.IsDefined()) read(node, section_ + "." + key, value);
  }

 private:
  YAML::Node body_;
  std::string section_;
};

void read_sections(const YAML::Node& root, ExperimentConfig& config) {
  ExperimentConfig::sections(config, [&](const char* name, auto& section) {
    const YAML::Node body = root.IsMap() ? root[name] : YAML::Node();
    if (body.IsDefined() && body.IsMap()) std::decay_t<decltype(section)>::fields(section, FieldReader(body, name));
  });
}

YAML::Node load_single_document(const std::string& text, const std::string& source) {
  std::vector<YAML::Node> documents;
  try {
    documents = YAML::LoadAll(text);
  } catch (const YAML::Exception& e) {
    throw cream::Error(source + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1) +
                       ": invalid YAML: " + e.msg);
  }
  CREAM_CHECK(documents.size() <= 1, source + ": expected one YAML document, got " +
                                         std::to_string(documents.size()) + " (separated by ---)");
  return documents.empty() ? YAML::Node() : documents.front();
}

}  // namespace

std::string locate(const KeyError& error, const std::string& source, const std::vector<std::string>& overridden) {
  // "eval.lengths[1]" comes from --set when "eval.lengths" does.
  const auto& path = error.key_path();
  const bool from_set = std::any_of(overridden.begin(), overridden.end(), [&](const std::string& key) {
    return path == key || path.rfind(key + "[", 0) == 0;
  });
  return source + ": " + error.key_path() + (from_set ? " (from --set)" : "") + ": " + error.detail();
}

ExperimentConfig parse_experiment(const std::string& yaml_text, const std::string& source,
                                  const std::vector<std::string>& overrides, int world_size) {
  ExperimentConfig config;
  config.source = source;
  YAML::Node root = load_single_document(yaml_text, source);
  try {
    check_no_duplicate_keys(root);
    check_known_keys(root);
    apply_overrides(root, overrides, config.overridden);
    check_required_keys(root);
    read_sections(root, config);
  } catch (const KeyError& e) {
    throw cream::Error(locate(e, source, config.overridden));
  } catch (const YAML::Exception& e) {
    throw cream::Error(source + ": " + e.what());
  }
  config.resolve();
  config.validate(world_size);
  return config;
}

ExperimentConfig load_experiment(const std::filesystem::path& path, const std::vector<std::string>& overrides,
                                 int world_size) {
  return parse_experiment(util::read_text_file(path), path.string(), overrides, world_size);
}

}  // namespace cream::config
