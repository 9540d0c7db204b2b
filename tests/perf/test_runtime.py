"""perf.runtime: jemalloc environment handling, re-exec guard, threads, precision, machine facts."""

import os

import pytest
import torch

from cyclescan.perf import runtime


def test_jemalloc_env_adds_preload_once_and_plain_env_removes_it(tmp_path):
    lib = tmp_path / "libjemalloc.so.2"
    lib.write_bytes(b"")
    env = runtime.jemalloc_env({"LD_PRELOAD": "/x/libfoo.so"}, lib=lib)
    assert env["LD_PRELOAD"].split(":") == [str(lib), "/x/libfoo.so"]
    again = runtime.jemalloc_env(env, lib=lib)
    assert again["LD_PRELOAD"].count("libjemalloc") == 1
    plain = runtime.plain_env({**again, "OMP_WAIT_POLICY": "PASSIVE"})
    assert plain["LD_PRELOAD"] == "/x/libfoo.so"
    assert "MALLOC_CONF" not in plain and "OMP_WAIT_POLICY" not in plain
    assert plain[runtime.NO_JEMALLOC_ENV] == "1"
    only = runtime.plain_env({"LD_PRELOAD": str(lib)})
    assert "LD_PRELOAD" not in only


def test_reexec_respects_opt_out_and_guard(monkeypatch):
    monkeypatch.setattr(runtime, "find_jemalloc", lambda: "/usr/lib/libjemalloc.so.2")
    monkeypatch.setattr(runtime, "jemalloc_loaded", lambda: False)
    assert runtime.should_reexec_with_jemalloc({}) is True
    assert runtime.should_reexec_with_jemalloc({runtime.NO_JEMALLOC_ENV: "1"}) is False
    assert runtime.should_reexec_with_jemalloc({runtime.REEXEC_GUARD_ENV: "1"}) is False
    monkeypatch.setattr(runtime, "jemalloc_loaded", lambda: True)
    assert runtime.should_reexec_with_jemalloc({}) is False
    monkeypatch.setattr(runtime, "find_jemalloc", lambda: None)
    monkeypatch.setattr(runtime, "jemalloc_loaded", lambda: False)
    assert runtime.should_reexec_with_jemalloc({}) is False


def test_maybe_reexec_never_execs_when_not_needed(monkeypatch):
    monkeypatch.setattr(runtime, "should_reexec_with_jemalloc", lambda env=None: False)
    monkeypatch.setattr(os, "execve", lambda *a: pytest.fail("must not exec"))
    runtime.maybe_reexec_with_jemalloc()


def test_cli_main_with_argv_never_reexecs(monkeypatch):
    from cyclescan.cli import main as cli_main

    monkeypatch.setattr(runtime, "maybe_reexec_with_jemalloc", lambda: pytest.fail("library call must not exec"))
    with pytest.raises(SystemExit):
        cli_main.main(["benchmark", "--help"])


def test_prepare_process_env_keeps_user_setting():
    env = {"OMP_WAIT_POLICY": "ACTIVE"}
    runtime.prepare_process_env(env)
    assert env["OMP_WAIT_POLICY"] == "ACTIVE"
    env = {}
    runtime.prepare_process_env(env)
    assert env["OMP_WAIT_POLICY"] == "PASSIVE"


def test_free_cores_subtracts_load(monkeypatch):
    monkeypatch.setattr(os, "getloadavg", lambda: (0.1, 0.0, 0.0))
    assert runtime.free_cores(8) == 8
    monkeypatch.setattr(os, "getloadavg", lambda: (3.0, 0.0, 0.0))
    assert runtime.free_cores(8) == 5
    monkeypatch.setattr(os, "getloadavg", lambda: (50.0, 0.0, 0.0))
    assert runtime.free_cores(8) == 1


def test_configure_runtime_sets_threads():
    before = torch.get_num_threads()
    try:
        s = runtime.configure_runtime(num_threads=1)
        assert s.num_threads == 1 and torch.get_num_threads() == 1 and s.mkldnn_enabled
    finally:
        torch.set_num_threads(before)
        torch.set_flush_denormal(False)


def test_resolve_precision_is_the_nets_rule(monkeypatch):
    """perf.runtime delegates to nets.precision (one rule): 'auto' follows bf16 support, explicit wins."""
    from cyclescan.nets import precision

    assert runtime.resolve_precision("fp32") == "fp32"
    assert runtime.resolve_precision("bf16") == "bf16"  # explicit request is honoured
    monkeypatch.setattr(precision, "bf16_fast", lambda device_type="cpu": False)
    assert runtime.resolve_precision("auto") == "fp32" and not runtime.bf16_is_fast()
    monkeypatch.setattr(precision, "bf16_fast", lambda device_type="cpu": True)
    assert runtime.resolve_precision("auto") == "bf16" and runtime.bf16_is_fast("cpu")
    assert runtime.resolve_precision("auto", "cuda:0") == "bf16"
    with pytest.raises(ValueError):
        runtime.resolve_precision("fp16")


def test_machine_info_has_the_facts():
    info = runtime.machine_info()
    for key in ("cpu_model", "physical_cores", "torch_version", "onednn_version", "isa", "native_bf16",
                "jemalloc_loaded"):
        assert key in info
    assert info["torch_version"] == torch.__version__
    assert info["isa"] == torch.backends.cpu.get_cpu_capability()
    assert info["physical_cores"] >= 1
