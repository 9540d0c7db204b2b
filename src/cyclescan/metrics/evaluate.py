"""`cyclescan evaluate`: run a checkpoint over paired test volumes and score it beside the baselines.

For every source volume whose file name also exists in the target folder (a paired set such as the
phantom's test set), in one run and on the same inputs:

- **model**: ``infer.translate_volume`` with the checkpoint's generator for the direction;
- **identity** and **histmatch** baselines (``metrics.baselines``);
- **model_raw** and **histmatch_detail** when the model row gets the ratio detail transfer
  (``infer.detail_sigma`` > 0, infer/detail.py): the generator's output without the transfer (the
  same generator pass, so both rows come from one translation), and histogram matching put on the
  target scale with the target domain's stats, then the same transfer at the same width. Together
  they tell whether a gain comes from the network or from the post-process alone, and whether the
  transfer helps this model at all (it costs a generator that already draws sharp borders).

Scores per method and per truth (the given ``target`` and, if given, the noise-free ``clean``
target, which becomes the headline truth): the report's histogram KL (``metrics.kl``; both volumes
in [-1, 1] model space, P = real target normalized by its own stats, Q = the method's output in
model space: the generator's raw output, the normalized source, the histogram-matched source),
paired PSNR/SSIM/MAE/NCC in the [0, 1] metric space inside the truth's foreground mask
(``metrics.paired``) and, with labels, per-tissue signal errors in signal space (scanner units over
the volume's own upper percentile; ``metrics.tissue``).
"""

from __future__ import annotations

import datetime as _dt
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from cyclescan.errors import InputError
from cyclescan.io.nifti import volume_stem
from cyclescan.metrics import baselines as bl
from cyclescan.metrics.kl import histogram_kl, normalized_histogram
from cyclescan.metrics.methods import fg_raw, foreground_or_all, method_outputs, own_norm, signal_space
from cyclescan.metrics.paired import paired_scores
from cyclescan.metrics.results import FORMAT, FORMAT_VERSION, METHODS, summarize
from cyclescan.metrics.tissue import tissue_errors

METRIC_SPACE = (
    "each volume normalized by its own percentile stats (data.norm_*_percentile, foreground) to "
    "[-1,1], mapped to [0,1]; paired metrics inside the truth's foreground mask; PSNR data range 1"
)


@dataclass
class EvalInputs:
    """What to evaluate. Folders hold NIfTI files / DICOM series; pairing is by file name."""

    checkpoint: Path
    direction: str
    source: Path
    target: Path
    labels: Optional[Path] = None
    clean_target: Optional[Path] = None
    reference: Optional[Path] = None  # training volumes of the target domain (else checkpoint quantiles)
    label_map: Optional[dict[str, int]] = None
    save_translated: Optional[Path] = None  # write the model's translations here (NIfTI)
    device: Optional[str] = None
    precision: Optional[str] = None
    source_echo: Optional[int] = None  # echo of multi-echo DICOM / 4D NIfTI sources (1-based)
    target_echo: Optional[int] = None  # e.g. echo 1 -> echo 8 of the same MESE series
    detail_sigma: Optional[float] = None  # infer.detail_sigma override (None = the checkpoint's)


def pair_volumes(source: Path, target: Path) -> list[tuple[str, Path, Path]]:
    """(key, source path, target path) for every file name present in both folders, sorted."""
    return pairing(source, target)[0]


def pairing(source: Path, target: Path) -> tuple[list[tuple[str, Path, Path]], list[str], list[str]]:
    """Each folder listed once: (pairs as in ``pair_volumes``, names only in ``source``, names only
    in ``target``). InputError when nothing pairs."""
    src, tgt = _by_key(source), _by_key(target)
    keys = sorted(set(src) & set(tgt))
    if not keys:
        raise InputError(
            f"{source} and {target}: no paired volumes (paired metrics need the same file names in both folders)"
        )
    return [(k, src[k], tgt[k]) for k in keys], sorted(set(src) - set(tgt)), sorted(set(tgt) - set(src))


def _by_key(folder: Path) -> dict[str, Path]:
    """The volumes of ``folder`` by pairing key (``io.nifti.volume_stem``: the file name without
    .nii/.nii.gz, any case; the folder name for DICOM).

    Two volumes with one key (``a.nii`` beside ``a.nii.gz``, or ``s1/knee.nii.gz`` and
    ``s2/knee.nii.gz`` in a searched tree) would make the pairing depend on listing order, so they
    are an InputError naming both.
    """
    from cyclescan.io import list_volumes

    found: dict[str, Path] = {}
    for p in list_volumes(folder):
        key = volume_stem(p)
        if key in found:
            raise InputError(f"{folder}: two volumes share the pairing name {key!r} ({found[key]} and {p}); "
                             "paired evaluation matches volumes by file name, so rename one")
        found[key] = p
    return found


def as_labels(array: np.ndarray, path: Path, label_map: Optional[dict[str, int]]) -> np.ndarray:
    """A label volume's ``array`` as int32; InputError naming ``path`` when it is not a label map
    (e.g. an intensity volume given as --labels): non-integer values, or values outside the map."""
    from cyclescan.metrics.tissue import default_label_map

    a = np.asarray(array)
    labels = np.rint(a).astype(np.int32)
    if not np.allclose(a, labels):
        raise InputError(f"{path}: not a label map (non-integer values); --labels needs integer tissue labels")
    known = set((label_map or default_label_map()).values()) | {0}
    extra = sorted(set(np.unique(labels).tolist()) - known)
    if extra:
        raise InputError(f"{path}: not a label map for these labels: values {extra[:5]}{' ...' if len(extra) > 5 else ''} "
                         "are not in the label map (--label-map JSON names -> values)")
    return labels


def find_by_key(volumes: dict[str, Path], folder: Path, key: str, what: str) -> Path:
    """The volume named ``key`` among ``volumes`` (``_by_key(folder)``); InputError naming ``what`` if absent."""
    if key not in volumes:
        raise InputError(f"{folder}: no {what} volume named {key!r} (paired by file name with the source)")
    return volumes[key]


def evaluate(inputs: EvalInputs, progress: Optional[Callable[[str], None]] = None,
             warn: Optional[Callable[[str], None]] = None) -> dict[str, Any]:
    """Run the evaluation; returns the metrics document (see ``metrics.results``), not yet written.

    ``progress`` is called with one line per finished subject; ``warn`` once per folder whose
    volumes have no partner (left out), before anything heavy is loaded.
    """
    import torch

    from cyclescan.data.prepare import prepare_volume
    from cyclescan.infer.translate import apply_post_detail, post_detail_sigma, source_reference, translate_volume
    from cyclescan.io import read_volume
    from cyclescan.train.checkpoint import build_generator_from_checkpoint, checkpoint_config, load_checkpoint

    t_start = time.perf_counter()
    if inputs.direction not in ("a2b", "b2a"):
        raise InputError(f"unknown direction {inputs.direction!r} (expected a2b or b2a)")
    pairs, only_src, only_tgt = pairing(inputs.source, inputs.target)
    for folder, names in ((inputs.source, only_src), (inputs.target, only_tgt)):
        if names and warn is not None:  # not an error (a target folder may hold more), but never silent
            shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            warn(f"{len(names)} volume(s) in {folder} have no partner of the same name and are left out: {shown}")
    ckpt = load_checkpoint(inputs.checkpoint)
    cfg = checkpoint_config(ckpt)
    if inputs.precision:
        cfg.infer.precision = inputs.precision  # type: ignore[assignment]
    if inputs.detail_sigma is not None:  # validated like --set (range, type): one clear error
        cfg = cfg.with_overrides([f"infer.detail_sigma={inputs.detail_sigma}"])
    src_key, tgt_key = ("a", "b") if inputs.direction == "a2b" else ("b", "a")
    domains = {"a": cfg.domains.a, "b": cfg.domains.b}
    target_stats = _norm_stats(ckpt, tgt_key)
    if inputs.reference is not None:
        reference = bl.reference_from_dir(inputs.reference, cfg.data.norm_lower_percentile,
                                          cfg.data.norm_upper_percentile, cfg.data.norm_foreground_mask)
    else:
        reference = bl.reference_from_checkpoint(ckpt, tgt_key)
    device = _pick_device(inputs.device)
    generator = build_generator_from_checkpoint(ckpt, inputs.direction).to(device)
    std_ref = source_reference(ckpt, cfg, inputs.direction)

    # The raw row and the baseline with the model's post-process, only when translate_volume applies it.
    detail_sigma = post_detail_sigma(cfg)
    methods = (("model", "model_raw", *METHODS[1:], "histmatch_detail") if detail_sigma > 0 else METHODS)
    cfg_raw = cfg.with_overrides(["infer.detail_sigma=0"]) if detail_sigma > 0 else cfg
    clean_vols = _by_key(inputs.clean_target) if inputs.clean_target else {}
    label_vols = _by_key(inputs.labels) if inputs.labels else {}
    truths = (["clean"] if inputs.clean_target else []) + ["target"]
    hist_acc: dict[str, list[np.ndarray]] = {}
    subjects = []
    examples = None
    for key, src_path, tgt_path in pairs:
        src = read_volume(src_path, echo=inputs.source_echo)
        truth_vols = {"target": read_volume(tgt_path, echo=inputs.target_echo)}
        if inputs.clean_target:
            truth_vols["clean"] = read_volume(find_by_key(clean_vols, inputs.clean_target, key, "clean target"),
                                              echo=inputs.target_echo)
        labels = None
        if inputs.labels:
            label_path = find_by_key(label_vols, inputs.labels, key, "label")
            label_vol = read_volume(label_path)
            _check_aligned(src, label_vol, src_path, "label")
            labels = as_labels(label_vol.array, label_path, inputs.label_map)
        for name, vol in truth_vols.items():
            _check_aligned(src, vol, src_path, name)

        # Prepared once: the generator's input, and its N4 field (None without bias correction) for
        # the baselines, which share the model's bias handling (metrics/methods.py).
        prep = prepare_volume(src.name, cfg.data, source=src)
        with torch.inference_mode():  # the raw translation; the model row adds translate's own last step
            raw = translate_volume(src, generator, cfg_raw, target_stats, standardize_to=std_ref, device=device,
                                   prep=prep)
        translated = apply_post_detail(src, raw, cfg, target_stats)
        bias = prep.bias_to_source()
        if inputs.save_translated is not None:
            from cyclescan.io.nifti import write_nifti

            inputs.save_translated.mkdir(parents=True, exist_ok=True)
            write_nifti(translated, inputs.save_translated / f"{key}.nii.gz")
        outputs = method_outputs(src.array, translated.array, target_stats, reference, cfg.data,
                                  signal=labels is not None,
                                  detail=(detail_sigma, src.spacing) if detail_sigma > 0 else None,
                                  raw=raw.array if detail_sigma > 0 else None, bias=bias)
        scores: dict[str, dict[str, dict[str, float]]] = {}
        truth01: dict[str, np.ndarray] = {}
        for truth in truths:
            t_arr = truth_vols[truth].array
            try:
                t_fg = fg_raw(t_arr)
                t_norm = own_norm(t_arr, cfg.data, t_fg)
            except InputError as exc:  # e.g. a constant (all-zero) truth: name the file
                raise InputError(f"{truth_vols[truth].name}: {exc}") from exc
            t01 = truth01[truth] = (t_norm + 1.0) * 0.5
            mask = foreground_or_all(t_fg)
            scores[truth] = {}
            t_sig = signal_space(t_arr, cfg.data, t_fg) if labels is not None else None
            for method, (m_norm, m01, m_sig) in outputs.items():
                s = {"kl": histogram_kl(t_norm, m_norm), **paired_scores(m01, t01, mask).to_dict()}
                if labels is not None:
                    s.update(tissue_errors(m_sig, t_sig, labels, inputs.label_map))
                scores[truth][method] = s
            hist_acc.setdefault(truth, []).append(normalized_histogram(t_norm))
        for method, (m_norm, _, _) in outputs.items():
            hist_acc.setdefault(method, []).append(normalized_histogram(m_norm))
        if examples is None:
            examples = _mid_slices(outputs, truth01[truths[0]])
        subjects.append({"name": key, "scores": scores})
        if progress is not None:
            head = scores[truths[0]]
            progress(f"{key}: " + "  ".join(f"{m} SSIM {head[m]['ssim']:.3f} PSNR {head[m]['psnr']:.2f}" for m in methods))

    metrics = ["kl", "psnr", "ssim", "mae", "ncc"]
    if inputs.labels:
        metrics += ["cartilage_rel_error", "fluid_rel_error", "acl_rel_error", "acl_norm_rel_error",
                    "acl_norm_truth", "acl_norm_pred"]
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "checkpoint": str(inputs.checkpoint),
        "epoch": int(ckpt.get("epoch", 0)),
        "step": int(ckpt.get("step", 0)),
        "direction": inputs.direction,
        "source_domain": domains[src_key],
        "target_domain": domains[tgt_key],
        "inputs": {
            "source": str(inputs.source), "target": str(inputs.target),
            "clean_target": str(inputs.clean_target) if inputs.clean_target else None,
            "labels": str(inputs.labels) if inputs.labels else None,
            "reference": str(inputs.reference) if inputs.reference else "checkpoint",
            "source_echo": inputs.source_echo, "target_echo": inputs.target_echo,
            "detail_sigma": float(cfg.infer.detail_sigma),  # the model row's ratio detail transfer
            "bias_correction": cfg.data.bias_correction,     # model and histmatch (metrics/methods.py)
        },
        "metric_space": METRIC_SPACE,
        "methods": list(methods),
        "truths": truths,
        "metrics": metrics,
        "subjects": subjects,
        "summary": summarize(subjects),
        "histograms": {"range": [-1.0, 1.0], "bins": 256,
                       **{k: np.mean(v, axis=0).tolist() for k, v in hist_acc.items()}},
        "examples": examples,
        "seconds": time.perf_counter() - t_start,
    }


def save_examples(result: dict[str, Any], json_path: Path) -> Optional[Path]:
    """Write ``result['examples']`` (mid-slices) to ``<stem>_examples.npz`` beside the JSON; record
    its file name in ``result['examples']``. Returns the path (None if there are no examples)."""
    from cyclescan.io.atomic import atomic_path

    ex = result.get("examples")
    if not isinstance(ex, dict):
        return None
    path = json_path.with_name(json_path.stem + "_examples.npz")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **{k: np.asarray(v, dtype=np.float32) for k, v in ex.items()})
    result["examples"] = path.name
    return path


# ---------------------------------------------------------------------------------------------


def _mid_slices(outputs: dict, truth01: np.ndarray) -> dict[str, np.ndarray]:
    """Middle slice (axis 0) of source, each method and the truth, in [0, 1] metric space.

    The source in metric space is the identity method's output (the source normalized by its own
    stats), so nothing is normalized again here."""
    d = truth01.shape[0] // 2
    ex = {"source": outputs["identity"][1][d], "truth": truth01[d]}
    ex.update({m: v[1][d] for m, v in outputs.items()})
    return ex


def _norm_stats(ckpt: dict[str, Any], key: str) -> Any:
    from cyclescan.data.normalize import NormStats

    try:
        return NormStats.from_dict(ckpt["norm"][key])
    except (KeyError, TypeError, ValueError) as exc:
        from cyclescan.errors import CheckpointError

        raise CheckpointError(f"{ckpt.get('_path', 'checkpoint')}: no normalization stats for domain {key!r}") from exc


def _check_aligned(src: Any, other: Any, src_path: Path, what: str) -> None:
    if other.shape != src.shape:
        raise InputError(f"{src_path}: shape {src.shape} differs from its {what} volume's {other.shape}; "
                         "paired metrics need voxel-aligned volumes")
    if not np.allclose(other.affine, src.affine, atol=1e-3):
        raise InputError(f"{src_path}: affine differs from its {what} volume's; paired metrics need voxel-aligned volumes")


def _pick_device(device: Optional[str]) -> str:
    import torch

    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device
