#include "cream/train/trainer_state.h"

#include <cstring>
#include <optional>
#include <ostream>

#include "cream/util/error.h"
#include "cream/util/fs.h"

namespace cream::train {

namespace fs = std::filesystem;

namespace {

positions::Branch parse_branch(const std::string& name, const std::string& source) {
  for (auto branch : {positions::Branch::none, positions::Branch::relativity, positions::Branch::continuity})
    if (name == positions::branch_name(branch)) return branch;
  throw Error(source + ": sampler_batch_branch: unknown value '" + name + "'");
}

template <typename T>
T required(const nlohmann::json& json, const char* key, const std::string& source) {
  CREAM_CHECK(json.contains(key), source + ": missing field '" + key + "'");
  try {
    return json.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    throw Error(source + ": field '" + key + "' has the wrong type");
  }
}

// The dtypes a checkpoint's state tensors come in.
const std::pair<torch::ScalarType, io::DType> kStateDtypes[] = {{torch::kFloat32, io::DType::F32},
                                                                 {torch::kBFloat16, io::DType::BF16},
                                                                 {torch::kInt64, io::DType::I64},
                                                                 {torch::kUInt8, io::DType::U8}};

io::DType io_dtype_of(const torch::Tensor& tensor, const std::string& name) {
  for (const auto& [torch_type, io_type] : kStateDtypes)
    if (tensor.scalar_type() == torch_type) return io_type;
  throw Error("tensor " + name + ": expected float32, bfloat16, int64 or uint8, got " +
              std::string(c10::toString(tensor.scalar_type())));
}

}  // namespace

nlohmann::json TrainerState::to_json() const {
  return {{"format_version", kTrainerStateVersion},
          {"step", step},
          {"world_size", world_size},
          {"sampler_rng", sampler_rng},
          {"sampler_draws", sampler_draws},
          {"sampler_batch_branch", positions::branch_name(sampler_batch_branch)},
          {"loader", loader},
          {"config_fingerprint", config_fingerprint}};
}

TrainerState TrainerState::from_json(const nlohmann::json& json, const std::string& source) {
  CREAM_CHECK(json.is_object(), source + ": not a JSON object");
  const int version = required<int>(json, "format_version", source);
  CREAM_CHECK(version == kTrainerStateVersion,
              source + ": format_version " + std::to_string(version) + " is not supported (expected " +
                  std::to_string(kTrainerStateVersion) + ")");
  TrainerState state;
  state.step = required<int64_t>(json, "step", source);
  CREAM_CHECK(state.step >= 0, source + ": step must be >= 0");
  state.world_size = json.contains("world_size") ? required<int>(json, "world_size", source) : 1;
  CREAM_CHECK(state.world_size >= 1, source + ": world_size must be >= 1");
  state.sampler_rng = required<std::string>(json, "sampler_rng", source);
  state.sampler_draws = required<int64_t>(json, "sampler_draws", source);
  state.sampler_batch_branch = parse_branch(required<std::string>(json, "sampler_batch_branch", source), source);
  CREAM_CHECK(json.contains("loader") && json.at("loader").is_object(), source + ": missing field 'loader'");
  state.loader = json.at("loader");
  state.config_fingerprint = required<std::string>(json, "config_fingerprint", source);
  return state;
}

std::string trainer_state_file(int rank) {
  return rank == 0 ? kTrainerStateFile : "trainer_state.rank-" + std::to_string(rank) + ".json";
}

std::string optimizer_shard_file(int rank, int world_size) {
  return "optimizer.rank-" + std::to_string(rank) + "-of-" + std::to_string(world_size) + ".safetensors";
}

void write_trainer_state(const fs::path& folder, const TrainerState& state, int rank) {
  util::write_file_atomic(folder / trainer_state_file(rank), state.to_json().dump(2) + "\n");
}

TrainerState read_trainer_state(const fs::path& folder, int rank) {
  const auto path = folder / trainer_state_file(rank);
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(util::read_text_file(path));
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(path.string() + ": not valid JSON (" + std::string(e.what()) + ")");
  }
  return TrainerState::from_json(json, path.string());
}

std::vector<io::TensorSource> named_tensor_sources(const NamedTensors& tensors) {
  std::vector<io::TensorSource> sources;
  sources.reserve(tensors.size());
  for (const auto& [name, tensor] : tensors) {
    io::TensorSource source;
    source.name = name;
    source.dtype = io_dtype_of(tensor, name);
    source.shape = tensor.sizes().vec();
    source.write = [tensor = tensor](std::ostream& out) {
      const auto host = tensor.detach().to(torch::kCPU).contiguous();
      out.write(static_cast<const char*>(host.data_ptr()), static_cast<std::streamsize>(host.nbytes()));
    };
    sources.push_back(std::move(source));
  }
  return sources;
}

void write_optimizer_tensors(const fs::path& folder, const NamedTensors& state) {
  write_optimizer_file(folder / kOptimizerStateFile, state);
}

void write_optimizer_file(const fs::path& path, const NamedTensors& state) {
  io::write_safetensors_file(path, named_tensor_sources(state));
}

NamedTensors read_optimizer_tensors(const fs::path& folder) { return read_optimizer_file(folder / kOptimizerStateFile); }

NamedTensors read_optimizer_file(const fs::path& path) {
  const io::SafetensorsFile file(path);
  NamedTensors state;
  for (const auto& info : file.tensors()) {
    std::optional<torch::ScalarType> type;
    for (const auto& [torch_type, io_type] : kStateDtypes)
      if (info.dtype == io_type) type = torch_type;
    CREAM_CHECK(type.has_value(), file.path().string() + ": tensor " + info.name + " is " +
                                      io::dtype_name(info.dtype) + ", expected F32, BF16, I64 or U8");
    auto tensor = torch::empty(info.shape, *type);
    CREAM_CHECK(tensor.nbytes() == info.nbytes(), file.path().string() + ": tensor " + info.name + " has a bad size");
    std::memcpy(tensor.data_ptr(), file.data(info), info.nbytes());
    state.emplace_back(info.name, tensor);
  }
  return state;
}

void write_optimizer_state(const fs::path& folder, const AdamW& optimizer) {
  write_optimizer_tensors(folder, optimizer.state_tensors());
}

void read_optimizer_state(const fs::path& folder, AdamW& optimizer) {
  const auto state = read_optimizer_tensors(folder);
  try {
    optimizer.load_state(state);
  } catch (const Error& e) {
    throw Error((folder / kOptimizerStateFile).string() + ": " + e.what());
  }
}

}  // namespace cream::train
