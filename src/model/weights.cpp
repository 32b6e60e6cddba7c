#include "cream/model/weights.h"

#include <set>
#include <sstream>

#include "cream/util/error.h"
#include "cream/util/fs.h"

namespace cream::model {
namespace {

using Shape = std::vector<int64_t>;

std::string shape_text(const Shape& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

bool is_floating(io::DType d) {
  return d == io::DType::F16 || d == io::DType::BF16 || d == io::DType::F32 || d == io::DType::F64;
}

// Problems found while checking a folder, reported together.
std::string describe_problems(const std::vector<std::string>& missing, const std::vector<std::string>& unexpected,
                              const std::vector<std::string>& wrong) {
  std::string out;
  auto section = [&](const char* title, const std::vector<std::string>& items) {
    if (items.empty()) return;
    out += std::string(out.empty() ? "" : "; ") + title + " (" + std::to_string(items.size()) + "): ";
    for (size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + items[i];
  };
  section("missing tensors", missing);
  section("unexpected tensors", unexpected);
  section("wrong tensors", wrong);
  return out;
}

}  // namespace

std::vector<std::pair<std::string, Shape>> expected_tensors(const LlamaConfig& c) {
  const int64_t h = c.hidden_size, q = c.num_attention_heads * c.head_dim, kv = c.num_key_value_heads * c.head_dim;
  const int64_t inter = c.intermediate_size;
  std::vector<std::pair<std::string, Shape>> out{{"model.embed_tokens.weight", {c.vocab_size, h}}};
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    out.push_back({p + "input_layernorm.weight", {h}});
    const std::pair<const char*, Shape> attention[] = {
        {"q_proj", {q, h}}, {"k_proj", {kv, h}}, {"v_proj", {kv, h}}, {"o_proj", {h, q}}};
    for (const auto& [name, shape] : attention) {
      out.push_back({p + "self_attn." + name + ".weight", shape});
      const bool bias = std::string(name) == "o_proj" ? c.o_proj_bias() : c.qkv_bias();
      if (bias) out.push_back({p + "self_attn." + name + ".bias", {shape[0]}});
    }
    out.push_back({p + "post_attention_layernorm.weight", {h}});
    const std::pair<const char*, Shape> mlp[] = {{"gate_proj", {inter, h}}, {"up_proj", {inter, h}}, {"down_proj", {h, inter}}};
    for (const auto& [name, shape] : mlp) {
      out.push_back({p + "mlp." + name + ".weight", shape});
      if (c.mlp_bias) out.push_back({p + "mlp." + name + ".bias", {shape[0]}});
    }
  }
  out.push_back({"model.norm.weight", {h}});
  if (!c.tie_word_embeddings) out.push_back({"lm_head.weight", {c.vocab_size, h}});
  return out;
}

torch::ScalarType torch_dtype(io::DType d) {
  switch (d) {
    case io::DType::F16: return torch::kHalf;
    case io::DType::BF16: return torch::kBFloat16;
    case io::DType::F32: return torch::kFloat;
    case io::DType::F64: return torch::kDouble;
    default: throw Error(std::string("dtype ") + io::dtype_name(d) + " is not a floating type cream computes in");
  }
}

io::DType io_dtype(torch::ScalarType t) {
  switch (t) {
    case torch::kHalf: return io::DType::F16;
    case torch::kBFloat16: return io::DType::BF16;
    case torch::kFloat: return io::DType::F32;
    case torch::kDouble: return io::DType::F64;
    default: throw Error(std::string("torch dtype ") + c10::toString(t) + " cannot be saved as model weights");
  }
}

std::string hf_dtype_name(io::DType d) {
  switch (d) {
    case io::DType::F16: return "float16";
    case io::DType::BF16: return "bfloat16";
    case io::DType::F32: return "float32";
    case io::DType::F64: return "float64";
    default: throw Error(std::string("dtype ") + io::dtype_name(d) + " is not a model weight dtype");
  }
}

void check_weights(const LlamaConfig& config, const io::CheckpointFolder& weights) {
  std::vector<std::string> missing, unexpected, wrong;
  std::set<std::string> expected_names;
  for (const auto& [name, shape] : expected_tensors(config)) {
    expected_names.insert(name);
    if (!weights.contains(name)) {
      missing.push_back(name);
      continue;
    }
    const auto& info = weights.info(name);
    if (info.shape != shape)
      wrong.push_back(name + " has shape " + shape_text(info.shape) + ", expected " + shape_text(shape));
    else if (!is_floating(info.dtype))
      wrong.push_back(name + " has dtype " + io::dtype_name(info.dtype) + ", expected a floating type");
  }
  for (const auto& name : weights.names()) {
    // Some tied checkpoints carry a copy of the embedding as lm_head: harmless, ignored.
    if (expected_names.count(name) == 0 && !(config.tie_word_embeddings && name == "lm_head.weight"))
      unexpected.push_back(name);
  }
  if (!missing.empty() || !unexpected.empty() || !wrong.empty())
    throw Error(weights.folder().string() + ": weights do not match config: " +
                describe_problems(missing, unexpected, wrong));
}

LlamaForCausalLM load_model(const LlamaConfig& config, const io::CheckpointFolder& weights,
                            const torch::Device& device, torch::ScalarType dtype) {
  check_weights(config, weights);
  LlamaForCausalLM model(config, torch::TensorOptions().dtype(dtype).device(device));
  torch::NoGradGuard no_grad;
  for (auto& item : model->named_parameters()) {
    const auto& info = weights.info(item.key());
    // The mapping is read-only; from_blob wants a mutable pointer but we only read it.
    auto* data = const_cast<std::byte*>(weights.data(item.key()));
    const auto source = torch::from_blob(data, info.shape, torch::TensorOptions().dtype(torch_dtype(info.dtype)));
    item.value().copy_(source);  // converts dtype and moves to the device
  }
  return model;
}

LlamaForCausalLM load_model(const std::filesystem::path& folder, const torch::Device& device,
                            torch::ScalarType dtype) {
  const auto config = LlamaConfig::from_file(folder / "config.json");
  const io::CheckpointFolder weights(folder);
  return load_model(config, weights, device, dtype);
}

std::vector<io::TensorSource> model_tensor_sources(LlamaForCausalLMImpl& model, io::DType out) {
  const auto target = torch_dtype(out);
  std::vector<io::TensorSource> sources;
  for (auto& item : model.named_parameters()) {
    const torch::Tensor param = item.value();
    io::TensorSource source;
    source.name = item.key();
    source.dtype = out;
    source.shape = param.sizes().vec();
    source.write = [param, target](std::ostream& stream) {
      const auto cpu = param.detach().to(torch::kCPU, target).contiguous();
      stream.write(static_cast<const char*>(cpu.data_ptr()), static_cast<std::streamsize>(cpu.nbytes()));
    };
    sources.push_back(std::move(source));
  }
  return sources;
}

void save_model_folder(const std::filesystem::path& folder, LlamaForCausalLMImpl& model, const LlamaConfig& config,
                       io::DType out, uint64_t max_shard_bytes, bool replace) {
  auto written_config = config;
  written_config.torch_dtype = hf_dtype_name(out);
  const auto sources = model_tensor_sources(model, out);
  util::create_folder_atomic(
      folder,
      [&](const std::filesystem::path& tmp) {
        util::write_file_atomic(tmp / "config.json", written_config.to_json().dump(2) + "\n");
        io::CheckpointWriteOptions options;
        options.max_shard_bytes = max_shard_bytes;
        io::write_checkpoint(tmp, sources, options);
      },
      replace);
}

}  // namespace cream::model
