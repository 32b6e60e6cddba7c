// Perplexity against an independent full-vocabulary log_softmax, the two modes against each
// other where they must agree, sliding coverage (every token exactly once), and the errors.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "../data/data_test_support.h"
#include "cream/data/prepare.h"
#include "cream/eval/perplexity.h"
#include "cream/model/llama.h"
#include "cream/model/weights.h"

namespace cream::eval {
namespace {

namespace fs = std::filesystem;
using cream::test::expect_error;

model::LlamaConfig tiny_config(int64_t vocab) {
  model::LlamaConfig c;
  c.hidden_size = 32;
  c.intermediate_size = 48;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 8;
  c.num_hidden_layers = 2;
  c.vocab_size = vocab;
  c.max_position_embeddings = 64;
  c.rms_norm_eps = 1e-5;
  c.bos_token_id = 1;
  c.eos_token_ids = {2};
  c.validate("tiny");
  return c;
}

// Random weights with a large enough spread that predictions are far from uniform.
model::LlamaForCausalLM tiny_model(const model::LlamaConfig& config, uint64_t seed = 11) {
  model::LlamaForCausalLM model(config);
  model::initialize_weights(*model, seed, 0.3);
  model->eval();
  return model;
}

std::vector<int32_t> random_document(int64_t size, int64_t vocab, uint64_t seed) {
  std::vector<int32_t> doc(size);
  uint64_t x = seed * 2862933555777941757ULL + 3037000493ULL;
  doc[0] = 1;  // BOS
  for (int64_t i = 1; i < size; ++i) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    doc[i] = static_cast<int32_t>(3 + (x >> 33) % static_cast<uint64_t>(vocab - 3));
  }
  return doc;
}

// Independent reference: full logits of tokens [begin, end) at positions 0.., log_softmax in
// float64, NLL of tokens [first_scored, end) (absolute indices).
double reference_nll(model::LlamaForCausalLMImpl& model, const std::vector<int32_t>& doc, int64_t begin,
                     int64_t end, int64_t first_scored) {
  torch::NoGradGuard no_grad;
  const std::vector<int64_t> ids(doc.begin() + begin, doc.begin() + end);
  const auto tokens = torch::tensor(ids, torch::kLong).unsqueeze(0);
  const auto positions = torch::arange(end - begin, torch::kLong).unsqueeze(0);
  const auto log_probs = torch::log_softmax(model.forward(tokens, positions)[0].to(torch::kDouble), -1);
  double nll = 0.0;
  for (int64_t t = std::max(first_scored, begin + 1); t < end; ++t)
    nll -= log_probs[t - begin - 1][doc[t]].item<double>();
  return nll;
}

TEST(Perplexity, WindowEqualsFullLogSoftmax) {
  const auto config = tiny_config(50);
  auto model = tiny_model(config);
  const auto doc = random_document(40, 50, 1);
  const auto score = score_window(*model, doc, 40);
  EXPECT_EQ(score.tokens, 39);  // every token but BOS
  const double reference = reference_nll(*model, doc, 0, 40, 1);
  EXPECT_NEAR(score.nll, reference, 1e-4 * reference);
  const auto tail = score_window(*model, doc, 10);  // only the last 10 scored
  EXPECT_EQ(tail.tokens, 10);
  EXPECT_NEAR(tail.nll, reference_nll(*model, doc, 0, 40, 30), 1e-4 * reference);
  // Far from uniform, so the check has teeth.
  EXPECT_GT(std::abs(std::exp(reference / 39) - 50.0), 5.0);
}

TEST(Perplexity, TruncateReportsTokenAndDocumentMeans) {
  const auto config = tiny_config(50);
  auto model = tiny_model(config);
  const std::vector<std::vector<int32_t>> docs = {random_document(30, 50, 2), random_document(45, 50, 3),
                                                  random_document(33, 50, 4)};
  PerplexityOptions options;
  options.lengths = {16, 30};
  const auto results = evaluate_perplexity(*model, docs, options);
  ASSERT_EQ(results.size(), 2u);
  for (const auto& r : results) {
    double total = 0.0, doc_ppl = 0.0;
    for (const auto& doc : docs) {
      const double nll = reference_nll(*model, doc, 0, r.length, 1);
      total += nll;
      doc_ppl += std::exp(nll / static_cast<double>(r.length - 1));
    }
    EXPECT_EQ(r.tokens_scored, 3 * (r.length - 1));
    EXPECT_EQ(r.documents, 3);
    EXPECT_NEAR(r.ppl_token, std::exp(total / static_cast<double>(3 * (r.length - 1))), 1e-4 * r.ppl_token);
    EXPECT_NEAR(r.ppl_doc_mean, doc_ppl / 3.0, 1e-4 * r.ppl_doc_mean);
    EXPECT_NE(r.ppl_token, r.ppl_doc_mean);
  }
}

TEST(Perplexity, ModesAgreeOnOneWindow) {
  const auto config = tiny_config(50);
  auto model = tiny_model(config);
  const std::vector<std::vector<int32_t>> docs = {random_document(24, 50, 5), random_document(24, 50, 6)};
  PerplexityOptions truncate;
  truncate.lengths = {24};
  PerplexityOptions sliding = truncate;
  sliding.mode = PerplexityMode::Sliding;
  const auto a = evaluate_perplexity(*model, docs, truncate).front();
  const auto b = evaluate_perplexity(*model, docs, sliding).front();
  EXPECT_EQ(a.tokens_scored, b.tokens_scored);
  EXPECT_DOUBLE_EQ(a.ppl_token, b.ppl_token);
  EXPECT_DOUBLE_EQ(a.ppl_doc_mean, b.ppl_doc_mean);
  EXPECT_EQ(b.windows, 2);
}

TEST(Perplexity, SlidingWithStrideEqualToLengthIsIndependentWindows) {
  const auto config = tiny_config(50);
  auto model = tiny_model(config);
  const auto doc = random_document(3 * 16 + 5, 50, 7);
  const auto score = score_sliding(*model, doc, 16, 16);
  double reference = 0.0;
  for (int64_t begin = 0; begin < static_cast<int64_t>(doc.size()); begin += 16) {
    const int64_t end = std::min<int64_t>(begin + 16, doc.size());
    reference += reference_nll(*model, doc, begin, end, begin + 1);
  }
  EXPECT_EQ(score.windows, 4);
  EXPECT_EQ(score.tokens, static_cast<int64_t>(doc.size()) - 4);  // each window's first token is context
  EXPECT_NEAR(score.nll, reference, 1e-4 * reference);
}

TEST(Perplexity, SlidingScoresEveryTokenOnceWithFullContext) {
  for (int64_t size : {2, 7, 16, 17, 40, 101}) {
    for (int64_t length : {2, 5, 16}) {
      for (int64_t stride = 1; stride < length; ++stride) {
        std::vector<int> times(size, 0);
        for (const auto& w : sliding_windows(size, length, stride)) {
          ASSERT_LE(w.end - w.begin, length);
          for (int64_t t = std::max(w.end - w.scored, w.begin + 1); t < w.end; ++t) {
            times[t] += 1;
            // As much context as the window allows: the whole window before t, and at least
            // length - stride tokens once the document is longer than a window.
            EXPECT_GE(t - w.begin, std::min<int64_t>(t, length - stride));
          }
        }
        EXPECT_EQ(times[0], 0);
        for (int64_t t = 1; t < size; ++t)
          ASSERT_EQ(times[t], 1) << "size " << size << " length " << length << " stride " << stride << " token " << t;
      }
    }
  }
  // And the model path scores exactly those tokens, against the reference.
  const auto config = tiny_config(50);
  auto model = tiny_model(config);
  const auto doc = random_document(37, 50, 8);
  const auto score = score_sliding(*model, doc, 12, 5);
  EXPECT_EQ(score.tokens, 36);
  double reference = 0.0;
  for (const auto& w : sliding_windows(37, 12, 5)) reference += reference_nll(*model, doc, w.begin, w.end, w.end - w.scored);
  EXPECT_NEAR(score.nll, reference, 1e-4 * reference);
}

TEST(Perplexity, RopeOverrideSpecs) {
  auto config = tiny_config(50);
  const auto linear = parse_rope_override("linear:8:16", config);
  EXPECT_EQ(linear.type, model::RopeType::Linear);
  EXPECT_EQ(linear.factor, 8.0);
  EXPECT_EQ(linear.original_max_position_embeddings, 16);
  const auto yarn = parse_rope_override("yarn-cream:2.5", config);
  EXPECT_EQ(yarn.type, model::RopeType::YarnCream);
  EXPECT_EQ(yarn.original_max_position_embeddings, 64);  // the model's window
  EXPECT_EQ(parse_rope_override("none:1", config).type, model::RopeType::Default);
  for (const char* bad : {"linear", "linear:", "linear:x", "linear:-2", "linear:2:0", "linear:2:3.5", "foo:2",
                          "longrope:2", "linear:2:16:9", ""})
    expect_error([&] { parse_rope_override(bad, config); }, {"--rope-scaling"});
  PerplexityOptions options;
  options.mode = PerplexityMode::Sliding;
  options.lengths = {8};
  options.stride = 9;
  expect_error([&] { check_options(options); }, {"--stride"});
  options.lengths = {1};
  expect_error([&] { check_options(options); }, {"--lengths"});
}

// A prepared data folder and a model folder sharing the test tokenizer.
struct Fixture {
  fs::path root = cream::test::fresh_dir("ppl_run");
  fs::path data = root / "data";
  fs::path model = root / "model";
  std::vector<std::vector<int32_t>> docs;
  ~Fixture() { fs::remove_all(root); }
};

void build_fixture(Fixture& f, int64_t model_vocab) {
  const auto& tokenizer = cream::test::test_tokenizer();
  std::string jsonl;
  const std::vector<int> sizes = {10, 40, 25, 60, 41, 8};
  for (size_t i = 0; i < sizes.size(); ++i) {
    auto doc = random_document(sizes[i], 300, 20 + i);  // starts with BOS = 1: not doubled
    f.docs.push_back(doc);
    jsonl += nlohmann::json({{"input_ids", doc}}).dump() + "\n";
  }
  cream::test::write_file(f.root / "docs.jsonl", jsonl);
  data::PrepareOptions prepare;
  prepare.tokenizer = tokenizer;
  prepare.inputs = {f.root / "docs.jsonl"};
  prepare.out = f.data;
  prepare.threads = 1;
  data::prepare(prepare);
  auto config = tiny_config(model_vocab);
  auto model = tiny_model(config, 3);
  model::save_model_folder(f.model, *model, config, io::DType::F32);
  fs::copy_file(tokenizer, f.model / "tokenizer.model");
}

TEST(Perplexity, RunOnPreparedData) {
  Fixture f;
  build_fixture(f, 400);
  PerplexityRequest request;
  request.model_folder = f.model.string();
  request.data_folder = f.data.string();
  request.options.lengths = {20, 40};
  request.options.max_documents = 2;
  const auto record = run_perplexity(request);
  // Documents of at least 40 tokens, the first two: numbers 1 and 3.
  EXPECT_EQ(record.at("documents"), nlohmann::json({1, 3}));
  EXPECT_EQ(record.at("mode"), "truncate");
  EXPECT_TRUE(record.at("rope_override").is_null());
  EXPECT_EQ(record.at("dtype"), "float32");
  EXPECT_EQ(record.at("docs_used"), 2);
  EXPECT_EQ(record.at("lengths"), nlohmann::json({20, 40}));
  auto model = model::load_model(f.model);
  const auto direct = evaluate_perplexity(*model, {f.docs[1], f.docs[3]}, request.options);
  ASSERT_EQ(record.at("results").size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(record["results"][i].at("length"), request.options.lengths[i]);
    EXPECT_EQ(record["results"][i].at("tokens_scored"), direct[i].tokens_scored);
    EXPECT_DOUBLE_EQ(record["results"][i].at("ppl_token").get<double>(), direct[i].ppl_token);
  }

  // The override is applied and recorded: same numbers as a model whose config says linear:4:16.
  request.rope_override = "linear:4:16";
  request.options.mode = PerplexityMode::Sliding;
  request.options.lengths = {16};
  request.options.max_documents = 0;
  const auto overridden = run_perplexity(request);
  EXPECT_EQ(overridden.at("rope_override"), "linear:4:16");
  EXPECT_EQ(overridden.at("rope_scaling").at("rope_type"), "linear");
  EXPECT_EQ(overridden.at("docs_used"), 6);
  auto config = model::LlamaConfig::from_file(f.model / "config.json");
  config.rope.type = model::RopeType::Linear;
  config.rope.factor = 4.0;
  config.rope.original_max_position_embeddings = 16;
  auto linear_model = model::load_model(config, io::CheckpointFolder(f.model));
  const auto linear = evaluate_perplexity(*linear_model, f.docs, request.options).front();
  EXPECT_DOUBLE_EQ(overridden["results"][0].at("ppl_token").get<double>(), linear.ppl_token);
  int64_t expected_tokens = 0;
  for (const auto& doc : f.docs) expected_tokens += static_cast<int64_t>(doc.size()) - 1;
  EXPECT_EQ(overridden["results"][0].at("tokens_scored"), expected_tokens);
}

TEST(Perplexity, RunErrors) {
  Fixture f;
  build_fixture(f, 400);
  PerplexityRequest request;
  request.model_folder = f.model.string();
  request.data_folder = (f.root / "nowhere").string();
  request.options.lengths = {20};
  expect_error([&] { run_perplexity(request); }, {"--data", "nowhere"});
  request.data_folder = f.data.string();
  request.options.lengths = {20, 61};  // the longest document has 60 tokens
  expect_error([&] { run_perplexity(request); }, {"61", "longest: 60"});
  request.options.lengths = {20};
  request.rope_override = "linear:zero";
  expect_error([&] { run_perplexity(request); }, {"--rope-scaling"});
}

TEST(Perplexity, RefusesDataWithALargerVocabulary) {
  Fixture f;
  build_fixture(f, 300);  // the tokenizer has 400 pieces
  fs::remove(f.model / "tokenizer.model");  // only the vocabulary size can refuse it
  PerplexityRequest request;
  request.model_folder = f.model.string();
  request.data_folder = f.data.string();
  request.options.lengths = {20};
  expect_error([&] { run_perplexity(request); }, {"manifest.json", "400", "300"});
}

}  // namespace
}  // namespace cream::eval
