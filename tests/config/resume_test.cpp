// fingerprint, diff_for_resume and the --resume policy.
#include <fstream>
#include <map>

#include "config/config_test_helpers.h"

namespace cream::config::testing {
namespace {

// name -> fingerprint from tests/fixtures/config/fingerprint_reference.py.
std::map<std::string, std::string> reference_fingerprints() {
  std::ifstream in(std::string(CREAM_SOURCE_DIR) + "/tests/fixtures/config/fingerprint_reference.txt");
  std::map<std::string, std::string> result;
  std::string name, value;
  while (in >> name >> value) result[name] = value;
  EXPECT_EQ(result.size(), 3u) << "fingerprint_reference.txt missing or malformed";
  return result;
}

TEST(ConfigResume, FingerprintMatchesTheReferenceScript) {
  const auto reference = reference_fingerprints();
  EXPECT_EQ(fingerprint(parse_experiment(kMinimal)), reference.at("minimal"));
  const auto sigma = edited(kMinimal, "target_length: 32768", "target_length: 32768\n  sigma: 2.5");
  EXPECT_EQ(fingerprint(parse_experiment(sigma)), reference.at("minimal_sigma_2.5"));
}

TEST(ConfigResume, FingerprintIgnoresKeysThatMayChange) {
  const auto base = fingerprint(parse_experiment(kMinimal));
  for (const auto& set : {"train.steps=2000", "optim.lr=1e-5", "log.every=9", "checkpoint.keep=2",
                          "train.micro_batch=1", "model.device=cpu", "model.threads=4", "eval.batches=3"}) {
    EXPECT_EQ(fingerprint(parse_experiment(kMinimal, "cfg.yaml", {set})), base) << set;
  }
  for (const auto& set : {"model.dtype=fp32", "positions.target_length=16384", "positions.method=pose",
                          "rope.type=yarn", "train.seed=1", "train.global_batch=2", "data.train=d",
                          "positions.relativity_share=0.4"}) {
    EXPECT_NE(fingerprint(parse_experiment(kMinimal, "cfg.yaml", {set})), base) << set;
  }
}

TEST(ConfigResume, DiffListsProtectedChangesFirst) {
  const auto saved = parse_experiment(kMinimal, "run/config.yaml");
  const auto current = parse_experiment(kMinimal, "cfg.yaml",
                                        {"train.steps=20", "positions.sigma=2.5", "data.valid=data/v"});
  const auto changes = diff_for_resume(saved, current);
  ASSERT_EQ(changes.size(), 3u);
  EXPECT_EQ(changes[0].key_path, "positions.sigma");
  EXPECT_EQ(changes[0].before, "3.0");
  EXPECT_EQ(changes[0].after, "2.5");
  EXPECT_TRUE(changes[0].protected_key);
  EXPECT_EQ(changes[1].key_path, "data.valid");
  EXPECT_EQ(changes[1].before, "(unset)");
  EXPECT_EQ(changes[1].after, "\"data/v\"");
  EXPECT_FALSE(changes[1].protected_key);
  EXPECT_EQ(changes[2].key_path, "train.steps");
  EXPECT_EQ(changes[2].before, "10");
  EXPECT_EQ(changes[2].after, "20");
  EXPECT_FALSE(changes[2].protected_key);
}

TEST(ConfigResume, DiffOfResolvedValuesNotSpellings) {
  // Writing a default explicitly, or 0 for "4f", changes nothing.
  const auto explicit_defaults = edited(kMinimal, "target_length: 32768",
                                        "target_length: 32768\n  sigma: 3.0\n  continuity_length: 0");
  EXPECT_TRUE(diff_for_resume(parse_experiment(kMinimal), parse_experiment(explicit_defaults)).empty());
  EXPECT_TRUE(diff_for_resume(parse_experiment(kMinimal), parse_experiment(kMinimal + "rope:\n  factor: 8\n")).empty());
}

TEST(ConfigResume, ChangedConfigRefusesToResumeWithoutForce) {
  const auto saved = parse_experiment(kMinimal, "runs/x/config.yaml");
  EXPECT_TRUE(check_resume(saved, parse_experiment(kMinimal, "cfg.yaml"), false).empty());
  const auto current = parse_experiment(kMinimal, "cfg.yaml", {"train.steps=20", "rope.type=ntk"});
  try {
    check_resume(saved, current, false);
    FAIL() << "resumed with a changed config";
  } catch (const cream::Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "cfg.yaml: differs from the run's saved config runs/x/config.yaml in keys that must not change on "
              "resume: rope.type linear -> ntk; use --force to resume anyway");
  }
  // Unprotected changes (more steps, another lr) resume without --force and are reported.
  const auto longer = parse_experiment(kMinimal, "cfg.yaml", {"train.steps=20"});
  const auto allowed = check_resume(saved, longer, false);
  ASSERT_EQ(allowed.size(), 1u);
  EXPECT_EQ(allowed[0].key_path, "train.steps");
  const auto forced = check_resume(saved, current, true);
  ASSERT_EQ(forced.size(), 2u);
  EXPECT_EQ(forced[0].key_path, "rope.type");
}

TEST(ConfigResume, ProtectedKeysAreTheModelDataStreamLengthsSamplerAndRope) {
  for (const auto* path : {"model.path", "model.init", "model.arch", "model.dtype", "model.tokenizer", "data.train",
                           "data.short_docs", "positions.method", "positions.train_length", "positions.target_length",
                           "positions.sigma", "positions.branch_batch_size", "rope.type", "rope.factor",
                           "rope.high_freq_factor", "train.seed", "train.global_batch"}) {
    EXPECT_TRUE(is_resume_protected(path)) << path;
  }
  for (const auto* path : {"model.device", "model.threads", "data.valid", "train.steps", "train.micro_batch",
                           "train.activation_checkpointing", "train.grad_clip", "optim.lr", "schedule.name",
                           "eval.every", "checkpoint.output_dir", "log.every"}) {
    EXPECT_FALSE(is_resume_protected(path)) << path;
  }
}

}  // namespace
}  // namespace cream::config::testing
