"""perf.bench: schema and sanity of the benchmark result on tiny sizes (no wall-time assertions)."""

import json

import pytest
import torch

from cyclescan.perf.bench import BenchOptions, _targets, format_table, run_benchmark
from cyclescan.perf.bench_train import TrainCase, time_train_steps
from cyclescan.perf.peak import matmul_peak


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # 2 shared cores: spinning OpenMP threads only slow the suite down
    yield
    torch.set_num_threads(before)
    torch.set_flush_denormal(False)


def test_matmul_peak_is_positive_and_counts_2n3():
    r = matmul_peak("fp32", max_n=256, budget_s=1.0, repeats=2)
    assert r["n"] == 256 and r["gflops"] >= r["gflops_median"] > 0
    assert r["gflops_median"] == pytest.approx(2 * 256**3 / r["seconds_median"] / 1e9)


def test_train_step_flops_match_a_forward_count():
    """FLOPs of a step ~ 3x the forward FLOPs of its 6 G passes + 6 D passes (backward = 2x fwd)."""
    from cyclescan.nets import build_discriminator, build_generator, count_flops

    case = TrainCase([8, 32, 32], 2, 4, warmup=1, repeats=1, budget_s=1.0)
    r = time_train_steps(case)
    from cyclescan.perf.bench_train import case_config

    cfg = case_config(case)
    shape = [1, 1, 8, 32, 32]
    g = count_flops(build_generator(cfg, case.patch), shape)
    d = count_flops(build_discriminator(cfg, case.patch), shape)
    # G step: 6 G fwd + 2 D fwd, backward through all; D step: 4 D fwd + backward (no input grad
    # for the first conv, so a little under 3x)
    approx = 3 * (6 * g + 2 * d) + 3 * 4 * d
    assert 0.8 * approx < r["flops_per_step"] < 1.05 * approx
    assert r["step_s"] > 0 and len(r["step_times"]) == 1 and r["gflops"] > 0
    assert r["variant"] == "naive" and r["precision"] == "fp32"


def test_run_benchmark_schema_in_process(tmp_path):
    opts = BenchOptions.small(patch=[8, 32, 32], gen_base=2, disc_base=4, repeats=1, budget_s=2.0,
                              naive_subprocess=False, sections=("train", "data"))
    res = run_benchmark(opts, workdir=tmp_path)
    json.dumps(res)  # JSON-able
    assert {"machine", "runtime", "options", "peak", "train", "data", "targets"} <= set(res)
    tr = res["train"]
    assert "error" not in tr, tr
    assert tr["naive"]["precision"] == "fp32" and not tr["naive"]["channels_last"]
    assert tr["tuned"]["channels_last"] and tr["tuned"]["runtime"]["num_threads"] >= 1
    assert tr["speedup"] == pytest.approx(tr["naive"]["step_s"] / tr["tuned"]["step_s"])
    assert tr["flops_per_step"] == tr["naive"]["flops_per_step"]  # same networks, same FLOPs
    assert 0 < tr["fraction_of_fp32_peak"]
    assert tr["peak_dtype"] == tr["tuned"]["precision"]
    assert tr["fraction_of_peak"] == tr[f"fraction_of_{tr['peak_dtype']}_peak"]
    d = res["data"]
    assert "error" not in d, d
    assert 0.0 <= d["data_wait_fraction"] <= 1.0 and d["steps"] >= 2
    assert set(res["targets"]) == {"train_speedup", "train_fraction_of_peak", "translate_seconds",
                                   "translate_peak_rss_gb", "data_wait_fraction"}
    assert res["targets"]["translate_seconds"]["met"] is None  # infer not run
    text = format_table(res)
    assert "speedup" in text and "data wait" in text


def test_targets_judge_values():
    res = {"train": {"speedup": 2.5, "fraction_of_peak": 0.3},
           "infer": {"cases": {"sliding_fp32": {"total_s": 30.0, "peak_rss_mb": 1024.0}, "whole_fp32": {"total_s": 10.0}}},
           "data": {"data_wait_fraction": 0.01}}
    t = _targets(res)
    assert t["train_speedup"]["met"] is True and t["train_fraction_of_peak"]["met"] is False
    assert t["translate_seconds"]["value"] == 10.0 and t["translate_seconds"]["met"] is True
    assert t["translate_peak_rss_gb"]["value"] == pytest.approx(1.0) and t["data_wait_fraction"]["met"] is True


@pytest.mark.slow
def test_cli_quick_writes_json(tmp_path):
    from cyclescan.cli.main import main

    out = tmp_path / "bench.json"
    assert main(["benchmark", "--quick", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert "error" not in res["train"] and res["train"]["naive"]["variant"] == "naive"
    cases = res["infer"]["cases"]
    assert set(cases) == {"sliding_fp32", "sliding_bf16", "whole_fp32"}
    for c in cases.values():
        assert "error" not in c, c
        assert c["shape"] == [16, 64, 64] and c["peak_rss_mb"] > 0
    assert cases["whole_fp32"]["windows_total"] == 1


def test_cli_refuses_a_folder_out_and_a_bad_budget_before_measuring(tmp_path, capsys):
    from cyclescan.cli.main import main

    assert main(["benchmark", "--quick", "--out", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
    assert main(["benchmark", "--quick", "--budget-s", "-1", "--out", str(tmp_path / "b.json")]) == 2
    assert "--budget-s" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_full_options_are_not_quick_and_json_able():
    """Regression: the ``quick`` classmethod shadowed the field default, so full() had quick=<method>."""
    import dataclasses

    full = BenchOptions.full(patch=[16, 64, 64])
    assert full.quick is False and BenchOptions.small().quick is True
    assert json.loads(json.dumps(dataclasses.asdict(full)))["quick"] is False
