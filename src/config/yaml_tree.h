// Checks on the raw YAML tree that come before typed parsing (private to the
// config concern): duplicate keys, unknown keys, required keys, --set overrides.
#pragma once

#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "cream/config/sections.h"

namespace cream::config {

// Section names in document order, and the keys of one section.
const std::vector<std::string>& section_names();
const std::vector<std::string>& section_keys(const std::string& section);

// For an unknown name: "did you mean optim.lr?" or, with no close match, the
// names accepted there. `key` empty: the top-level name `section` is unknown.
std::string unknown_hint(const std::string& section, const std::string& key);

// Throws KeyError at the second occurrence of any key in any mapping, with
// both line numbers (yaml-cpp itself keeps both entries silently).
void check_no_duplicate_keys(const YAML::Node& node, const std::string& path = "");

// Throws KeyError for a top level that is not a mapping of known sections, a
// section that is not a mapping, or an unknown key.
void check_known_keys(const YAML::Node& root);

// Throws KeyError naming the first required key that is absent.
void check_required_keys(const YAML::Node& root);

// Applies "section.key=value" overrides to the tree (null values remove the
// key) and appends each key path set to `overridden`. Throws cream::Error
// naming the --set argument for a malformed one or an unknown key.
void apply_overrides(YAML::Node& root, const std::vector<std::string>& overrides,
                     std::vector<std::string>& overridden);

// "<source>: <key path>[ (from --set)]: <detail>", the one-line form of every
// config error.
std::string locate(const KeyError& error, const std::string& source, const std::vector<std::string>& overridden);

// "a list", "a mapping", "no value" or the quoted scalar, for type errors.
std::string describe_node(const YAML::Node& node);

}  // namespace cream::config
