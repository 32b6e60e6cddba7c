// An HF model folder's weights: one model.safetensors, or an index naming the shard of
// every tensor. The index and the shards must agree exactly.
#include "cream/io/checkpoint_folder.h"

#include <algorithm>
#include <set>

#include <nlohmann/json.hpp>

#include "cream/util/error.h"
#include "cream/util/fs.h"

namespace cream::io {

namespace fs = std::filesystem;

namespace {

// A shard path from the index must name a file inside the folder: relative, no "..".
void check_shard_path(const std::string& shard, const std::string& where) {
  const fs::path path(shard);
  CREAM_CHECK(!shard.empty(), where + "empty shard file name");
  CREAM_CHECK(!path.is_absolute() && !path.has_root_name() && !path.has_root_directory(),
              where + "shard path '" + shard + "' is absolute; it must be inside the folder");
  for (const auto& part : path) {
    CREAM_CHECK(part != "..", where + "shard path '" + shard + "' leaves the folder ('..')");
  }
}

// The index's weight_map: tensor name -> shard file name.
std::map<std::string, std::string> read_weight_map(const fs::path& index) {
  const auto where = index.string() + ": ";
  nlohmann::json root;
  try {
    root = nlohmann::json::parse(util::read_text_file(index));
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(where + "not valid JSON: " + e.what());
  }
  CREAM_CHECK(root.is_object(), where + "must be a JSON object");
  CREAM_CHECK(root.contains("weight_map"), where + "lacks \"weight_map\"");
  const auto& map = root.at("weight_map");
  CREAM_CHECK(map.is_object(), where + "\"weight_map\" must be an object {tensor: shard file}");
  std::map<std::string, std::string> weight_map;
  for (const auto& [name, shard] : map.items()) {
    CREAM_CHECK(shard.is_string(), where + "\"weight_map\" entry for tensor '" + name + "' must be a file name");
    check_shard_path(shard.get<std::string>(), where);
    // "./x.safetensors" and "x.safetensors" are the same shard.
    weight_map[name] = fs::path(shard.get<std::string>()).lexically_normal().string();
  }
  CREAM_CHECK(!weight_map.empty(), where + "\"weight_map\" is empty");
  return weight_map;
}

}  // namespace

CheckpointFolder::CheckpointFolder(const fs::path& folder) : folder_(folder) {
  CREAM_CHECK(fs::is_directory(folder), folder.string() + ": not a folder (expected an HF model folder)");
  if (fs::exists(folder / kSingleWeightsFile)) open_single(folder / kSingleWeightsFile);
  else if (fs::exists(folder / kWeightsIndexFile)) open_index(folder / kWeightsIndexFile);
  else throw Error(folder.string() + ": no weights: neither " + kSingleWeightsFile + " nor " + kWeightsIndexFile);
}

void CheckpointFolder::open_single(const fs::path& file) {
  files_.emplace_back(file);
  for (const auto& info : files_.front().tensors()) locations_.emplace(info.name, Location{0, &info});
}

void CheckpointFolder::open_index(const fs::path& index) {
  sharded_ = true;
  const auto where = index.string() + ": ";
  const auto weight_map = read_weight_map(index);
  std::set<std::string> shard_names;
  for (const auto& entry : weight_map) shard_names.insert(entry.second);
  std::map<std::string, std::size_t> shard_position;
  files_.reserve(shard_names.size());
  for (const auto& shard : shard_names) {
    const auto path = folder_ / shard;
    CREAM_CHECK(fs::exists(path), where + "shard file '" + shard + "' listed in the index is missing");
    shard_position[shard] = files_.size();
    files_.emplace_back(path);
  }
  // Every tensor of every shard, each once, and exactly where the index says.
  for (std::size_t f = 0; f < files_.size(); ++f) {
    for (const auto& info : files_[f].tensors()) {
      const auto [it, fresh] = locations_.emplace(info.name, Location{f, &info});
      CREAM_CHECK(fresh, folder_.string() + ": tensor '" + info.name + "' is in two shards: " +
                             files_[it->second.file].path().filename().string() + " and " +
                             files_[f].path().filename().string());
      const auto listed = weight_map.find(info.name);
      CREAM_CHECK(listed != weight_map.end(), where + "tensor '" + info.name + "' is in shard " +
                                                  files_[f].path().filename().string() +
                                                  " but not in the index's weight_map");
      CREAM_CHECK(shard_position.at(listed->second) == f,
                  where + "tensor '" + info.name + "' is listed in " + listed->second + " but stored in " +
                      files_[f].path().filename().string());
    }
  }
  for (const auto& [name, shard] : weight_map) {
    CREAM_CHECK(locations_.count(name) == 1,
                where + "tensor '" + name + "' is listed in the index but missing from its shard " + shard);
  }
}

std::vector<std::string> CheckpointFolder::names() const {
  std::vector<std::string> out;
  out.reserve(locations_.size());
  for (const auto& entry : locations_) out.push_back(entry.first);
  return out;
}

bool CheckpointFolder::contains(const std::string& name) const { return locations_.count(name) == 1; }

const CheckpointFolder::Location& CheckpointFolder::locate(const std::string& name) const {
  const auto it = locations_.find(name);
  CREAM_CHECK(it != locations_.end(), folder_.string() + ": no tensor '" + name + "' in the checkpoint");
  return it->second;
}

const TensorInfo& CheckpointFolder::info(const std::string& name) const { return *locate(name).info; }

const std::byte* CheckpointFolder::data(const std::string& name) const {
  const auto& location = locate(name);
  return files_[location.file].data(*location.info);
}

std::vector<fs::path> CheckpointFolder::files() const {
  std::vector<fs::path> out;
  for (const auto& file : files_) out.push_back(file.path());
  return out;
}

}  // namespace cream::io
