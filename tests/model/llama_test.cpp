#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <torch/csrc/autograd/function.h>

#include "cream/io/safetensors.h"
#include "cream/model/llama.h"
#include "cream/model/presets.h"
#include "cream/model/weights.h"
#include "cream/util/error.h"
#include "model_fixtures.h"

using cream::model::LlamaConfig;
using cream::model::LlamaForCausalLM;
using cream::model::testing::fixture;
using cream::model::testing::read_json;

namespace {

struct GoldenCase {
  std::string name;
  LlamaConfig config;
  std::filesystem::path weights;
  torch::Tensor tokens, positions;  // int64 [B, T]
  torch::Tensor expected;           // float64 [B, T, vocab]
};

torch::Tensor long_matrix(const nlohmann::json& rows) {
  std::vector<torch::Tensor> out;
  for (const auto& row : rows) out.push_back(torch::tensor(row.get<std::vector<int64_t>>(), torch::kLong));
  return torch::stack(out);
}

std::vector<GoldenCase> golden_cases() {
  const cream::io::SafetensorsFile expected(fixture("expected_logits.safetensors"));
  std::vector<GoldenCase> out;
  for (const auto& c : read_json(fixture("logits_cases.json"))) {
    GoldenCase g;
    g.name = c["name"];
    g.config = LlamaConfig::from_file(fixture(c["config"]));
    g.weights = fixture(c["weights"]);
    g.tokens = long_matrix(c["tokens"]);
    g.positions = long_matrix(c["positions"]);
    const auto* info = expected.find(g.name);
    EXPECT_NE(info, nullptr) << g.name;
    if (info == nullptr) continue;
    auto* data = const_cast<std::byte*>(expected.data(*info));
    g.expected = torch::from_blob(data, info->shape, torch::kDouble).clone();
    out.push_back(std::move(g));
  }
  return out;
}

LlamaForCausalLM load(const GoldenCase& g, torch::ScalarType dtype) {
  const cream::io::CheckpointFolder weights(g.weights);
  return cream::model::load_model(g.config, weights, torch::kCPU, dtype);
}

// Largest per-row error relative to that row's largest |reference logit|.
double worst_relative_row_error(const torch::Tensor& got, const torch::Tensor& expected) {
  const auto error = (got.to(torch::kDouble) - expected).abs().amax(-1);
  const auto scale = expected.abs().amax(-1);
  return (error / scale).max().item<double>();
}

torch::Tensor random_ids(int64_t batch, int64_t time, int64_t vocab, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  return torch::randint(0, vocab, {batch, time}, gen, torch::kLong);
}

torch::Tensor sorted_positions(int64_t batch, int64_t time, int64_t limit, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  auto draws = torch::randperm(limit, gen, torch::kLong).narrow(0, 0, batch * time).view({batch, time});
  return std::get<0>(draws.sort(1));
}

}  // namespace

TEST(LlamaGolden, Fp32LogitsMatchFloat64Reference) {
  const auto cases = golden_cases();
  ASSERT_GE(cases.size(), 13u);
  torch::NoGradGuard no_grad;
  for (const auto& g : cases) {
    auto model = load(g, torch::kFloat);
    const auto logits = model->forward(g.tokens, g.positions);
    ASSERT_EQ(logits.sizes(), g.expected.sizes()) << g.name;
    EXPECT_LE(worst_relative_row_error(logits, g.expected), 1e-4) << g.name;
  }
}

TEST(LlamaGolden, MathPathInChunksMatchesReference) {
  torch::NoGradGuard no_grad;
  for (const auto& g : golden_cases()) {
    auto model = load(g, torch::kFloat);
    model->attention.force_math = true;
    model->attention.query_chunk = 4;  // T = 6: one full and one partial chunk
    EXPECT_LE(worst_relative_row_error(model->forward(g.tokens, g.positions), g.expected), 1e-4) << g.name;
  }
}

TEST(LlamaGolden, Bf16LogitsWithinBf16Tolerance) {
  torch::NoGradGuard no_grad;
  for (const auto& g : golden_cases()) {
    auto model = load(g, torch::kBFloat16);
    const auto logits = model->forward(g.tokens, g.positions);
    EXPECT_EQ(logits.scalar_type(), torch::kBFloat16);
    EXPECT_LE(worst_relative_row_error(logits, g.expected), 2e-2) << g.name;
  }
}

TEST(LlamaGolden, VariantsAreDistinguishable) {
  // The fixture must make a wrong RoPE variant fail the 1e-4 check: every rope case differs
  // from plain RoPE by far more than the tolerance (except the exported longrope, which by
  // design equals yarn-cream).
  std::map<std::string, torch::Tensor> by_name;
  for (const auto& g : golden_cases()) by_name[g.name] = g.expected;
  const auto& plain = by_name.at("rope_default");
  for (const auto& [name, logits] : by_name) {
    if (name.rfind("rope_", 0) != 0 || name == "rope_default") continue;
    EXPECT_GT(worst_relative_row_error(logits, plain), 1e-2) << name;
  }
  EXPECT_LE(worst_relative_row_error(by_name.at("rope_longrope_exported"), by_name.at("rope_yarn_cream")), 1e-12);
}

TEST(Llama, ParameterNamesAreTheHfKeys) {
  for (const char* set : {"gqa", "tied", "bias"}) {
    const auto config = LlamaConfig::from_file(fixture(std::string("weights/") + set + "/config.json"));
    LlamaForCausalLM model(config);
    std::vector<std::string> names;
    for (const auto& p : model->named_parameters()) names.push_back(p.key());
    std::vector<std::string> expected;
    for (const auto& [name, shape] : cream::model::expected_tensors(config)) expected.push_back(name);
    EXPECT_EQ(names, expected) << set;
    int64_t count = 0;
    for (const auto& p : model->parameters()) count += p.numel();
    EXPECT_EQ(count, config.num_parameters()) << set;
  }
}

TEST(Attention, ChunkedMathEqualsDirectComputation) {
  torch::manual_seed(3);
  const int64_t batch = 2, heads = 6, kv_heads = 2, time = 11, dim = 8;
  const auto opts = torch::TensorOptions().dtype(torch::kDouble);
  const auto q = torch::randn({batch, heads, time, dim}, opts);
  const auto k = torch::randn({batch, kv_heads, time, dim}, opts);
  const auto v = torch::randn({batch, kv_heads, time, dim}, opts);
  // Direct: expand kv heads (head j uses kv head j / 3), full T x T causal softmax.
  const auto k_full = k.repeat_interleave(heads / kv_heads, 1);
  const auto v_full = v.repeat_interleave(heads / kv_heads, 1);
  auto scores = torch::matmul(q, k_full.transpose(-1, -2)) / std::sqrt(static_cast<double>(dim));
  scores = scores.masked_fill(torch::ones({time, time}, torch::kBool).triu(1), -INFINITY);
  const auto direct = torch::matmul(torch::softmax(scores, -1), v_full);
  for (int64_t chunk : {0L, 1L, 3L, 11L, 64L}) {
    cream::model::AttentionOptions options;
    options.force_math = true;
    options.query_chunk = chunk;
    const auto got = cream::model::causal_attention(q, k, v, options);
    // Scores go through float32 by design; compare at float32 precision.
    EXPECT_LE((got - direct).abs().max().item<double>(), 1e-5) << "chunk " << chunk;
  }
  // Queries that are the last rows of a longer key sequence (KV-cache decoding).
  cream::model::AttentionOptions options;
  options.force_math = true;
  options.query_chunk = 2;
  const auto tail = cream::model::causal_attention(q.narrow(2, 7, 4), k, v, options);
  EXPECT_LE((tail - direct.narrow(2, 7, 4)).abs().max().item<double>(), 1e-5);
}

TEST(Llama, KvCacheDecodingEqualsFullForward) {
  torch::NoGradGuard no_grad;
  const auto config = LlamaConfig::from_file(fixture("rope_configs/yarn.json"));
  const cream::io::CheckpointFolder weights(fixture("weights/gqa"));
  auto model = cream::model::load_model(config, weights);
  const auto tokens = random_ids(2, 9, config.vocab_size, 5);
  const auto positions = sorted_positions(2, 9, 40000, 6);
  const auto full = model->forward(tokens, positions);
  cream::model::KVCache cache;
  auto first = model->forward(tokens.narrow(1, 0, 5), positions.narrow(1, 0, 5), &cache);
  EXPECT_EQ(cache.length(), 5);
  std::vector<torch::Tensor> pieces{first};
  for (int64_t t = 5; t < 9; ++t)
    pieces.push_back(model->forward(tokens.narrow(1, t, 1), positions.narrow(1, t, 1), &cache));
  EXPECT_EQ(cache.length(), 9);
  EXPECT_LE((torch::cat(pieces, 1) - full).abs().max().item<double>(), 1e-5);
}

TEST(Llama, LossEqualsDirectCrossEntropyAndGradients) {
  const auto config = LlamaConfig::from_file(fixture("weights/tied/config.json"));  // tied: shared weight grads
  const cream::io::CheckpointFolder weights(fixture("weights/tied"));
  auto model = cream::model::load_model(config, weights);
  const auto tokens = random_ids(3, 7, config.vocab_size, 11);
  const auto positions = sorted_positions(3, 7, 5000, 12);
  auto labels = tokens.clone();
  labels[0][3] = -100;
  labels[2][1] = -100;
  labels[1][0] = 5;  // the first label is never scored (HF shift)

  // Direct: full logits, shift, log_softmax, gather, mean over counted labels.
  const auto logits = model->forward(tokens, positions).to(torch::kFloat);
  const auto log_probs = torch::log_softmax(logits.narrow(1, 0, 6), -1);
  const auto targets = labels.narrow(1, 1, 6);
  const auto counted = targets != -100;
  const auto picked = log_probs.gather(2, targets.clamp_min(0).unsqueeze(2)).squeeze(2);
  const auto direct = -(picked * counted).sum() / counted.sum();
  direct.backward();
  std::map<std::string, torch::Tensor> direct_grads;
  for (auto& p : model->named_parameters()) {
    direct_grads[p.key()] = p.value().grad().clone();
    p.value().mutable_grad().zero_();
  }

  model->loss_chunk_rows = 4;  // 18 rows: 4 + 4 + 4 + 4 + 2
  const auto chunked = model->loss(tokens, positions, labels);
  // Chunks sum in another order: a few float32 ulps of the loss apart.
  EXPECT_NEAR(chunked.item<double>(), direct.item<double>(), 1e-6 * (1.0 + std::abs(direct.item<double>())));
  chunked.backward();
  for (auto& p : model->named_parameters()) {
    const auto diff = (p.value().grad() - direct_grads[p.key()]).abs().max().item<double>();
    EXPECT_LE(diff, 1e-5 * (1.0 + direct_grads[p.key()].abs().max().item<double>())) << p.key();
  }

  // Only the ignored labels' rows change when labels are ignored.
  torch::NoGradGuard no_grad;
  auto all_ignored = torch::full_like(labels, -100);
  EXPECT_EQ(model->loss(tokens, positions, all_ignored).item<double>(), 0.0);
  const auto sum = model->loss_sum(tokens, positions, labels);
  EXPECT_EQ(sum.count.item<int64_t>(), 3 * 6 - 2);
  EXPECT_THROW(model->loss(tokens, positions, torch::full_like(labels, 64)), cream::Error);
}

TEST(Llama, RejectsBadInputsWithCreamErrors) {
  const auto config = LlamaConfig::from_file(fixture("weights/mha/config.json"));
  LlamaForCausalLM model(config);
  cream::model::initialize_weights(*model, 1);
  torch::NoGradGuard no_grad;
  const auto positions = torch::arange(3, torch::kLong).view({1, 3});
  EXPECT_THROW(model->forward(torch::tensor({1L, 64L, 2L}).view({1, 3}), positions), cream::Error);
  EXPECT_THROW(model->forward(torch::tensor({1L, -1L, 2L}).view({1, 3}), positions), cream::Error);
  EXPECT_THROW(model->forward(torch::tensor({1L, 2L}).view({1, 2}), positions), cream::Error);
  EXPECT_THROW(model->forward(torch::tensor({1.0, 2.0, 3.0}).view({1, 3}), positions), cream::Error);
}

TEST(Llama, InitializationIsSeededAndHfShaped) {
  const auto config = cream::model::preset("tiny");
  LlamaForCausalLM a(config), b(config), c(config);
  cream::model::initialize_weights(*a, 42);
  cream::model::initialize_weights(*b, 42);
  cream::model::initialize_weights(*c, 43);
  const auto pa = a->named_parameters(), pb = b->named_parameters(), pc = c->named_parameters();
  EXPECT_TRUE(torch::equal(pa["model.layers.1.mlp.up_proj.weight"], pb["model.layers.1.mlp.up_proj.weight"]));
  EXPECT_FALSE(torch::equal(pa["model.layers.1.mlp.up_proj.weight"], pc["model.layers.1.mlp.up_proj.weight"]));
  EXPECT_TRUE(torch::all(pa["model.norm.weight"] == 1).item<bool>());
  const double std = pa["model.embed_tokens.weight"].std().item<double>();
  EXPECT_NEAR(std, 0.02, 0.001);
}

TEST(Llama, ChunkedAndUnchunkedModelAgreeOnALongerSequence) {
  torch::NoGradGuard no_grad;
  auto config = cream::model::preset("tiny");
  config.rope.type = cream::model::RopeType::YarnCream;
  config.rope.factor = 4.0;
  LlamaForCausalLM model(config);
  cream::model::initialize_weights(*model, 7, 0.2);
  const auto tokens = random_ids(1, 257, config.vocab_size, 8);
  const auto positions = sorted_positions(1, 257, 2048, 9);
  model->attention.force_math = true;
  model->attention.query_chunk = 0;
  const auto whole = model->forward(tokens, positions);
  model->attention.query_chunk = 64;
  const auto chunked = model->forward(tokens, positions);
  EXPECT_LE((whole - chunked).abs().max().item<double>(), 1e-5 * (1.0 + whole.abs().max().item<double>()));
}

TEST(Llama, FreshTinyModelPredictsNearUniformly) {
  torch::NoGradGuard no_grad;
  const auto config = cream::model::preset("tiny");
  LlamaForCausalLM model(config);
  cream::model::initialize_weights(*model, 1);
  const auto tokens = random_ids(2, 64, config.vocab_size, 2);
  const auto positions = torch::arange(64, torch::kLong).repeat({2, 1});
  EXPECT_NEAR(model->loss(tokens, positions, tokens).item<double>(), std::log(512.0), 0.05);
}

// Every layer (stride 1) and selective checkpointing (stride 2: layers 0, 2, ...).
class ActivationCheckpointing : public ::testing::TestWithParam<int64_t> {};

TEST_P(ActivationCheckpointing, GivesTheSameLossAndGradients) {
  const auto config = LlamaConfig::from_file(fixture("rope_configs/yarn_cream.json"));
  const cream::io::CheckpointFolder weights(fixture("weights/gqa"));
  auto model = cream::model::load_model(config, weights);
  const auto tokens = random_ids(2, 12, config.vocab_size, 21);
  const auto positions = sorted_positions(2, 12, 30000, 22);
  std::map<std::string, torch::Tensor> plain_grads;
  const auto plain = model->loss(tokens, positions, tokens);
  plain.backward();
  for (auto& p : model->named_parameters()) {
    plain_grads[p.key()] = p.value().grad().clone();
    p.value().mutable_grad().zero_();
  }
  model->model->activation_checkpointing = true;
  model->model->activation_checkpointing_stride = GetParam();
  const auto checkpointed = model->loss(tokens, positions, tokens);
  EXPECT_EQ(checkpointed.item<double>(), plain.item<double>());
  checkpointed.backward();
  for (auto& p : model->named_parameters()) {
    const auto& expected = plain_grads[p.key()];
    EXPECT_GT(expected.abs().max().item<double>(), 0.0) << p.key();
    EXPECT_LE((p.value().grad() - expected).abs().max().item<double>(), 1e-6 * (1.0 + expected.abs().max().item<double>()))
        << p.key();
  }
}

INSTANTIATE_TEST_SUITE_P(Llama, ActivationCheckpointing, ::testing::Values(1, 2));

// Counts the checkpointed-layer nodes of the autograd graph behind `loss`.
int64_t checkpointed_layers_in_graph(const torch::Tensor& loss) {
  std::set<torch::autograd::Node*> seen;
  std::vector<torch::autograd::Node*> stack{loss.grad_fn().get()};
  int64_t count = 0;
  while (!stack.empty()) {
    auto* node = stack.back();
    stack.pop_back();
    if (node == nullptr || !seen.insert(node).second) continue;
    if (node->name().find("CheckpointedLayerBackward") != std::string::npos) ++count;
    for (const auto& edge : node->next_edges()) stack.push_back(edge.function.get());
  }
  return count;
}

TEST(Llama, SelectiveCheckpointingRecomputesEveryKthLayer) {
  const auto config = LlamaConfig::from_file(fixture("rope_configs/yarn_cream.json"));
  auto model = cream::model::load_model(config, cream::io::CheckpointFolder(fixture("weights/gqa")));
  const auto layers = static_cast<int64_t>(model->model->layers.size());
  ASSERT_GE(layers, 2);
  const auto tokens = random_ids(1, 8, config.vocab_size, 3);
  const auto positions = sorted_positions(1, 8, 100, 4);
  model->model->activation_checkpointing = true;
  for (const int64_t stride : {int64_t{1}, int64_t{2}, layers + 1}) {
    model->model->activation_checkpointing_stride = stride;
    EXPECT_EQ(checkpointed_layers_in_graph(model->loss(tokens, positions, tokens)), (layers + stride - 1) / stride)
        << "stride " << stride;
  }
  model->model->activation_checkpointing = false;
  EXPECT_EQ(checkpointed_layers_in_graph(model->loss(tokens, positions, tokens)), 0);
}

TEST(Llama, InputChecksCanMoveToTheHost) {
  const auto config = LlamaConfig::from_file(fixture("rope_configs/yarn_cream.json"));
  auto model = cream::model::load_model(config, cream::io::CheckpointFolder(fixture("weights/gqa")));
  const auto tokens = random_ids(1, 6, config.vocab_size, 5);
  const auto positions = sorted_positions(1, 6, 100, 6);
  const double checked = model->loss(tokens, positions, tokens).item<double>();
  model->check_inputs_on_device = false;  // the trainer checks on the host instead
  EXPECT_EQ(model->loss(tokens, positions, tokens).item<double>(), checked);
  model->check_inputs_on_device = true;
  auto bad = tokens.clone();
  bad[0][2].fill_(config.vocab_size + 7);
  EXPECT_THROW(model->loss(bad, positions, bad), cream::Error);
}

TEST(Llama, NamesTheSdpaBackend) {
  const auto config = LlamaConfig::from_file(fixture("rope_configs/yarn_cream.json"));
  const auto name = cream::model::sdpa_backend(config, 64, torch::kFloat, torch::kCPU);
  EXPECT_TRUE(name == "flash" || name == "math") << name;
}
