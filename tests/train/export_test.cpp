// `cream export` round trips for every RoPE type: the exported config.json says exactly what
// method.md prescribes, the weights reload to the same logits (fp32) or to bf16's rounding of
// them, trainer state stays behind, and every error leaves nothing behind.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "cream/io/checkpoint_folder.h"
#include "cream/model/config.h"
#include "cream/model/llama.h"
#include "cream/model/weights.h"
#include "cream/train/export.h"
#include "cream/util/error.h"
#include "cream/util/fs.h"

namespace cream::train {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using model::RopeType;

constexpr int64_t kTrainLength = 64;    // N
constexpr int64_t kTargetLength = 256;  // L
constexpr double kFactor = 4.0;         // L / N
constexpr int64_t kHeadDim = 16;

fs::path fresh_dir(const std::string& name) {
  auto dir = fs::temp_directory_path() / ("cream_export_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

std::string read_bytes(const fs::path& path) { return util::read_text_file(path); }

json read_json(const fs::path& path) { return json::parse(read_bytes(path)); }

std::set<std::string> listing(const fs::path& folder) {
  std::set<std::string> names;
  for (const auto& entry : fs::recursive_directory_iterator(folder))
    names.insert(fs::relative(entry.path(), folder).string() + ":" +
                 (entry.is_regular_file() ? std::to_string(entry.file_size()) : "dir"));
  return names;
}

// A model trained at N and extended to L, as the trainer's checkpoint config says it.
model::LlamaConfig tiny_config(RopeType type) {
  model::LlamaConfig c;
  c.hidden_size = 64;
  c.intermediate_size = 96;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = kHeadDim;
  c.num_hidden_layers = 2;
  c.vocab_size = 80;
  c.max_position_embeddings = kTargetLength;
  c.rms_norm_eps = 1e-5;
  c.bos_token_id = 1;
  c.eos_token_ids = {2};
  c.rope.type = type;
  if (type != RopeType::Default) {
    c.rope.factor = kFactor;
    c.rope.original_max_position_embeddings = kTrainLength;
  }
  c.validate("tiny");
  return c;
}

// A trainer checkpoint: HF folder in float32, tokenizer files, trainer state next to it.
fs::path write_checkpoint_folder(const fs::path& root, const model::LlamaConfig& config, uint64_t seed) {
  model::LlamaForCausalLM model(config);
  model::initialize_weights(*model, seed);
  const auto folder = root / "step-000010";
  model::save_model_folder(folder, *model, config, io::DType::F32);
  write_bytes(folder / "tokenizer.model", std::string("\x0a\x05piece\x00\x01", 9));
  write_bytes(folder / "tokenizer_config.json", "{\"add_bos_token\": true}\n");
  write_bytes(folder / "trainer_state.json", "{\"step\": 10}\n");
  write_bytes(folder / "optimizer.safetensors", "not really an optimizer");
  write_bytes(folder / "config.yaml", "model:\n  path: x\n");
  return folder;
}

torch::Tensor logits_up_to_target(const fs::path& folder) {
  auto model = model::load_model(folder);
  torch::NoGradGuard no_grad;
  const auto generator_tokens = torch::arange(kTargetLength, torch::kLong).mul(37).remainder(80).unsqueeze(0);
  const auto positions = torch::arange(kTargetLength, torch::kLong).unsqueeze(0);  // 0 .. L-1
  return model->forward(generator_tokens, positions).to(torch::kFloat);
}

// method.md's yarn keep weights, written out independently of the model code.
std::vector<double> reference_yarn_factors(double theta, int64_t d, int64_t n0, double s) {
  const double pi = std::acos(-1.0);
  auto dim = [&](double b) { return d * std::log(n0 / (2 * pi * b)) / (2 * std::log(theta)); };
  const double lo = std::max(std::floor(dim(32.0)), 0.0);
  double hi = std::min(std::ceil(dim(1.0)), static_cast<double>(d - 1));
  if (hi == lo) hi += 0.001;
  std::vector<double> factors;
  for (int64_t i = 0; i < d / 2; ++i) {
    const double ramp = std::clamp((i - lo) / (hi - lo), 0.0, 1.0);
    const double keep = 1.0 - ramp;
    factors.push_back((1.0 - keep) * s + keep);
  }
  return factors;
}

// The exact rope fields method.md prescribes for the export of each type.
void expect_rope_fields(RopeType type, const json& config) {
  SCOPED_TRACE(model::rope_type_name(type));
  EXPECT_EQ(config.at("max_position_embeddings"), kTargetLength);
  const double theta = 10000.0;
  if (type == RopeType::Default) {
    EXPECT_TRUE(config.at("rope_scaling").is_null());
    EXPECT_EQ(config.at("rope_theta").get<double>(), theta);
    return;
  }
  if (type == RopeType::Ntk) {
    EXPECT_TRUE(config.at("rope_scaling").is_null());
    const double d = kHeadDim;
    EXPECT_NEAR(config.at("rope_theta").get<double>(), theta * std::pow(kFactor, d / (d - 2)), 1e-6);
    return;
  }
  EXPECT_EQ(config.at("rope_theta").get<double>(), theta);
  const auto& r = config.at("rope_scaling");
  ASSERT_TRUE(r.is_object());
  EXPECT_EQ(r.at("original_max_position_embeddings"), kTrainLength);
  EXPECT_EQ(r.at("factor").get<double>(), kFactor);
  std::set<std::string> keys;
  for (const auto& item : r.items()) keys.insert(item.key());
  const std::string name = type == RopeType::YarnCream ? "longrope" : model::rope_type_name(type);
  EXPECT_EQ(r.at("type"), name);
  EXPECT_EQ(r.at("rope_type"), name);
  std::set<std::string> expected_keys = {"type", "rope_type", "factor", "original_max_position_embeddings"};
  if (type == RopeType::Yarn) {
    EXPECT_EQ(r.at("beta_fast").get<double>(), 32.0);
    EXPECT_EQ(r.at("beta_slow").get<double>(), 1.0);
    expected_keys.insert({"beta_fast", "beta_slow"});
  } else if (type == RopeType::Llama3) {
    EXPECT_EQ(r.at("low_freq_factor").get<double>(), 1.0);
    EXPECT_EQ(r.at("high_freq_factor").get<double>(), 4.0);
    expected_keys.insert({"low_freq_factor", "high_freq_factor"});
  } else if (type == RopeType::YarnCream) {
    const auto expected = reference_yarn_factors(theta, kHeadDim, kTrainLength, kFactor);
    const auto short_factor = r.at("short_factor").get<std::vector<double>>();
    const auto long_factor = r.at("long_factor").get<std::vector<double>>();
    ASSERT_EQ(short_factor.size(), expected.size());
    EXPECT_EQ(short_factor, long_factor);
    for (size_t i = 0; i < expected.size(); ++i) EXPECT_NEAR(short_factor[i], expected[i], 1e-12) << i;
    // Not a degenerate case: some frequencies kept, some fully scaled, some blended.
    EXPECT_EQ(expected.front(), 1.0);
    EXPECT_EQ(expected.back(), kFactor);
    EXPECT_GT(expected[1], 1.0);
    EXPECT_LT(expected[1], kFactor);
    EXPECT_NEAR(r.at("attention_factor").get<double>(), 0.1 * std::log(kFactor) + 1.0, 1e-12);
    expected_keys.insert({"short_factor", "long_factor", "attention_factor"});
  }
  EXPECT_EQ(keys, expected_keys);
}

void expect_plain_hf_folder(const fs::path& out, const fs::path& source, const std::string& torch_dtype) {
  const auto config = read_json(out / "config.json");
  EXPECT_EQ(config.at("architectures"), json::array({"LlamaForCausalLM"}));
  EXPECT_EQ(config.at("model_type"), "llama");
  EXPECT_EQ(config.at("torch_dtype"), torch_dtype);
  for (const char* state : {"trainer_state.json", "optimizer.safetensors", "config.yaml"})
    EXPECT_FALSE(fs::exists(out / state)) << state;
  EXPECT_EQ(read_bytes(out / "tokenizer.model"), read_bytes(source / "tokenizer.model"));
  EXPECT_EQ(read_bytes(out / "tokenizer_config.json"), read_bytes(source / "tokenizer_config.json"));
  EXPECT_FALSE(fs::exists(out / "tokenizer.json"));  // absent in the source: not invented
  EXPECT_EQ(read_json(out / "generation_config.json"), json({{"bos_token_id", 1}, {"eos_token_id", 2}}));
  for (const auto& entry : fs::directory_iterator(out.parent_path()))
    EXPECT_EQ(entry.path().filename().string().find(".tmp-"), std::string::npos) << entry.path();
}

class ExportRoundTrip : public ::testing::TestWithParam<RopeType> {};

TEST_P(ExportRoundTrip, ConfigIsExactAndLogitsSurvive) {
  const auto type = GetParam();
  const auto root = fresh_dir(std::string("rt_") + model::rope_type_name(type));
  const auto source = write_checkpoint_folder(root, tiny_config(type), 7);
  const auto source_before = listing(source);
  const auto reference = logits_up_to_target(source);

  ExportOptions fp32{source, root / "export-fp32", io::DType::F32, 0};
  const auto summary = export_model(fp32);
  EXPECT_FALSE(summary.sharded);
  EXPECT_TRUE(fs::exists(fp32.out / "model.safetensors"));
  expect_plain_hf_folder(fp32.out, source, "float32");
  expect_rope_fields(type, read_json(fp32.out / "config.json"));
  EXPECT_TRUE(torch::equal(logits_up_to_target(fp32.out), reference)) << "fp32 export changed the logits";

  // bf16, sharded into many small files with an index.
  ExportOptions bf16{source, root / "export-bf16", io::DType::BF16, 20'000};
  EXPECT_TRUE(export_model(bf16).sharded);
  EXPECT_TRUE(fs::exists(bf16.out / "model.safetensors.index.json"));
  EXPECT_FALSE(fs::exists(bf16.out / "model.safetensors"));
  expect_plain_hf_folder(bf16.out, source, "bfloat16");
  expect_rope_fields(type, read_json(bf16.out / "config.json"));
  const io::CheckpointFolder shards(bf16.out);
  EXPECT_GT(shards.files().size(), 2u);
  // Every weight is exactly bf16's rounding of the source weight.
  const auto original = model::load_model(source);
  const auto exported = model::load_model(bf16.out, torch::kCPU, torch::kBFloat16);
  const auto exported_params = exported->named_parameters();
  for (const auto& item : original->named_parameters()) {
    EXPECT_EQ(shards.info(item.key()).dtype, io::DType::BF16) << item.key();
    EXPECT_TRUE(torch::equal(exported_params[item.key()], item.value().to(torch::kBFloat16))) << item.key();
  }
  const auto bf16_logits = logits_up_to_target(bf16.out);  // bf16 weights computed in fp32
  const double max_error = (bf16_logits - reference).abs().max().item<double>();
  const double scale = reference.abs().max().item<double>();
  EXPECT_GT(max_error, 0.0);  // the weights really were rounded
  EXPECT_LT(max_error, 0.05 * scale + 1e-3);

  EXPECT_EQ(listing(source), source_before) << "the source checkpoint was modified";
  fs::remove_all(root);
}

INSTANTIATE_TEST_SUITE_P(EveryRopeType, ExportRoundTrip,
                         ::testing::Values(RopeType::Default, RopeType::Linear, RopeType::Ntk, RopeType::Dynamic,
                                           RopeType::Yarn, RopeType::YarnCream, RopeType::Llama3),
                         [](const auto& info) {
                           std::string name = model::rope_type_name(info.param);
                           for (auto& c : name)
                             if (c == '-') c = '_';
                           return name;
                         });

void expect_error(const std::function<void()>& action, const std::string& fragment) {
  try {
    action();
    ADD_FAILURE() << "expected a cream::Error containing " << fragment;
  } catch (const cream::Error& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    EXPECT_NE(message.find(fragment), std::string::npos) << message;
  }
}

TEST(Export, ErrorsLeaveNothingBehind) {
  const auto root = fresh_dir("errors");
  const auto source = write_checkpoint_folder(root, tiny_config(RopeType::Linear), 3);
  const auto source_before = listing(source);
  const auto root_before = listing(root);

  // An existing --out is refused and left exactly as it was.
  fs::create_directories(root / "taken");
  write_bytes(root / "taken" / "keep.txt", "mine");
  expect_error([&] { export_model({source, root / "taken", io::DType::F32, 0}); }, "already exists");
  EXPECT_EQ(read_bytes(root / "taken" / "keep.txt"), "mine");
  fs::remove_all(root / "taken");

  // --out equal to or inside the checkpoint.
  expect_error([&] { export_model({source, source / "exported", io::DType::F32, 0}); }, "inside the checkpoint");
  expect_error([&] { export_model({source, source / "a" / ".." / "b", io::DType::F32, 0}); },
               "inside the checkpoint");
  // Not even a folder, and an integer export dtype.
  expect_error([&] { export_model({root / "missing", root / "o1", io::DType::F32, 0}); }, "--checkpoint");
  expect_error([&] { export_model({source, root / "o2", io::DType::I32, 0}); }, "--dtype");

  // A broken source: a weight missing for the config (named in the error).
  const auto broken = root / "broken";
  fs::create_directories(broken);
  auto config = read_json(source / "config.json");
  config["num_hidden_layers"] = 3;
  write_bytes(broken / "config.json", config.dump());
  fs::copy_file(source / "model.safetensors", broken / "model.safetensors");
  expect_error([&] { export_model({broken, root / "o3", io::DType::BF16, 0}); }, "model.layers.2");
  fs::remove_all(broken);

  EXPECT_EQ(listing(source), source_before);
  EXPECT_EQ(listing(root), root_before) << "an error left something behind";
  fs::remove_all(root);
}

TEST(Export, TrailingSeparatorAndTiedStrayHead) {
  const auto root = fresh_dir("tied");
  const auto source = write_checkpoint_folder(root, tiny_config(RopeType::Default), 5);
  // Some tied checkpoints carry lm_head anyway: accepted on input, not exported.
  auto config = read_json(source / "config.json");
  config["tie_word_embeddings"] = true;
  write_bytes(source / "config.json", config.dump());
  EXPECT_TRUE(io::CheckpointFolder(source).contains("lm_head.weight"));
  const auto out = root / "plain";
  const auto summary = export_model({source, fs::path(out.string() + "/"), io::DType::F16, 0});
  EXPECT_TRUE(fs::is_directory(out));
  const io::CheckpointFolder exported(out);
  EXPECT_FALSE(exported.contains("lm_head.weight"));
  EXPECT_TRUE(exported.contains("model.embed_tokens.weight"));
  EXPECT_EQ(static_cast<int64_t>(exported.names().size()), summary.tensors);
  EXPECT_EQ(read_json(out / "config.json").at("tie_word_embeddings"), true);
  EXPECT_EQ(read_json(out / "config.json").at("torch_dtype"), "float16");
  EXPECT_EQ(exported.info("model.norm.weight").dtype, io::DType::F16);
  fs::remove_all(root);
}

}  // namespace
}  // namespace cream::train
