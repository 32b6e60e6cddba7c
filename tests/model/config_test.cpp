#include <gtest/gtest.h>
#include <unistd.h>

#include "cream/model/config.h"
#include "cream/model/presets.h"
#include "cream/model/rope.h"
#include "cream/util/error.h"
#include "model_fixtures.h"

using cream::Error;
using cream::model::LlamaConfig;
using cream::model::RopeType;
using cream::model::testing::fixture;
using nlohmann::json;

namespace {

json minimal() {
  return {{"hidden_size", 64}, {"intermediate_size", 128}, {"num_attention_heads", 4},
          {"num_hidden_layers", 2}, {"vocab_size", 100}};
}

// The error message of from_json, or "" when it succeeded.
std::string error_of(const json& j) {
  try {
    LlamaConfig::from_json(j, "cfg.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Config, ReadsLlama2_7B) {
  const auto c = LlamaConfig::from_file(fixture("configs/llama2_7b.json"));
  EXPECT_EQ(c.hidden_size, 4096);
  EXPECT_EQ(c.intermediate_size, 11008);
  EXPECT_EQ(c.num_attention_heads, 32);
  EXPECT_EQ(c.num_key_value_heads, 32);
  EXPECT_EQ(c.head_dim, 128);
  EXPECT_EQ(c.num_hidden_layers, 32);
  EXPECT_EQ(c.vocab_size, 32000);
  EXPECT_EQ(c.max_position_embeddings, 4096);
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-5);
  EXPECT_DOUBLE_EQ(c.rope_theta, 10000.0);
  EXPECT_EQ(c.rope.type, RopeType::Default);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_EQ(c.bos_token_id, 1);
  EXPECT_EQ(c.eos_token_ids, std::vector<int64_t>{2});
  EXPECT_EQ(c.torch_dtype, "float16");
  EXPECT_EQ(c.num_parameters(), 6738415616);  // the published Llama-2-7B count
}

TEST(Config, ReadsLlama31_8BWithGqaAndLlama3Scaling) {
  const auto c = LlamaConfig::from_file(fixture("configs/llama31_8b.json"));
  EXPECT_EQ(c.num_key_value_heads, 8);
  EXPECT_EQ(c.head_dim, 128);
  EXPECT_EQ(c.rope.type, RopeType::Llama3);
  EXPECT_DOUBLE_EQ(c.rope.factor, 8.0);
  EXPECT_DOUBLE_EQ(c.rope.low_freq_factor, 1.0);
  EXPECT_DOUBLE_EQ(c.rope.high_freq_factor, 4.0);
  EXPECT_EQ(c.rope.original_max_position_embeddings, 8192);
  EXPECT_DOUBLE_EQ(c.rope_theta, 500000.0);
  EXPECT_EQ(c.eos_token_ids, (std::vector<int64_t>{128001, 128008, 128009}));
  EXPECT_EQ(c.torch_dtype, "bfloat16");
  EXPECT_EQ(c.num_parameters(), 8030261248);  // the published Llama-3.1-8B count
}

TEST(Config, ReadsHfV5RopeParametersAndDtype) {
  const auto c = LlamaConfig::from_file(fixture("configs/hf_v5_yarn.json"));
  EXPECT_EQ(c.rope.type, RopeType::Yarn);
  EXPECT_DOUBLE_EQ(c.rope.factor, 8.0);
  EXPECT_EQ(c.rope.original_max_position_embeddings, 4096);
  EXPECT_EQ(c.original_window(), 4096);
  EXPECT_EQ(c.max_position_embeddings, 32768);
  EXPECT_EQ(c.torch_dtype, "bfloat16");
  EXPECT_EQ(c.vocab_size, 32001);
}

TEST(Config, AbsentOptionalFieldsTakeHfDefaults) {
  const auto c = LlamaConfig::from_json(minimal(), "cfg.json");
  EXPECT_EQ(c.num_key_value_heads, 4);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_DOUBLE_EQ(c.rope_theta, 10000.0);
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-6);
  EXPECT_EQ(c.max_position_embeddings, 2048);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_FALSE(c.attention_bias);
  EXPECT_FALSE(c.mlp_bias);
  EXPECT_EQ(c.rope.type, RopeType::Default);
  EXPECT_FALSE(c.bos_token_id.has_value());
}

TEST(Config, V4TypeWinsOverRopeType) {
  auto j = minimal();
  j["rope_scaling"] = {{"type", "linear"}, {"rope_type", "dynamic"}, {"factor", 2.0}};
  EXPECT_EQ(LlamaConfig::from_json(j, "cfg.json").rope.type, RopeType::Linear);
}

TEST(Config, EveryErrorNamesTheFileAndTheField) {
  struct Case {
    std::function<void(json&)> edit;
    std::string field;
  };
  const std::vector<Case> cases = {
      {[](json& j) { j.erase("hidden_size"); }, "hidden_size"},
      {[](json& j) { j.erase("intermediate_size"); }, "intermediate_size"},
      {[](json& j) { j.erase("num_attention_heads"); }, "num_attention_heads"},
      {[](json& j) { j.erase("num_hidden_layers"); }, "num_hidden_layers"},
      {[](json& j) { j.erase("vocab_size"); }, "vocab_size"},
      {[](json& j) { j["hidden_size"] = "4096"; }, "hidden_size"},
      {[](json& j) { j["rms_norm_eps"] = "tiny"; }, "rms_norm_eps"},
      {[](json& j) { j["tie_word_embeddings"] = 1; }, "tie_word_embeddings"},
      {[](json& j) { j["num_key_value_heads"] = 3; }, "num_key_value_heads"},
      {[](json& j) { j["head_dim"] = 15; }, "head_dim"},
      {[](json& j) { j["vocab_size"] = 0; }, "vocab_size"},
      {[](json& j) { j["intermediate_size"] = -5; }, "intermediate_size"},
      {[](json& j) { j["hidden_size"] = 66; }, "hidden_size"},  // not divisible by 4 heads
      {[](json& j) { j["hidden_act"] = "gelu"; }, "hidden_act"},
      {[](json& j) { j["eos_token_id"] = "x"; }, "eos_token_id"},
      {[](json& j) { j["rope_scaling"] = {{"type", "banana"}, {"factor", 2}}; }, "rope_scaling.type"},
      {[](json& j) { j["rope_scaling"] = {{"rope_type", "linear"}}; }, "rope_scaling.factor"},
      {[](json& j) { j["rope_scaling"] = {{"type", "linear"}, {"factor", -2}}; }, "rope_scaling.factor"},
      {[](json& j) { j["rope_scaling"] = {{"type", "linear"}, {"factor", "8"}}; }, "rope_scaling.factor"},
      {[](json& j) { j["rope_scaling"] = "linear"; }, "rope_scaling"},
      {[](json& j) { j["rope_scaling"] = {{"factor", 8}}; }, "rope_scaling.rope_type"},
      {[](json& j) {
         j["rope_scaling"] = {{"type", "llama3"}, {"factor", 8}, {"low_freq_factor", 1}, {"high_freq_factor", 4}};
       },
       "rope_scaling.original_max_position_embeddings"},
      {[](json& j) {
         j["rope_scaling"] = {{"type", "longrope"}, {"short_factor", {1, 2}}, {"long_factor", {1, 2}}};
       },
       "rope_scaling.short_factor"},  // head_dim 16 needs 8 factors
      {[](json& j) { j["rope_scaling"] = {{"type", "yarn"}, {"factor", 4}, {"truncate", "no"}}; },
       "rope_scaling.truncate"},
      {[](json& j) { j["rope_parameters"] = {{"rope_type", "linear"}, {"factor", 2}, {"rope_theta", "big"}}; },
       "rope_parameters.rope_theta"},
  };
  for (const auto& c : cases) {
    auto j = minimal();
    c.edit(j);
    const auto message = error_of(j);
    EXPECT_NE(message.find("cfg.json"), std::string::npos) << "message: " << message << " / " << j.dump();
    EXPECT_NE(message.find(c.field + ":"), std::string::npos) << "field " << c.field << ", message: " << message;
  }
}

TEST(Config, FileErrorsNameThePath) {
  const auto dir = cream::model::testing::fresh_dir("config_file");
  cream::util::write_file_atomic(dir / "config.json", "{ not json");
  try {
    LlamaConfig::from_file(dir / "config.json");
    FAIL() << "accepted broken JSON";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("config.json"), std::string::npos) << e.what();
  }
  EXPECT_THROW(LlamaConfig::from_file(dir / "absent.json"), Error);
  std::filesystem::remove_all(dir);
}

TEST(Config, ToJsonRoundTripsEveryPlainVariant) {
  auto base = LlamaConfig::from_file(fixture("configs/llama31_8b.json"));
  for (auto type : {RopeType::Default, RopeType::Linear, RopeType::Dynamic, RopeType::Yarn, RopeType::Llama3}) {
    auto c = base;
    c.rope.type = type;
    c.rope.factor = 4.0;
    c.rope.original_max_position_embeddings = 8192;
    c.max_position_embeddings = 32768;
    const auto j = c.to_json();
    EXPECT_EQ(j["architectures"], json::array({"LlamaForCausalLM"}));
    EXPECT_EQ(j["model_type"], "llama");
    EXPECT_EQ(j["torch_dtype"], "bfloat16");
    if (type != RopeType::Default) {
      EXPECT_EQ(j["rope_scaling"]["type"], j["rope_scaling"]["rope_type"]);
      EXPECT_EQ(j["rope_scaling"]["original_max_position_embeddings"], 8192);
    }
    const auto back = LlamaConfig::from_json(j, "export");
    EXPECT_EQ(back.rope.type, type);
    EXPECT_EQ(back.max_position_embeddings, 32768);
    EXPECT_EQ(back.eos_token_ids, base.eos_token_ids);
    EXPECT_EQ(back.num_key_value_heads, 8);
    for (int64_t max_position : {100, 20000, 262143}) {
      EXPECT_EQ(cream::model::rope_frequencies(back, max_position).inv_freq,
                cream::model::rope_frequencies(c, max_position).inv_freq)
          << cream::model::rope_type_name(type);
    }
  }
}

TEST(Config, NtkExportsAsChangedThetaWithIdenticalFrequencies) {
  auto c = LlamaConfig::from_json(minimal(), "cfg.json");
  c.rope.type = RopeType::Ntk;
  c.rope.factor = 8.0;
  const auto j = c.to_json();
  EXPECT_TRUE(j["rope_scaling"].is_null());
  EXPECT_DOUBLE_EQ(j["rope_theta"].get<double>(), 10000.0 * std::pow(8.0, 16.0 / 14.0));
  const auto back = LlamaConfig::from_json(j, "export");
  EXPECT_EQ(back.rope.type, RopeType::Default);
  EXPECT_EQ(cream::model::rope_frequencies(back).inv_freq, cream::model::rope_frequencies(c).inv_freq);
}

TEST(Config, YarnCreamExportsAsLongropeWithIdenticalFrequencies) {
  auto c = LlamaConfig::from_file(fixture("configs/llama2_7b.json"));
  c.rope.type = RopeType::YarnCream;
  c.rope.factor = 8.0;
  c.rope.original_max_position_embeddings = 4096;
  c.max_position_embeddings = 32768;
  const auto j = c.to_json();
  const auto& rs = j["rope_scaling"];
  EXPECT_EQ(rs["type"], "longrope");
  EXPECT_EQ(rs["rope_type"], "longrope");
  EXPECT_EQ(rs["short_factor"], rs["long_factor"]);
  EXPECT_EQ(rs["short_factor"].size(), 64u);
  EXPECT_EQ(rs["original_max_position_embeddings"], 4096);
  EXPECT_DOUBLE_EQ(rs["factor"].get<double>(), 8.0);
  EXPECT_DOUBLE_EQ(rs["attention_factor"].get<double>(), 0.1 * std::log(8.0) + 1.0);
  const auto back = LlamaConfig::from_json(json::parse(j.dump()), "export");
  EXPECT_EQ(back.rope.type, RopeType::LongRope);
  for (int64_t max_position : {10, 4095, 4096, 262143}) {
    const auto a = cream::model::rope_frequencies(c, max_position);
    const auto b = cream::model::rope_frequencies(back, max_position);
    EXPECT_EQ(a.inv_freq, b.inv_freq);
    EXPECT_EQ(a.attention_factor, b.attention_factor);
  }
}

TEST(Presets, KnownNamesAndHelpfulError) {
  for (const auto& name : cream::model::preset_names()) {
    const auto c = cream::model::preset(name);
    EXPECT_NO_THROW(c.validate(name)) << name;
  }
  EXPECT_EQ(cream::model::preset("llama2-7b").num_parameters(), 6738415616);
  EXPECT_EQ(cream::model::preset("llama3-8b").num_parameters(), 8030261248);
  EXPECT_EQ(cream::model::preset("tinyllama-1.1b").num_parameters(), 1100048384);
  EXPECT_EQ(cream::model::preset("llama2-13b").num_parameters(), 13015864320);
  try {
    cream::model::preset("llama9");
    FAIL();
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("llama9"), std::string::npos);
    for (const auto& name : cream::model::preset_names()) EXPECT_NE(m.find(name), std::string::npos) << m;
  }
}
