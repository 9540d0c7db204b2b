"""One typed configuration for everything: data, networks, losses, optimizer, training, inference.

Each component declares a dataclass of its settings; ``Config`` composes them. A config is loaded
from YAML, overridden with ``--set section.key=value``, validated *before* anything runs (unknown
key, wrong type and out-of-range values raise ConfigError with the offending key), and saved into
every run directory and checkpoint (``Config.to_dict``).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional

import yaml

from cyclescan.errors import ConfigError


def _range(lo: float | None = None, hi: float | None = None, help: str = "") -> dict:
    return {"lo": lo, "hi": hi, "help": help}


def _f(default: Any, lo: float | None = None, hi: float | None = None, help: str = "") -> Any:
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=_range(lo, hi, help))
    return field(default=default, metadata=_range(lo, hi, help))


@dataclass
class DomainsConfig:
    a: str = _f("a", help="name of domain A (e.g. ciss)")
    b: str = _f("b", help="name of domain B (e.g. dess)")


@dataclass
class DataConfig:
    patch_size: list[int] = _f([20, 256, 256], 1, None, "training patch (slices, rows, cols)")
    norm_lower_percentile: float = _f(0.5, 0.0, 50.0, "lower percentile mapped to -1")
    norm_upper_percentile: float = _f(99.5, 50.0, 100.0, "upper percentile mapped to +1")
    norm_foreground_mask: bool = _f(True, help="compute percentiles inside a foreground mask")
    target_spacing: Optional[list[float]] = _f(None, 0.0, None, "resample to this spacing (mm, D H W); null = off")
    echo: Optional[int] = _f(None, 1, None, "echo to use from multi-echo DICOM / 4D inputs")
    foreground_sampling: float = _f(0.8, 0.0, 1.0, "probability a patch is centred on foreground")
    flip_prob: float = _f(0.5, 0.0, 1.0, "probability of each in-plane flip (train only)")
    intensity_jitter: float = _f(0.05, 0.0, 1.0, "max +- scale/shift jitter of the tissue in normalized units; air stays at -1 (train only)")
    patches_per_volume: int = _f(4, 1, None, "training patches drawn per volume per epoch")
    val_patches_per_volume: int = _f(1, 1, None, "deterministic validation patches per volume")
    cache: Literal["memory", "disk", "none"] = _f("memory", help="cache of normalized volumes")
    num_workers: int = _f(1, 0, 64, "DataLoader worker processes")
    orientation: str = _f("RIP", help="canonical internal orientation: axis codes of (D,H,W), e.g. RIP = sagittal, superior at top")
    cache_dir: Optional[str] = _f(None, help="folder for data.cache=disk (.npy files); null = a temporary folder")
    standardize: bool = _f(False, help="match each volume's foreground histogram to its domain's training "
                           "quantiles after normalization (training and translation; data/histogram.py)")
    pad_multiple: int = _f(1, 1, 256, "pad each prepared volume so (D,H,W) are multiples of this (1 = only pad up to patch size)")
    bias_correction: Literal["none", "n4"] = _f("none", help="n4: divide every volume by its N4 bias-field estimate "
                                                "before normalization (training and translation) and multiply "
                                                "the translation by the input's (data/bias.py)")
    n4_shrink: list[int] = _f([1, 4, 4], 1, 16, "N4 fit on the volume shrunk by these factors (D, H, W)")
    n4_iterations: list[int] = _f([50, 50, 30], 1, 1000, "N4 maximum iterations per fitting level")


@dataclass
class GeneratorConfig:
    arch: Literal["unet", "resnet"] = _f("unet", help="generator architecture")
    base_channels: int = _f(32, 1, 1024, "channels of the first level")
    depth: int = _f(4, 1, 8, "U-Net levels (downsamplings) / ResNet downsamplings")
    n_res_blocks: int = _f(6, 0, 32, "residual blocks (resnet only)")
    upsample: Literal["interp", "transpose"] = _f("interp", help="interp+conv (no checkerboard) or transposed conv (report)")
    norm: Literal["instance", "none"] = _f("instance", help="normalization layer")
    min_depth: int = _f(4, 3, None, "never pool the slice axis below this many slices")
    air_gate: bool = _f(True, help="source air (normalization floor) stays air in the output (nets/gate.py)")
    air_gate_margin: float = _f(0.02, 0.0, 1.0, "model-space distance above -1 still counted as air by the gate")
    intensity_branch: int = _f(0, 0, 256, "hidden channels of a per-voxel MLP of the raw input added to the "
                               "output logits (nets/intensity.py); 0 = off")
    histogram_base: bool = _f(False, help="output = tanh(atanh(training-histogram map of the input) + network): "
                              "the generator learns a correction of the monotone map (nets/quantile_map.py)")
    detail_sigma_vox: Optional[list[float]] = _f(None, 0.0, 10.0, "experimental: ratio detail transfer inside the "
                                                 "generator during training (nets/detail_stage.py), Gaussian sigma per "
                                                 "axis in voxels; measured on the demo recipe (3 seeds): CISS->DESS equal, "
                                                 "DESS->CISS -0.06 SSIM vs the post-process (infer.detail_sigma); null = off")
    output: Literal["tanh", "log_ratio"] = _f(
        "tanh", help="tanh: output = tanh(network); log_ratio (experimental): output = source x exp(network), "
        "the network predicts the per-voxel log signal ratio, keeping the source's bias field and texture "
        "(nets/log_ratio.py); measured: helps paired training, unpaired CycleGAN training stays at the identity")


@dataclass
class DiscriminatorConfig:
    base_channels: int = _f(64, 1, 1024, "channels of the first layer")
    n_layers: int = _f(3, 1, 6, "strided conv layers")
    dropout: float = _f(0.0, 0.0, 0.9, "dropout after each block (report: 0.5)")
    spectral_norm: bool = _f(False, help="spectral normalization on convs")
    min_depth: int = _f(4, 3, None, "never stride the slice axis below this many slices")
    positions: bool = _f(False, help="experimental: give each discriminator the patch's position as 3 extra "
                         "input channels (slice, row, column of every voxel; the volume's foreground box mapped "
                         "to [-1, 1]; data/patches.py position_map); measured on the demo recipe (2 seeds): "
                         "within the seed spread, fluid and ACL levels unchanged (docs/results.md section 5)")


@dataclass
class LossConfig:
    gan_mode: Literal["lsgan", "bce", "hinge"] = _f("lsgan", help="adversarial loss")
    lambda_cycle: float = _f(10.0, 0.0, None, "weight of the L1 cycle loss")
    identity_weight: float = _f(0.5, 0.0, None, "identity L1 weight as a fraction of lambda_cycle (0 disables)")
    histogram_prior_weight: float = _f(
        0.0, 0.0, None,
        "L1 pull of each generator's output toward the monotone histogram mapping of its input "
        "(training quantiles of the two domains; train/prior.py), a fraction of lambda_cycle (0 disables)")
    band_negative_weight: float = _f(
        0.0, 0.0, None,
        "experimental: weight of an extra discriminator term that calls real patches with one random "
        "intensity band scaled (x1.5-4 darker or brighter) fake (train/negatives.py); 0 disables; measured 1 "
        "on the demo recipe (2 seeds): within the seed spread (docs/results.md section 5)")


@dataclass
class OptimConfig:
    lr: float = _f(2e-4, 0.0, 1.0, "Adam learning rate (G and D)")
    d_lr_factor: float = _f(1.0, 0.0, 100.0, "the discriminators' learning rate is lr x this (two time-scale "
                            "update rule, Heusel et al. 2017; 1 = the original CycleGAN); measured x4 on the demo recipe (2 seeds): "
                            "within the seed spread (docs/results.md section 5)")
    beta1: float = _f(0.5, 0.0, 1.0, "Adam beta1")
    beta2: float = _f(0.999, 0.0, 1.0, "Adam beta2")
    decay_epochs: Optional[int] = _f(None, 0, None, "linear LR decay to 0 over the last N epochs; null = half")


@dataclass
class TrainConfig:
    epochs: int = _f(100, 1, None, "total epochs")
    steps_per_epoch: Optional[int] = _f(None, 1, None, "cap on steps per epoch; null = one pass")
    batch_size: int = _f(1, 1, None, "patches per step")
    pool_size: int = _f(50, 0, None, "image pool for D updates (0 disables)")
    precision: Literal["auto", "fp32", "bf16"] = _f("auto", help="autocast precision; auto = bf16 only where bf16 convs are fast (AVX512-BF16/AMX, CUDA), else fp32. bf16 keeps depth<=2 convs in fp32")
    deterministic: bool = _f(False, help="deterministic algorithms (bitwise resume)")
    seed: int = _f(0, 0, 2**63 - 1, "random seed")
    val_every: int = _f(1, 1, None, "validate every N epochs")
    checkpoint_every: int = _f(10, 1, None, "keep epoch_NNNN.pt every N epochs")
    sample_every: int = _f(1, 1, None, "write samples every N epochs")
    selection_metric: Literal["auto", "kl_cycle", "ssim"] = _f("auto", help="best.pt rule; auto = ssim if val is paired")
    early_stop_patience: Optional[int] = _f(None, 1, None, "stop after N validations without improvement")
    num_threads: Optional[int] = _f(None, 1, 256, "torch threads; null = all cores")
    device: Literal["auto", "cpu", "cuda"] = _f("auto", help="compute device")
    channels_last: bool = _f(True, help="channels_last_3d memory format where it helps")


@dataclass
class InferConfig:
    window: Optional[list[int]] = _f(None, 1, None, "sliding window (slices, rows, cols); null = patch_size")
    overlap: float = _f(0.5, 0.0, 0.95, "window overlap fraction")
    blend: Literal["gaussian", "constant"] = _f("gaussian", help="window blending")
    batch_size: int = _f(1, 1, None, "windows per forward pass")
    precision: Literal["auto", "fp32", "bf16"] = _f("auto", help="inference precision; auto = bf16 only where fast")
    detail_sigma: float = _f(1.25, 0.0, 10.0, "ratio detail transfer (infer/detail.py): Gaussian width of the "
                             "target/source ratio field in finest-voxel units; the output keeps the source's "
                             "multiplicative fine structure at the model's local level; 0 = raw generator output")


@dataclass
class Config:
    domains: DomainsConfig = field(default_factory=DomainsConfig)
    data: DataConfig = field(default_factory=DataConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    infer: InferConfig = field(default_factory=InferConfig)

    # ----------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def save(self, path: str | Path) -> None:
        from cyclescan.io.atomic import atomic_write_text

        atomic_write_text(path, self.to_yaml())

    @classmethod
    def from_dict(cls, data: dict | None) -> "Config":
        cfg = _build(cls, data or {}, prefix="")
        cfg.validate()
        return cfg

    def validate(self) -> None:
        for section in dataclasses.fields(self):
            _validate_section(getattr(self, section.name), section.name)
        d = self.data
        if len(d.patch_size) != 3:
            raise ConfigError("data.patch_size: expected 3 integers (slices, rows, cols)")
        if d.norm_lower_percentile >= d.norm_upper_percentile:
            raise ConfigError("data.norm_lower_percentile must be below data.norm_upper_percentile")
        if d.target_spacing is not None and len(d.target_spacing) != 3:
            raise ConfigError("data.target_spacing: expected 3 numbers (mm) or null")
        if len(d.n4_shrink) != 3:
            raise ConfigError("data.n4_shrink: expected 3 integers (D, H, W)")
        if not d.n4_iterations:
            raise ConfigError("data.n4_iterations: expected at least one level")
        axes = sorted("LRAPSI".index(c) // 2 for c in d.orientation.upper() if c in "LRAPSI")
        if len(d.orientation) != 3 or axes != [0, 1, 2]:
            raise ConfigError(f"data.orientation: {d.orientation!r} is not an axis code such as RIP or RAS "
                              "(one letter from each of L/R, A/P, S/I)")
        if self.infer.window is not None and len(self.infer.window) != 3:
            raise ConfigError("infer.window: expected 3 integers or null")
        if self.domains.a == self.domains.b:
            raise ConfigError("domains.a and domains.b must differ")
        if self.generator.output == "log_ratio" and self.generator.histogram_base:
            raise ConfigError("generator.output=log_ratio and generator.histogram_base exclude each other "
                              "(both define what the network's output is added to)")

    def with_overrides(self, overrides: list[str]) -> "Config":
        """Apply ``section.key=value`` strings (value parsed as YAML) and re-validate."""
        data = self.to_dict()
        for item in overrides:
            if "=" not in item:
                raise ConfigError(f"--set {item!r}: expected section.key=value")
            key, raw = item.split("=", 1)
            parts = key.strip().split(".")
            if len(parts) != 2:
                raise ConfigError(f"--set {key!r}: expected section.key (e.g. train.epochs)")
            section, name = parts
            if section not in data or not isinstance(data[section], dict):
                raise ConfigError(f"--set {key!r}: unknown section {section!r}")
            if name not in data[section]:
                raise ConfigError(f"--set {key!r}: unknown key {name!r} in section {section!r}")
            try:
                data[section][name] = yaml.safe_load(raw)
            except yaml.YAMLError as exc:
                raise ConfigError(f"--set {key!r}: cannot parse value {raw!r}") from exc
        return Config.from_dict(data)

    def decay_epochs(self) -> int:
        n = self.optim.decay_epochs
        return self.train.epochs // 2 if n is None else min(n, self.train.epochs)

    def window(self) -> list[int]:
        return list(self.infer.window or self.data.patch_size)


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Load a YAML config (missing keys take defaults) and apply ``--set`` overrides."""
    data: dict = {}
    if path is not None:
        p = Path(path)
        if p.is_dir():
            raise ConfigError(f"{p}: is a folder, not a config file")
        if not p.is_file():
            raise ConfigError(f"config file not found: {p}")
        try:
            data = yaml.safe_load(p.read_text()) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{p}: not valid YAML ({exc.__class__.__name__})") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"{p}: top level must be a mapping of sections")
    try:
        cfg = Config.from_dict(data)
    except ConfigError as exc:
        if path is None:
            raise
        raise ConfigError(f"{path}: {exc}") from exc  # name the file that holds the bad key
    return cfg.with_overrides(overrides or [])


# ---------------------------------------------------------------------------------------------
# Hand-written strict builder: pydantic would do this, but it is not otherwise a dependency and
# the rules here are small (unknown key, type, range), with messages naming the dotted key.


def _build(cls: type, data: Any, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"unknown config key {prefix}{unknown[0]!s} (known: {', '.join(sorted(names))})")
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        tp = hints[f.name]
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(tp):
            kwargs[f.name] = _build(tp, data[f.name], key + ".")
        else:
            kwargs[f.name] = _coerce(tp, data[f.name], key)
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, key)
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{key}: {value!r} is not one of {', '.join(map(str, args))}")
        return value
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return [_coerce(args[0], v, f"{key}[{i}]") for i, v in enumerate(value)]
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{key}: unsupported type {tp}")  # pragma: no cover - schema bug


def _validate_section(obj: Any, name: str) -> None:
    for f in dataclasses.fields(obj):
        lo, hi = f.metadata.get("lo"), f.metadata.get("hi")
        value = getattr(obj, f.name)
        values = value if isinstance(value, list) else [value]
        for v in values:
            if v is None or isinstance(v, (bool, str)):
                continue
            if lo is not None and v < lo:
                raise ConfigError(f"{name}.{f.name}: {v} is below the minimum {lo}")
            if hi is not None and v > hi:
                raise ConfigError(f"{name}.{f.name}: {v} is above the maximum {hi}")


def describe() -> list[tuple[str, Any, str]]:
    """(dotted key, default, help) for every setting: the key table of docs/training.md
    (``python -m cyclescan.config`` prints it; tests/test_docs_config.py keeps the two equal)."""
    rows = []
    cfg = Config()
    for section in dataclasses.fields(cfg):
        sub = getattr(cfg, section.name)
        for f in dataclasses.fields(sub):
            rows.append((f"{section.name}.{f.name}", getattr(sub, f.name), f.metadata.get("help", "")))
    return rows


def choices() -> dict[str, tuple[Any, ...]]:
    """Dotted key -> allowed values, for every ``Literal``-typed setting."""
    out = {}
    for section in dataclasses.fields(Config):
        hints = typing.get_type_hints(typing.get_type_hints(Config)[section.name])
        for name, hint in hints.items():
            parts = (hint,) if typing.get_origin(hint) is typing.Literal else typing.get_args(hint)  # Optional[...]
            lits = [a for a in parts if typing.get_origin(a) is typing.Literal]
            if lits:
                out[f"{section.name}.{name}"] = tuple(v for lit in lits for v in typing.get_args(lit))
    return out


def markdown_table() -> str:
    """The ``describe()`` rows (+ allowed values) as the markdown table docs/training.md carries."""
    def cell(v: Any) -> str:
        return str(v).replace("|", "\\|")
    allowed = choices()
    lines = ["| key | default | what |", "| --- | --- | --- |"]
    for k, d, h in describe():
        extra = f" (one of: {', '.join(f'`{v}`' for v in allowed[k])})" if k in allowed else ""
        lines.append(f"| `{k}` | `{cell(d)}` | {cell(h)}{extra} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
