"""Inference: whole-volume translation with a trained generator.

Public API (import from the modules; kept lazy so ``import cyclescan.infer`` stays cheap)::

    infer.translate.translate_volume(vol, generator, cfg, target_stats, *, divisor=None,
                                     standardize_to=None, device=None, progress=None) -> Volume
    infer.translate.source_reference(ckpt, cfg, direction) -> quantiles or None (data.standardize)
    infer.sliding.sliding_window_translate(volume, net, window, *, divisor, overlap, blend,
                                           batch_size, precision, device, ...) -> np.ndarray
    infer.engine.translate_files(inputs, checkpoint, direction, out_dir, *, fmt, echo,
                                 overrides, overwrite, device, ...) -> list[JobResult]
    infer.engine.target_stats_from_checkpoint(ckpt, direction) -> NormStats
"""
