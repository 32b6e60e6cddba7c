#include <gtest/gtest.h>

#include <fstream>

#include "cream/io/checkpoint_folder.h"
#include "cream/io/safetensors.h"
#include "cream/model/presets.h"
#include "cream/model/random_init.h"
#include "cream/model/weights.h"
#include "cream/util/error.h"
#include "model_fixtures.h"

using cream::model::LlamaConfig;
using cream::model::testing::fixture;
using cream::model::testing::fresh_dir;
namespace fs = std::filesystem;

namespace {

// Copies the tensors of `source` to a new model.safetensors in `folder`, letting `edit`
// drop, add or reshape entries first.
void write_edited_weights(const fs::path& source, const fs::path& folder,
                          const std::function<void(std::vector<cream::io::TensorSource>&)>& edit) {
  static std::vector<std::unique_ptr<cream::io::CheckpointFolder>> keep_alive;
  keep_alive.push_back(std::make_unique<cream::io::CheckpointFolder>(source));
  const auto& weights = *keep_alive.back();
  std::vector<cream::io::TensorSource> tensors;
  for (const auto& name : weights.names()) {
    const auto& info = weights.info(name);
    const auto* data = weights.data(name);
    const auto bytes = info.nbytes();
    tensors.push_back({name, info.dtype, info.shape, [data, bytes](std::ostream& out) {
                         out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(bytes));
                       }});
  }
  edit(tensors);
  fs::create_directories(folder);
  cream::io::write_safetensors_file(folder / "model.safetensors", tensors);
  fs::copy_file(source / "config.json", folder / "config.json", fs::copy_options::overwrite_existing);
}

cream::io::TensorSource zeros_f32(const std::string& name, std::vector<int64_t> shape) {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return {name, cream::io::DType::F32, shape, [n](std::ostream& out) {
            const std::vector<float> z(static_cast<size_t>(n), 0.0f);
            out.write(reinterpret_cast<const char*>(z.data()), static_cast<std::streamsize>(n * 4));
          }};
}

torch::Tensor some_tokens() { return torch::tensor({3L, 9L, 27L, 60L, 1L}).view({1, 5}); }
torch::Tensor some_positions() { return torch::tensor({0L, 2L, 900L, 4096L, 70000L}).view({1, 5}); }

}  // namespace

TEST(Weights, LoadErrorListsEveryProblemAtOnce) {
  const auto dir = fresh_dir("load_errors");
  write_edited_weights(fixture("weights/gqa"), dir / "bad", [](auto& tensors) {
    auto erase = [&](const std::string& name) {
      tensors.erase(std::remove_if(tensors.begin(), tensors.end(), [&](const auto& t) { return t.name == name; }),
                    tensors.end());
    };
    erase("model.layers.1.mlp.up_proj.weight");
    erase("model.norm.weight");
    erase("model.layers.0.self_attn.k_proj.weight");
    tensors.push_back(zeros_f32("model.layers.0.self_attn.k_proj.weight", {16, 32}));  // should be [32, 32]
    tensors.push_back(zeros_f32("model.layers.7.mlp.extra.weight", {2}));
  });
  try {
    cream::model::load_model(dir / "bad");
    FAIL() << "a broken checkpoint loaded";
  } catch (const cream::Error& e) {
    const std::string m = e.what();
    for (const char* needle : {"model.layers.1.mlp.up_proj.weight", "model.norm.weight",
                               "model.layers.0.self_attn.k_proj.weight", "[16, 32]", "[32, 32]",
                               "model.layers.7.mlp.extra.weight", "missing", "unexpected", "bad"})
      EXPECT_NE(m.find(needle), std::string::npos) << "no '" << needle << "' in: " << m;
  }
  fs::remove_all(dir);
}

TEST(Weights, UntiedModelWithoutLmHeadIsRefused) {
  const auto dir = fresh_dir("no_head");
  write_edited_weights(fixture("weights/gqa"), dir / "m", [](auto& tensors) {
    tensors.erase(std::remove_if(tensors.begin(), tensors.end(), [](const auto& t) { return t.name == "lm_head.weight"; }),
                  tensors.end());
  });
  try {
    cream::model::load_model(dir / "m");
    FAIL();
  } catch (const cream::Error& e) {
    EXPECT_NE(std::string(e.what()).find("lm_head.weight"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

TEST(Weights, IntegerTensorIsRefusedByName) {
  const auto dir = fresh_dir("int_tensor");
  write_edited_weights(fixture("weights/mha"), dir / "m", [](auto& tensors) {
    for (auto& t : tensors)
      if (t.name == "model.norm.weight") t.dtype = cream::io::DType::I32;  // same byte count
  });
  try {
    cream::model::load_model(dir / "m");
    FAIL();
  } catch (const cream::Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.norm.weight has dtype I32"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

TEST(Weights, TiedEmbeddingsIgnoreAStrayLmHead) {
  torch::NoGradGuard no_grad;
  auto tied = cream::model::load_model(fixture("weights/tied_stray_head"));
  EXPECT_EQ(tied->named_parameters().find("lm_head.weight"), nullptr);
  const auto logits = tied->forward(some_tokens(), some_positions());
  const auto hidden = tied->hidden_states(some_tokens(), some_positions());
  EXPECT_TRUE(torch::allclose(logits, torch::matmul(hidden, tied->model->embed_tokens->weight.t())));
}

TEST(Weights, SaveThenLoadGivesIdenticalLogits) {
  torch::NoGradGuard no_grad;
  const auto dir = fresh_dir("round_trip");
  for (const char* set : {"gqa", "tied", "bias"}) {
    const auto source = fixture(std::string("weights/") + set);
    const auto config = LlamaConfig::from_file(source / "config.json");
    auto model = cream::model::load_model(source);
    const auto before = model->forward(some_tokens(), some_positions());
    // One file, and shards of at most ~3 KB.
    for (uint64_t shard_bytes : {uint64_t{0}, uint64_t{3000}}) {
      const auto out = dir / (std::string(set) + "_" + std::to_string(shard_bytes));
      cream::model::save_model_folder(out, *model, config, cream::io::DType::F32, shard_bytes);
      EXPECT_EQ(fs::exists(out / "model.safetensors.index.json"), shard_bytes != 0) << out;
      auto reloaded = cream::model::load_model(out);
      EXPECT_TRUE(torch::equal(reloaded->forward(some_tokens(), some_positions()), before)) << out;
      EXPECT_EQ(LlamaConfig::from_file(out / "config.json").to_json(), config.to_json()) << out;
    }
  }
  fs::remove_all(dir);
}

TEST(Weights, Bf16SaveConvertsTensorByTensor) {
  torch::NoGradGuard no_grad;
  const auto dir = fresh_dir("bf16");
  auto model = cream::model::load_model(fixture("weights/gqa"));
  const auto config = model->config();
  cream::model::save_model_folder(dir / "m", *model, config, cream::io::DType::BF16);
  const cream::io::CheckpointFolder saved(dir / "m");
  EXPECT_EQ(saved.info("model.embed_tokens.weight").dtype, cream::io::DType::BF16);
  EXPECT_EQ(LlamaConfig::from_file(dir / "m" / "config.json").torch_dtype, "bfloat16");
  auto reloaded = cream::model::load_model(dir / "m", torch::kCPU, torch::kBFloat16);
  auto direct = cream::model::load_model(fixture("weights/gqa"), torch::kCPU, torch::kBFloat16);
  EXPECT_TRUE(torch::equal(reloaded->forward(some_tokens(), some_positions()),
                           direct->forward(some_tokens(), some_positions())));
  fs::remove_all(dir);
}

TEST(Weights, SaveRefusesAnExistingFolderAndLeavesNothingOnFailure) {
  torch::NoGradGuard no_grad;
  const auto dir = fresh_dir("refuse");
  auto model = cream::model::load_model(fixture("weights/mha"));
  fs::create_directories(dir / "taken");
  EXPECT_THROW(cream::model::save_model_folder(dir / "taken", *model, model->config(), cream::io::DType::F32),
               cream::Error);
  EXPECT_TRUE(fs::is_empty(dir / "taken"));
  // A dtype that cannot hold weights fails before anything is written.
  EXPECT_THROW(cream::model::save_model_folder(dir / "int", *model, model->config(), cream::io::DType::I8),
               cream::Error);
  EXPECT_FALSE(fs::exists(dir / "int"));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
  fs::remove_all(dir);
}

TEST(Weights, StreamedRandomInitEqualsInMemoryInitialization) {
  torch::NoGradGuard no_grad;
  const auto dir = fresh_dir("random_init");
  auto config = cream::model::preset("tiny");
  config.attention_bias = true;
  config.tie_word_embeddings = true;
  cream::io::write_checkpoint(dir / "m", cream::model::random_tensor_sources(config, 17, cream::io::DType::F32));
  const cream::io::CheckpointFolder streamed(dir / "m");
  auto loaded = cream::model::load_model(config, streamed);
  cream::model::LlamaForCausalLM built(config);
  cream::model::initialize_weights(*built, 17);
  const auto expected = built->named_parameters();
  for (const auto& p : loaded->named_parameters())
    EXPECT_TRUE(torch::equal(p.value(), expected[p.key()])) << p.key();
  fs::remove_all(dir);
}
