"""Data pipeline: normalization, invertible preprocessing, caching, unpaired patch datasets.

Modules: ``normalize`` (NormStats, percentile window, foreground mask), ``spatial`` (resample/pad
records), ``prepare`` (PreparedVolume, prepare_volume), ``cache`` (VolumeCache), ``patches``
(crops, augmentation), ``datasets`` (UnpairedPatchDataset + re-exports), ``loader`` (build_loader,
DataWaitMeter).
"""
