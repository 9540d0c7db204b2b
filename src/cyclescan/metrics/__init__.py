"""Metrics: the report's histogram KL, paired metrics, per-tissue errors, baselines, evaluation.

Modules: ``kl`` (report KL), ``paired`` (PSNR/SSIM/MAE/NCC in the [0, 1] metric space),
``tissue`` (per-tissue signal errors), ``baselines`` (identity, histogram matching),
``evaluate`` (run a checkpoint over a paired test set), ``results`` (metrics.json/csv, table).
See docs/evaluation.md.
"""
