// Paths and JSON helpers shared by the model tests.
#pragma once

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "cream/util/fs.h"

namespace cream::model::testing {

inline std::filesystem::path fixture(const std::string& relative) {
  return std::filesystem::path(CREAM_SOURCE_DIR) / "tests" / "fixtures" / "model" / relative;
}

inline nlohmann::json read_json(const std::filesystem::path& path) {
  return nlohmann::json::parse(util::read_text_file(path));
}

// A fresh, empty temporary folder unique to this process and `name`.
inline std::filesystem::path fresh_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("cream_model_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace cream::model::testing
