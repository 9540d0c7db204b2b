"""Performance: runtime tuning and the ``cyclescan benchmark`` measurements.

* ``runtime``: threads (free cores), OpenMP policy, jemalloc detection / CLI re-exec,
  bf16-capability check (``resolve_precision``), machine facts.
* ``peak``: measured bf16 / fp32 matmul peak.
* ``bench_train``, ``bench_infer``, ``bench_data``: the three measurements (children processes
  where isolation matters); ``bench``: orchestration, JSON schema, table.
* ``bench_ddp``: torchrun data-parallel scaling check; ``dispatch``: which convs PyTorch's CPU
  dispatch sends to ``slow_conv3d`` (meta-device census, no compute).
"""
