"""Several processes on CPUs (Gloo over loopback): data parallel training with and without
the sharded optimizer (dist.zero 1), checked against one process, stop-and-resume, failures
and a real torchrun launch. Each case starts real `cream train` processes.

Tolerance of "same weights": float32, 3 steps of AdamW at lr 1e-3. Summing the ranks'
gradients (Gloo) adds in another order than one process's backward does; the differences
stay at float rounding (~1e-7 relative) and AdamW's update is bounded by lr per element,
so the weights of 2 x micro-batch b and 1 x micro-batch 2b agree to WEIGHT_ATOL (measured:
1.3e-6).
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hf"))
from hf_common import (CREAM, CaseFailure, Checks, corpus_lines, main_guard, run_cream,  # noqa: E402
                       tempdir, train_tokenizer, write_jsonl)

import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

WEIGHT_ATOL = 2e-5
VENV_BIN = Path(sys.executable).parent


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(path, out_dir, work, **over):
    """A tiny model from scratch, fp32 on the CPU; `over` replaces keys ("train.micro_batch")."""
    values = {
        "model.init": "tiny", "model.dtype": "fp32", "model.device": "cpu", "model.threads": 1,
        "model.tokenizer": str(work / "tok" / "tokenizer.model"),
        "data.train": str(work / "data"), "data.valid": str(work / "valid"), "data.short_docs": "pack",
        "positions.method": "standard", "positions.train_length": 64, "positions.target_length": 64,
        "rope.type": "none",
        "train.steps": 3, "train.global_batch": 8, "train.micro_batch": 4, "train.seed": 3, "train.grad_clip": 1.0,
        "optim.name": "adamw", "optim.lr": 1e-3, "optim.weight_decay": 0.1,
        "schedule.name": "constant",
        "eval.every": 0, "eval.lengths": [64], "eval.batches": 2,
        "checkpoint.output_dir": str(out_dir), "checkpoint.every": 0, "checkpoint.keep": 0,
        "log.every": 1, "dist.timeout_s": 30,
    }
    values.update(over)
    sections = {}
    for key, value in values.items():
        if value is None:
            continue
        section, name = key.split(".", 1)
        sections.setdefault(section, {})[name] = value
    with open(path, "w") as f:
        for section, fields in sections.items():
            f.write(f"{section}:\n")
            for name, value in fields.items():
                f.write(f"  {name}: {json.dumps(value)}\n")
    return path


def launch(config, world, *extra, port=None, only_ranks=None, env_extra=None):
    """Starts `world` cream train processes (RANK/WORLD_SIZE/MASTER_* as torchrun sets them)."""
    port = port or free_port()
    procs = []
    for rank in range(world):
        if only_ranks is not None and rank not in only_ranks:
            continue
        env = dict(os.environ, RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
                   MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), OMP_NUM_THREADS="1")
        env.update(env_extra or {})
        procs.append(subprocess.Popen([CREAM, "train", "-c", str(config), *extra], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    return procs


def wait_all(procs, timeout=600):
    results = []
    for p in procs:
        out, err = p.communicate(timeout=timeout)
        results.append((p.returncode, out, err))
    return results


def expect_success(results, what):
    for rank, (code, _, err) in enumerate(results):
        if code != 0:
            raise CaseFailure(f"{what}: process {rank} exited {code}: {err.strip()[-1500:]}")


def last_checkpoint(out_dir):
    steps = sorted(p for p in Path(out_dir).glob("step-*") if (p / "COMPLETE").exists())
    if not steps:
        raise CaseFailure(f"{out_dir}: no complete checkpoint")
    return steps[-1]


def weights(folder):
    return load_file(str(Path(folder) / "model.safetensors"))


def max_difference(a, b):
    if a.keys() != b.keys():
        raise CaseFailure(f"tensor names differ: {sorted(set(a) ^ set(b))[:3]}")
    return max((a[k].double() - b[k].double()).abs().max().item() for k in a)


def losses(out_dir):
    return [json.loads(line)["loss"] for line in (Path(out_dir) / "metrics.jsonl").read_text().splitlines()]


class Setup:
    def __init__(self, work):
        self.work = work
        tok = train_tokenizer(work / "tok", vocab_size=512, seed=5)
        write_jsonl(work / "train.jsonl", corpus_lines(400, seed=11))
        write_jsonl(work / "valid.jsonl", corpus_lines(60, seed=12))
        run_cream("data", "prepare", "--tokenizer", tok, "--input", work / "train.jsonl", "--out", work / "data")
        run_cream("data", "prepare", "--tokenizer", tok, "--input", work / "valid.jsonl", "--out", work / "valid")
        self.count = 0

    def config(self, name, yaml_name=None, **over):
        out_dir = self.work / "runs" / name
        return write_config(self.work / f"{yaml_name or name}.yaml", out_dir, self.work, **over), out_dir

    def train(self, name, world, *extra, **over):
        config, out_dir = self.config(name, **over)
        if world == 1:
            run_cream("train", "-c", config, *extra)
        else:
            expect_success(wait_all(launch(config, world, *extra)), name)
        return out_dir


def check_same_as_one_process(s, zero):
    one = s.train(f"one-{zero}", 1, **{"eval.every": 3})
    two = s.train(f"two-zero{zero}", 2, **{"train.micro_batch": 2, "dist.zero": zero, "eval.every": 3})
    diff = max_difference(weights(last_checkpoint(one)), weights(last_checkpoint(two)))
    if diff > WEIGHT_ATOL:
        raise CaseFailure(f"2 x micro 2 (zero {zero}) vs 1 x micro 4: weights differ by {diff:.3g} > {WEIGHT_ATOL}")
    a, b = losses(one), losses(two)
    if len(a) != len(b) or max(abs(x - y) for x, y in zip(a, b)) > 1e-5:
        raise CaseFailure(f"logged losses differ: {a} vs {b}")
    eval_one = json.loads((one / "metrics.jsonl").read_text().splitlines()[-1])["eval_loss_64"]
    eval_two = json.loads((two / "metrics.jsonl").read_text().splitlines()[-1])["eval_loss_64"]
    if abs(eval_one - eval_two) > 1e-5:
        raise CaseFailure(f"validation loss {eval_one} (1 process) vs {eval_two} (2, split windows)")
    return f"max |dw| {diff:.2e}, losses {a[-1]:.5f} / {b[-1]:.5f}"


def check_overlapped_bf16(s):
    """bf16-sr sums each tensor over the ranks inside the last backward (overlapped): the
    first step's global gradient norm and loss match one process's (same initial weights;
    bf16 matmuls of another batch shape differ in the last bits)."""
    lean = {"model.dtype": "bf16", "train.memory_mode": "bf16-sr"}
    one = s.train("lean-one", 1, **lean)
    two = s.train("lean-two", 2, **dict(lean, **{"train.micro_batch": 2}))
    a, b = ([json.loads(l) for l in (d / "metrics.jsonl").read_text().splitlines()] for d in (one, two))
    for key, tol in (("grad_norm", 1e-2), ("loss", 1e-3)):
        x, y = a[0][key], b[0][key]
        if abs(x - y) > tol * abs(x):
            raise CaseFailure(f"step 1 {key}: 1 process {x} vs 2 processes {y}")
    if "comm_s" not in b[0]:
        raise CaseFailure("metrics.jsonl of a 2-process run has no comm_s")
    return f"step 1 grad norm {a[0]['grad_norm']:.5f} / {b[0]['grad_norm']:.5f}, loss {a[0]['loss']:.5f} / {b[0]['loss']:.5f}"


def check_zero_matches_plain(s):
    plain = last_checkpoint(s.work / "runs" / "two-zero0")
    sharded = last_checkpoint(s.work / "runs" / "two-zero1")
    diff = max_difference(weights(plain), weights(sharded))
    if diff != 0.0:
        raise CaseFailure(f"dist.zero 1 vs 0 on 2 processes: weights differ by {diff:.3g} (expected bit-identical)")
    shards = sorted(p.name for p in sharded.glob("optimizer.rank-*"))
    if shards != ["optimizer.rank-0-of-2.safetensors", "optimizer.rank-1-of-2.safetensors"]:
        raise CaseFailure(f"shards in {sharded}: {shards}")
    a, b = (load_file(str(sharded / n)) for n in shards)
    moments = [k for k in list(a) + list(b) if k.startswith("exp_avg.")]
    if set(a) & set(b) - {"step", "rounding_rng"} or len(moments) != len(set(moments)):
        raise CaseFailure("the two shards overlap")
    return f"bit-identical; shards hold {len([k for k in a if k.startswith('exp_avg.')])} + " \
           f"{len([k for k in b if k.startswith('exp_avg.')])} tensors' moments"


RESUME = {"model.dtype": "bf16", "train.memory_mode": "bf16-sr", "train.micro_batch": 2, "dist.zero": 1,
          "positions.method": "cream", "positions.target_length": 256, "rope.type": "linear",
          "train.steps": 6, "checkpoint.every": 3}


def check_resume_bit_exact(s):
    whole = s.train("resume-whole", 2, **RESUME)
    config, part = s.config("resume-part", **dict(RESUME, **{"train.steps": 3}))
    expect_success(wait_all(launch(config, 2)), "first half")
    config, _ = s.config("resume-part", **RESUME)
    expect_success(wait_all(launch(config, 2, "--resume")), "resumed half")
    diff = max_difference(weights(last_checkpoint(whole)), weights(last_checkpoint(part)))
    if diff != 0.0:
        raise CaseFailure(f"resumed 2-process run differs from the uninterrupted one by {diff:.3g}")
    for name in ("trainer_state.json", "trainer_state.rank-1.json"):
        a = json.loads((last_checkpoint(whole) / name).read_text())
        b = json.loads((last_checkpoint(part) / name).read_text())
        if a["sampler_rng"] != b["sampler_rng"]:
            raise CaseFailure(f"{name}: sampler streams differ after resume")
    r0 = json.loads((last_checkpoint(whole) / "trainer_state.json").read_text())["sampler_rng"]
    r1 = json.loads((last_checkpoint(whole) / "trainer_state.rank-1.json").read_text())["sampler_rng"]
    if r0 == r1:
        raise CaseFailure("ranks 0 and 1 share one sampler stream")
    return "bit-identical weights, sampler streams and optimizer shards"


def check_other_world_size_refused(s):
    config, _ = s.config("resume-part", **dict(RESUME, **{"train.steps": 9}))
    proc = run_cream("train", "-c", config, "--resume", expect_ok=False)
    if proc.returncode == 0 or "written by 2 process(es), resumed by 1" not in proc.stderr:
        raise CaseFailure(f"exit {proc.returncode}: {proc.stderr.strip()[-600:]}")
    return proc.stderr.strip().splitlines()[-1][:160]


def check_export_from_shards(s):
    folder = last_checkpoint(s.work / "runs" / "resume-whole")
    out = s.work / "exported"
    run_cream("export", "--checkpoint", folder, "--out", out)
    from transformers import LlamaForCausalLM
    model = LlamaForCausalLM.from_pretrained(str(out))
    ours = weights(folder)
    theirs = model.state_dict()
    diff = max((ours[k].float() - theirs[k].float()).abs().max().item() for k in ours)
    if diff > 0:
        raise CaseFailure(f"exported weights differ from the checkpoint by {diff}")
    return f"transformers loads {out.name}"


def check_killed_rank(s):
    config, out_dir = s.config("killed", **{"train.steps": 100000, "dist.timeout_s": 20, "log.every": 1})
    procs = launch(config, 2)
    metrics = out_dir / "metrics.jsonl"
    deadline = time.time() + 120
    while not (metrics.exists() and metrics.read_text().count("\n") >= 2):
        if time.time() > deadline or any(p.poll() is not None for p in procs):
            wait_all(procs)
            raise CaseFailure("training did not start")
        time.sleep(0.2)
    procs[1].send_signal(signal.SIGKILL)
    killed_at = time.time()
    code, _, err = wait_all(procs[:1], timeout=120)[0]
    elapsed = time.time() - killed_at
    procs[1].wait()
    if code == 0 or "rank 1" not in err.strip().splitlines()[-1]:
        raise CaseFailure(f"rank 0 exited {code} after {elapsed:.1f} s: {err.strip()[-800:]}")
    if elapsed > 20:
        raise CaseFailure(f"rank 0 took {elapsed:.1f} s to stop (timeout 20 s)")
    return f"rank 0 exited {code} after {elapsed:.1f} s: {err.strip().splitlines()[-1][:140]}"


def check_never_arrives(s):
    config, _ = s.config("alone", **{"dist.timeout_s": 4})
    started = time.time()
    code, _, err = wait_all(launch(config, 2, only_ranks=[0]), timeout=120)[0]
    elapsed = time.time() - started
    if code == 0 or "rank 1 did not arrive within 4 s" not in err:
        raise CaseFailure(f"exit {code} after {elapsed:.1f} s: {err.strip()[-600:]}")
    return f"exit {code} after {elapsed:.1f} s"


def check_failing_rank(s):
    """Rank 1 cannot open its data (its own config): its error reaches rank 0, named."""
    config, _ = s.config("failing", **{"train.steps": 50})
    broken, _ = s.config("failing", "failing-rank1", **{"train.steps": 50, "data.train": str(s.work / "missing")})
    port = free_port()
    procs = launch(config, 2, port=port, only_ranks=[0]) + launch(broken, 2, port=port, only_ranks=[1])
    (code0, _, err0), (code1, _, err1) = wait_all(procs, timeout=120)
    last0 = err0.strip().splitlines()[-1]
    if code0 == 0 or code1 == 0 or "rank 1 failed" not in last0 or "missing" not in last0:
        raise CaseFailure(f"exits {code0}/{code1}; rank 0: {err0.strip()[-600:]}")
    return last0[:200]


def check_config_mismatch(s):
    config, _ = s.config("mismatch", **{"train.steps": 50})
    other, _ = s.config("mismatch", "mismatch-rank1", **{"train.steps": 50, "optim.lr": 2e-3})
    port = free_port()
    procs = launch(config, 2, port=port, only_ranks=[0]) + launch(other, 2, port=port, only_ranks=[1])
    (code0, _, err0), (code1, _, err1) = wait_all(procs, timeout=120)
    for code, err in ((code0, err0), (code1, err1)):
        last = err.strip().splitlines()[-1]
        if code == 0 or "rank 1: its resolved config differs" not in last or "lr" not in last:
            raise CaseFailure(f"exit {code}: {err.strip()[-600:]}")
    return err0.strip().splitlines()[-1][:200]


def check_torchrun(s):
    torchrun = VENV_BIN / "torchrun"
    config, out_dir = s.config("torchrun", **{"train.micro_batch": 2, "dist.zero": 1, "checkpoint.every": 3})
    env = dict(os.environ, OMP_NUM_THREADS="1")
    for steps, extra in ((3, []), (6, ["--resume"])):
        config, _ = s.config("torchrun", **{"train.micro_batch": 2, "dist.zero": 1, "train.steps": steps})
        cmd = [str(torchrun), "--no-python", "--nproc-per-node", "2", "--master-port", str(free_port()),
               CREAM, "train", "-c", str(config), *extra]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
        if proc.returncode != 0:
            raise CaseFailure(f"torchrun ({steps} steps) exited {proc.returncode}: {proc.stderr.strip()[-1500:]}")
    last = last_checkpoint(out_dir)
    if last.name != "step-000006" or not (last / "optimizer.rank-1-of-2.safetensors").exists():
        raise CaseFailure(f"torchrun run folder ends at {last}")
    return f"trained to step 3, resumed to {last.name}"


def main():
    checks = Checks("data parallel")
    with tempdir("cream-dist-") as work:
        s = Setup(Path(work))
        checks.run("2 processes x micro 2 == 1 x micro 4 (plain)", check_same_as_one_process, s, 0)
        checks.run("2 processes x micro 2 == 1 x micro 4 (zero 1)", check_same_as_one_process, s, 1)
        checks.run("zero 1 == zero 0, shards disjoint", check_zero_matches_plain, s)
        checks.run("bf16-sr: sums overlapped with backward match one process", check_overlapped_bf16, s)
        checks.run("2-process stop and resume is bit-exact (bf16-sr, zero 1, cream)", check_resume_bit_exact, s)
        checks.run("another world size on resume is refused", check_other_world_size_refused, s)
        checks.run("export from a sharded checkpoint", check_export_from_shards, s)
        checks.run("a killed rank stops the others, named", check_killed_rank, s)
        checks.run("a rank that never arrives is named", check_never_arrives, s)
        checks.run("a rank's error reaches the others, named", check_failing_rank, s)
        checks.run("ranks with different configs are refused", check_config_mismatch, s)
        checks.run("torchrun --no-python trains and resumes", check_torchrun, s)
    return checks.finish()


if __name__ == "__main__":
    main_guard(main)
