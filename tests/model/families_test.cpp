// Qwen2ForCausalLM and MistralForCausalLM next to LlamaForCausalLM: which family a config
// names, the family's biases and sliding-window keys, refusals that name the key, the
// round trip through to_json, the presets, and the sliding-window length check.
#include <gtest/gtest.h>

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "cream/model/config.h"
#include "cream/model/llama.h"
#include "cream/model/presets.h"
#include "cream/model/weights.h"
#include "cream/util/error.h"

using cream::Error;
using cream::model::LlamaConfig;
using cream::model::ModelFamily;
using cream::model::RopeType;
using nlohmann::json;

namespace {

// The config.json of Qwen/Qwen2.5-7B as published (transformers 4 spelling).
json qwen25_7b() {
  return json::parse(R"({
    "architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643,
    "eos_token_id": 151643, "hidden_act": "silu", "hidden_size": 3584, "initializer_range": 0.02,
    "intermediate_size": 18944, "max_position_embeddings": 131072, "max_window_layers": 28,
    "model_type": "qwen2", "num_attention_heads": 28, "num_hidden_layers": 28, "num_key_value_heads": 4,
    "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "sliding_window": 131072, "tie_word_embeddings": false,
    "torch_dtype": "bfloat16", "transformers_version": "4.40.1", "use_cache": true, "use_mrope": false,
    "use_sliding_window": false, "vocab_size": 152064})");
}

// The config.json of mistralai/Mistral-7B-v0.1 (a 4096-token sliding window).
json mistral_7b_v01() {
  return json::parse(R"({
    "architectures": ["MistralForCausalLM"], "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu",
    "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336, "max_position_embeddings": 32768,
    "model_type": "mistral", "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
    "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "sliding_window": 4096, "tie_word_embeddings": false,
    "torch_dtype": "bfloat16", "transformers_version": "4.34.0.dev0", "use_cache": true, "vocab_size": 32000})");
}

json tiny(const std::string& model_type) {
  json j = {{"hidden_size", 32}, {"intermediate_size", 64}, {"num_attention_heads", 4}, {"num_key_value_heads", 2},
            {"num_hidden_layers", 2}, {"vocab_size", 50}, {"max_position_embeddings", 64}};
  if (!model_type.empty()) j["model_type"] = model_type;
  return j;
}

std::string error_of(const json& j) {
  try {
    LlamaConfig::from_json(j, "cfg.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::string length_error(const LlamaConfig& c, int64_t tokens) {
  try {
    c.check_sequence_length(tokens);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Families, ReadsQwen25_7B) {
  const auto c = LlamaConfig::from_json(qwen25_7b(), "qwen/config.json");
  EXPECT_EQ(c.family, ModelFamily::Qwen2);
  EXPECT_TRUE(c.qkv_bias());
  EXPECT_FALSE(c.o_proj_bias());
  EXPECT_FALSE(c.attention_bias);
  EXPECT_EQ(c.num_key_value_heads, 4);
  EXPECT_EQ(c.head_dim, 128);
  EXPECT_EQ(c.sliding_window, 131072);
  EXPECT_FALSE(c.use_sliding_window);
  EXPECT_FALSE(c.active_sliding_window().has_value());
  EXPECT_NO_THROW(c.check_sequence_length(1 << 20));
  EXPECT_EQ(c.num_parameters(), 7615616512);  // the published Qwen2.5-7B count (7.61B)
}

TEST(Families, ReadsMistral7Bv01WithItsWindow) {
  const auto c = LlamaConfig::from_json(mistral_7b_v01(), "mistral/config.json");
  EXPECT_EQ(c.family, ModelFamily::Mistral);
  EXPECT_FALSE(c.qkv_bias());
  EXPECT_FALSE(c.o_proj_bias());
  EXPECT_EQ(c.active_sliding_window(), 4096);
  EXPECT_EQ(c.num_parameters(), 7241732096);  // the published Mistral-7B-v0.1 count
  EXPECT_NO_THROW(c.check_sequence_length(4096));
  const auto message = length_error(c, 4097);
  EXPECT_NE(message.find("mistral/config.json: sliding_window: 4096"), std::string::npos) << message;
  EXPECT_NE(message.find("4097"), std::string::npos) << message;
}

TEST(Families, MistralWindowDefaultsAndNull) {
  auto j = tiny("mistral");
  EXPECT_EQ(LlamaConfig::from_json(j, "cfg.json").active_sliding_window(), 4096);  // HF's default
  j["sliding_window"] = nullptr;
  const auto none = LlamaConfig::from_json(j, "cfg.json");
  EXPECT_FALSE(none.active_sliding_window().has_value());
  EXPECT_NO_THROW(none.check_sequence_length(1 << 20));
  // A window at least as long as the sequence changes nothing.
  j["sliding_window"] = 64;
  const auto wide = LlamaConfig::from_json(j, "cfg.json");
  EXPECT_NO_THROW(wide.check_sequence_length(64));
  EXPECT_NE(length_error(wide, 65).find("sliding_window"), std::string::npos);
}

TEST(Families, AbsentKeysTakeTheFamilysHfDefaults) {
  auto j = tiny("mistral");
  j.erase("num_key_value_heads");
  j.erase("max_position_embeddings");
  j["num_attention_heads"] = 8;
  auto c = LlamaConfig::from_json(j, "cfg.json");
  EXPECT_EQ(c.num_key_value_heads, 8);
  EXPECT_EQ(c.max_position_embeddings, 131072);
  j = tiny("qwen2");
  j.erase("max_position_embeddings");
  c = LlamaConfig::from_json(j, "cfg.json");
  EXPECT_EQ(c.max_position_embeddings, 32768);
  EXPECT_EQ(c.max_window_layers, 28);
  j["num_key_value_heads"] = nullptr;  // null: as many as the query heads
  EXPECT_EQ(LlamaConfig::from_json(j, "cfg.json").num_key_value_heads, 4);
}

TEST(Families, Qwen2WindowIsActiveOnlyWhereTransformersAppliesIt) {
  auto j = tiny("qwen2");
  j["sliding_window"] = 16;
  EXPECT_FALSE(LlamaConfig::from_json(j, "cfg.json").active_sliding_window());  // use_sliding_window absent
  j["use_sliding_window"] = true;
  j["max_window_layers"] = 2;  // layers 2.. slide: none of the 2
  EXPECT_FALSE(LlamaConfig::from_json(j, "cfg.json").active_sliding_window());
  j["max_window_layers"] = 1;
  EXPECT_EQ(LlamaConfig::from_json(j, "cfg.json").active_sliding_window(), 16);
  j["layer_types"] = {"full_attention", "full_attention"};  // written layer_types win
  EXPECT_FALSE(LlamaConfig::from_json(j, "cfg.json").active_sliding_window());
  j["layer_types"] = {"sliding_attention", "full_attention"};
  j["max_window_layers"] = 28;
  const auto c = LlamaConfig::from_json(j, "cfg.json");
  EXPECT_EQ(c.active_sliding_window(), 16);
  EXPECT_NO_THROW(c.check_sequence_length(16));
  EXPECT_NE(length_error(c, 17).find("cfg.json: sliding_window: 16"), std::string::npos);
}

TEST(Families, FamilyFromArchitecturesAlone) {
  auto j = tiny("");
  EXPECT_EQ(LlamaConfig::from_json(j, "cfg.json").family, ModelFamily::Llama);
  j["architectures"] = {"MistralForCausalLM"};
  EXPECT_EQ(LlamaConfig::from_json(j, "cfg.json").family, ModelFamily::Mistral);
  j["architectures"] = {"Qwen2ForCausalLM"};
  EXPECT_EQ(LlamaConfig::from_json(j, "cfg.json").family, ModelFamily::Qwen2);
}

TEST(Families, RefusalsNameTheFileAndTheKey) {
  struct Case {
    std::string model_type;
    std::function<void(json&)> edit;
    std::string key;
  };
  const std::vector<Case> cases = {
      {"gpt2", [](json&) {}, "model_type"},
      {"qwen2", [](json& j) { j["architectures"] = {"LlamaForCausalLM"}; }, "model_type"},
      {"", [](json& j) { j["architectures"] = {"Qwen2ForCausalLM", "MistralForCausalLM"}; }, "architectures"},
      {"qwen2", [](json& j) { j["architectures"] = {"Qwen2ForSequenceClassification"}; }, "architectures"},
      {"qwen2", [](json& j) { j["attention_bias"] = true; }, "attention_bias"},
      {"mistral", [](json& j) { j["attention_bias"] = true; }, "attention_bias"},
      {"mistral", [](json& j) { j["mlp_bias"] = true; }, "mlp_bias"},
      {"mistral", [](json& j) { j["sliding_window"] = 0; }, "sliding_window"},
      {"mistral", [](json& j) { j["sliding_window"] = "4096"; }, "sliding_window"},
      {"mistral", [](json& j) { j["layer_types"] = {"sliding_attention", "full_attention"}; }, "layer_types"},
      {"qwen2", [](json& j) { j["layer_types"] = {"full_attention", "chunked_attention"}; }, "layer_types"},
      {"qwen2", [](json& j) { j["layer_types"] = {"full_attention"}; }, "layer_types"},
      {"qwen2", [](json& j) { j["use_sliding_window"] = "no"; }, "use_sliding_window"},
      {"qwen2", [](json& j) { j["max_window_layers"] = 1.5; }, "max_window_layers"},
      // A Llama has no sliding window in transformers: still refused at load, as before.
      {"llama", [](json& j) { j["use_sliding_window"] = true; }, "use_sliding_window"},
      {"llama", [](json& j) { j["sliding_window"] = 16; }, "sliding_window"},
  };
  for (const auto& c : cases) {
    auto j = tiny(c.model_type);
    c.edit(j);
    const auto message = error_of(j);
    EXPECT_EQ(message.rfind("cfg.json: " + c.key + ":", 0), 0u) << "key " << c.key << ": " << message << " / " << j.dump();
  }
  // false is what HF does anyway (the keys are ignored there): accepted.
  auto j = tiny("qwen2");
  j["attention_bias"] = false;
  j["mlp_bias"] = false;
  EXPECT_TRUE(LlamaConfig::from_json(j, "cfg.json").qkv_bias());
}

TEST(Families, ToJsonKeepsTheFamilyAndItsKeys) {
  const auto qwen = LlamaConfig::from_json(qwen25_7b(), "qwen/config.json");
  auto j = qwen.to_json();
  EXPECT_EQ(j["architectures"], json::array({"Qwen2ForCausalLM"}));
  EXPECT_EQ(j["model_type"], "qwen2");
  EXPECT_FALSE(j.contains("attention_bias"));
  EXPECT_FALSE(j.contains("mlp_bias"));
  EXPECT_EQ(j["use_sliding_window"], false);
  EXPECT_EQ(j["sliding_window"], 131072);
  EXPECT_EQ(j["max_window_layers"], 28);
  auto back = LlamaConfig::from_json(json::parse(j.dump()), "export");
  EXPECT_EQ(back.family, ModelFamily::Qwen2);
  EXPECT_EQ(back.num_parameters(), qwen.num_parameters());
  EXPECT_EQ(back.sliding_window, qwen.sliding_window);
  EXPECT_EQ(back.rope_theta, 1000000.0);

  auto windowed = tiny("qwen2");
  windowed["use_sliding_window"] = true;
  windowed["sliding_window"] = 16;
  windowed["layer_types"] = {"full_attention", "sliding_attention"};
  back = LlamaConfig::from_json(LlamaConfig::from_json(windowed, "cfg.json").to_json(), "export");
  EXPECT_EQ(back.layer_types, (std::vector<std::string>{"full_attention", "sliding_attention"}));
  EXPECT_EQ(back.active_sliding_window(), 16);

  auto mistral = tiny("mistral");
  mistral["sliding_window"] = nullptr;
  j = LlamaConfig::from_json(mistral, "cfg.json").to_json();
  EXPECT_EQ(j["architectures"], json::array({"MistralForCausalLM"}));
  EXPECT_EQ(j["model_type"], "mistral");
  ASSERT_TRUE(j.contains("sliding_window"));
  EXPECT_TRUE(j["sliding_window"].is_null());  // explicit: absent would mean 4096
  EXPECT_FALSE(j.contains("attention_bias"));
  EXPECT_FALSE(j.contains("use_sliding_window"));
  EXPECT_FALSE(LlamaConfig::from_json(j, "export").active_sliding_window());

  const auto v01 = LlamaConfig::from_json(mistral_7b_v01(), "mistral/config.json");
  EXPECT_EQ(LlamaConfig::from_json(v01.to_json(), "export").active_sliding_window(), 4096);
}

TEST(Families, RopeScalingRoundTripsForEveryFamily) {
  for (const std::string type : {"llama", "qwen2", "mistral"}) {
    auto j = tiny(type);
    j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}, {"original_max_position_embeddings", 16}};
    const auto c = LlamaConfig::from_json(j, "cfg.json");
    const auto back = LlamaConfig::from_json(c.to_json(), "export");
    EXPECT_EQ(back.family, c.family) << type;
    EXPECT_EQ(back.rope.type, RopeType::Yarn) << type;
    EXPECT_EQ(back.rope.original_max_position_embeddings, 16) << type;
  }
}

TEST(Families, Presets) {
  const auto llama3 = cream::model::preset("llama3-8b");
  EXPECT_EQ(llama3.family, ModelFamily::Llama);
  EXPECT_EQ(llama3.hidden_size, 4096);
  EXPECT_EQ(llama3.num_hidden_layers, 32);
  EXPECT_EQ(llama3.num_attention_heads, 32);
  EXPECT_EQ(llama3.num_key_value_heads, 8);
  EXPECT_EQ(llama3.intermediate_size, 14336);
  EXPECT_EQ(llama3.vocab_size, 128256);
  EXPECT_EQ(llama3.rope_theta, 500000.0);
  EXPECT_EQ(llama3.max_position_embeddings, 8192);
  EXPECT_EQ(llama3.rope.type, RopeType::Default);

  const auto qwen = cream::model::preset("qwen2.5-7b");
  EXPECT_EQ(qwen.family, ModelFamily::Qwen2);
  EXPECT_EQ(qwen.max_position_embeddings, 32768);
  EXPECT_EQ(qwen.rms_norm_eps, 1e-6);
  EXPECT_FALSE(qwen.tie_word_embeddings);
  EXPECT_FALSE(qwen.active_sliding_window());
  EXPECT_EQ(qwen.num_parameters(), 7615616512);

  const auto mistral = cream::model::preset("mistral-7b");
  EXPECT_EQ(mistral.family, ModelFamily::Mistral);
  EXPECT_EQ(mistral.vocab_size, 32768);
  EXPECT_EQ(mistral.rope_theta, 1000000.0);
  EXPECT_EQ(mistral.max_position_embeddings, 32768);
  EXPECT_FALSE(mistral.active_sliding_window());
  EXPECT_EQ(mistral.num_parameters(), 7248023552);  // the published Mistral-7B-v0.3 count

  for (const auto& name : {"llama3-8b", "qwen2.5-7b", "mistral-7b"}) {
    const auto c = cream::model::preset(name);
    const auto back = LlamaConfig::from_json(c.to_json(), name);
    EXPECT_EQ(back.family, c.family) << name;
    EXPECT_EQ(back.num_parameters(), c.num_parameters()) << name;
    EXPECT_EQ(back.sliding_window, c.sliding_window) << name;
  }
}

TEST(Families, ParametersAreTheExpectedTensors) {
  for (const std::string type : {"llama", "qwen2", "mistral"}) {
    auto j = tiny(type);
    if (type == "llama") j["attention_bias"] = true;
    const auto config = LlamaConfig::from_json(j, "cfg.json");
    cream::model::LlamaForCausalLM model(config);
    std::set<std::string> params, expected;
    int64_t numel = 0;
    for (const auto& p : model->named_parameters()) {
      params.insert(p.key());
      numel += p.value().numel();
    }
    for (const auto& [name, shape] : cream::model::expected_tensors(config)) expected.insert(name);
    EXPECT_EQ(params, expected) << type;
    EXPECT_EQ(numel, config.num_parameters()) << type;
    const bool o_bias = params.count("model.layers.0.self_attn.o_proj.bias") > 0;
    const bool q_bias = params.count("model.layers.0.self_attn.q_proj.bias") > 0;
    EXPECT_EQ(q_bias, type != "mistral") << type;
    EXPECT_EQ(o_bias, type == "llama") << type;
  }
}

TEST(Families, ForwardRefusesSequencesLongerThanTheWindow) {
  auto j = tiny("mistral");
  j["sliding_window"] = 4;
  const auto config = LlamaConfig::from_json(j, "dir/config.json");
  cream::model::LlamaForCausalLM model(config);
  cream::model::initialize_weights(*model, 0);
  torch::NoGradGuard no_grad;
  auto ids = [](int64_t n) { return torch::arange(n, torch::kLong).unsqueeze(0); };
  EXPECT_NO_THROW(model->forward(ids(4), ids(4)));
  try {
    model->forward(ids(5), ids(5));
    FAIL() << "5 tokens ran under a window of 4";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("dir/config.json: sliding_window: 4 ", 0), 0u) << e.what();
  }
  // With a KV cache the keys of earlier calls count.
  cream::model::KVCache cache;
  EXPECT_NO_THROW(model->forward(ids(3), ids(3), &cache));
  EXPECT_NO_THROW(model->forward(ids(1) + 3, ids(1) + 3, &cache));
  EXPECT_THROW(model->forward(ids(1) + 4, ids(1) + 4, &cache), Error);
}
