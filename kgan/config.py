"""Hyperparameters of a run: one flat dataclass, each value declared once.

Every field carries its help text, its allowed values or bounds, and its default; the
variants' defaults that differ from the baseline's live in `VARIANT_DEFAULTS`. The CLI
builds `kgan train`'s options from these declarations, `validate` checks them, and
`to_toml` writes exactly what `--config` reads back.

Precedence (`resolve`): variant defaults < preset < config file < explicit values.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from kgan.errors import KganError
from kgan.files import write_text_atomic

VARIANTS = ("dcgan", "wgangp")
LOSSES = ("bce", "wasserstein")
NORMS = ("batch", "instance", "layer", "none")
OPTIMIZERS = ("adam", "rmsprop")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
JIT_MODES = ("auto", "on", "off")
STRATEGIES = ("auto", "default", "mirrored", "multiworker")
BEST_BY = ("fid", "steering")  # what makes the best checkpoint (kgan.training.checkpoint.better)
IMAGE_SIZES = (32, 64, 128)
DIFF_AUGMENTATIONS = ("color", "translation", "cutout")  # DiffAugment's transforms (kgan.training.augment)
AUGMENTATIONS = (*DIFF_AUGMENTATIONS, "flip")  # flip: real images mirrored at random (StyleGAN's --mirror)

# What each variant changes from the baseline defaults below.
VARIANT_DEFAULTS: dict[str, dict[str, Any]] = {
    "dcgan": {},
    # Table 2: RMSProp 2e-4, InstanceNorm critic, penalty λ = 10 (WGAN-GP),
    # read as a proper WGAN-GP: linear critic with the Wasserstein loss.
    "wgangp": {"d_norm": "instance", "loss": "wasserstein", "gp_weight": 10.0, "optimizer": "rmsprop"},
}

# Named starting points; config files and flags override them.
PRESETS: dict[str, dict[str, Any]] = {
    "paper": {},
    # A small model that learns the synthetic avatars on 2 CPU cores in a few minutes.
    # Validation FID is off: 2000 Inception passes per epoch would dominate a CPU demo.
    # The critic at width 32: D runs three times a step, so its width sets most of the cost;
    # one more epoch makes up for the narrower critic (docs/experiments.md, the six-seed trial).
    # It ends with the test split scored in the avatar classifier's features, which ship with kgan.
    "quick": {
        "image_size": 32,
        "g_width": 48,
        "d_width": 32,
        "batch_size": 64,
        "epochs": 11,
        "fid_every": 0,
        "final_eval": "avatar",
    },
}


# Defaults that depend on another value: name → (the other, its default when the other is set).
# A steered run samples from G's moving average: its average scored far better than G itself
# (docs/experiments.md, "Steering"), an unsteered one's did not.
CONDITIONAL_DEFAULTS: dict[str, tuple[str, Any]] = {"ema": ("condition", 0.999)}


def param(
    default: Any,
    help: str,
    *,
    choices: tuple | None = None,
    min: float | None = None,
    above: float | None = None,
    below: float | None = None,
) -> Any:
    """A hyperparameter: its default, its help, and what values it allows
    (`choices`, or bounds: `min` ≤ value, `above` < value, value < `below`)."""
    bounds = {"choices": choices, "min": min, "above": above, "below": below}
    return dataclasses.field(default=default, metadata={"help": help, **bounds})


@dataclasses.dataclass
class TrainConfig:
    """Everything that decides what a run computes. Defaults: the paper's baseline (Table 1)."""

    variant: str = param("dcgan", "dcgan (Table 1) or wgangp (Table 2).", choices=VARIANTS)
    # Data
    data: str = param(
        "synthetic",
        "Prepared dataset folder, or 'synthetic' (the embedded avatars, cached in ~/.cache/kgan or $KGAN_CACHE_DIR).",
    )
    image_size: int = param(64, "Model resolution in pixels (paper: 64).", choices=IMAGE_SIZES)
    allow_upsample: bool = param(
        False, "Train at an --image-size larger than the prepared data's, enlarging every image (blurry)."
    )
    # Architecture (pytorch/examples DCGAN layout: ngf = ndf = 64)
    z_dim: int = param(100, "Noise size (paper: 100, Gaussian).", min=1)
    g_width: int = param(64, "Generator base width (ngf).", min=1)
    d_width: int = param(64, "Discriminator base width (ndf).", min=1)
    d_norm: str = param("batch", "Discriminator normalisation.", choices=NORMS)
    # Objective. loss="bce" keeps the paper's sigmoid D; "wasserstein" uses a linear critic.
    loss: str = param("bce", "bce (sigmoid D) or wasserstein (linear critic).", choices=LOSSES)
    gp_weight: float = param(0.0, "Gradient penalty λ (0: off).", min=0)
    n_critic: int = param(1, "D steps per G step, each on a fresh real batch.", min=1)
    condition: str = param(
        "",
        "Attributes to steer, e.g. hair_colour,eye_colour, or all: G and D take them as input "
        "(needs labelled data; empty: unconditional).",
    )
    aux_weight: float = param(
        3.0,
        "A conditional run's AC-GAN head on D: weight of the attribute loss D and G get from it "
        "(0: the projection alone).",
        min=0,
    )
    # Optimisation
    optimizer: str = param("adam", "adam or rmsprop.", choices=OPTIMIZERS)
    lr_g: float = param(2e-4, "Generator learning rate.", above=0)
    lr_d: float = param(2e-4, "Discriminator learning rate.", above=0)
    beta1: float = param(0.5, "Adam β1.", min=0, below=1)
    beta2: float = param(0.999, "Adam β2.", min=0, below=1)
    batch_size: int = param(128, "Batch size (paper: 128).", min=1)
    epochs: int = param(80, "Epochs to train (paper: at most 80).", min=1)
    steps_per_epoch: int = param(0, "Steps per epoch (0: one pass over the training split).", min=0)
    lr_decay_epochs: int = param(
        0, "Over the last N of --epochs, both learning rates fall linearly to zero (0: constant throughout).", min=0
    )
    ema: float = param(
        0.0, "Decay of the generator's moving average that samples, e.g. 0.999 (0: off, G samples).", min=0, below=1
    )
    init_from: str = param(
        "", "Start from another run's G and D (its best checkpoint) or an export's G: fine-tuning. Same shapes needed."
    )
    augment: str = param(
        "",
        "For small datasets, any of: flip (real images mirrored at random), color,translation,cutout "
        "(DiffAugment before every D call). Empty: off.",
    )
    # Validation FID (the paper selects by val FID after every epoch)
    fid_every: int = param(1, "Validation FID every N epochs (0: off).", min=0)
    fid_samples: int = param(2000, "Images per validation FID (paper: 2000).", min=2)
    patience: int = param(10, "Early stop after N epochs without a better checkpoint (0: never).", min=0)
    best_by: str = param(
        "fid",
        "What makes the best checkpoint: fid (the lowest validation FID) or steering (a run steered on the "
        "avatars' attributes: its worst-read attribute, ties by validation FID).",
        choices=BEST_BY,
    )
    time_budget: float = param(
        0.0,
        "Minutes of training (validation included) a run may take: it ends at the last epoch that fits (0: no limit).",
        min=0,
    )
    features: str = param("inception", "FID features: inception, random-inception-v3, avatar, or a model path.")
    final_eval: str = param(
        "",
        "When training ends, score the best checkpoint on the test split with these features "
        "(e.g. avatar: FID, precision, recall, attribute coverage; empty: off).",
    )
    inception: str = param(
        "",
        "Local copy of the FID Inception module [env var: KGAN_INCEPTION; else TF Hub's, cached in $TFHUB_CACHE_DIR].",
    )
    # Hardware: numeric precision, XLA, and how to spread over devices
    precision: str = param("float32", "float32, mixed_float16 or mixed_bfloat16.", choices=PRECISIONS)
    jit_compile: str = param("auto", "XLA: on, off, or auto (Keras decides: off on CPU).", choices=JIT_MODES)
    strategy: str = param(
        "auto",
        "auto (mirrored over >1 GPU), default (one device), mirrored, multiworker (TF_CONFIG).",
        choices=STRATEGIES,
    )
    # Reproducibility and bookkeeping
    seed: int = param(0, "Seed of weights, data order and noise.", min=0)
    deterministic: bool = param(
        False, "TensorFlow op determinism, for GPUs (on the CPU, runs repeat bit for bit without it)."
    )
    sample_count: int = param(64, "Images in the fixed-noise grid written every epoch (0: none).", min=0)
    keep_checkpoints: int = param(2, "Newest checkpoints kept (the best is always kept).", min=0)
    checkpoint_every: int = param(
        0, "Also a checkpoint every N steps within an epoch, so a crash loses at most N (0: at epoch ends).", min=0
    )
    log_every: int = param(50, "TensorBoard step scalars every N steps, besides each epoch's (0: off).", min=0)

    @classmethod
    def for_variant(cls, variant: str) -> TrainConfig:
        """The paper's defaults for one variant."""
        if variant not in VARIANT_DEFAULTS:
            raise KganError(f"unknown variant {variant!r}: choose one of {', '.join(VARIANTS)}")
        return cls(variant=variant, **VARIANT_DEFAULTS[variant])

    @classmethod
    def resolve(
        cls,
        variant: str | None = None,
        preset: str = "paper",
        file_values: dict[str, Any] | None = None,
        flags: dict[str, Any] | None = None,
    ) -> TrainConfig:
        """The config of a new run: variant defaults < preset < config file < flags (None: not given)."""
        file_values = file_values or {}
        flags = {name: value for name, value in (flags or {}).items() if value is not None}
        if preset not in PRESETS:
            raise KganError(f"unknown preset {preset!r}: choose one of {', '.join(PRESETS)}")
        chosen = flags.get("variant") or variant or file_values.get("variant", "dcgan")
        config = cls.for_variant(chosen).with_overrides(**PRESETS[preset])
        config = config.with_overrides(**file_values).with_overrides(**flags)
        given = {**PRESETS[preset], **file_values, **flags}
        for name, (condition, value) in CONDITIONAL_DEFAULTS.items():
            if name not in given and getattr(config, condition):
                config = config.with_overrides(**{name: value})
        return config.validate()

    def validate(self) -> TrainConfig:
        """Raise KganError naming the first bad value; return self for chaining."""
        for field in dataclasses.fields(self):
            problem = _out_of_bounds(field, getattr(self, field.name))
            if problem:
                raise KganError(f"{field.name} {problem}")
        augmentations(self.augment)  # raises on an unknown transform
        if self.time_budget and self.strategy == "multiworker":
            # Each worker's clock differs, and every worker must stop at the same step.
            raise KganError("--time-budget needs one process: use --epochs with --strategy multiworker")
        if self.lr_decay_epochs > self.epochs:
            raise KganError(
                f"--lr-decay-epochs {self.lr_decay_epochs} is longer than the run's {self.epochs} epochs: "
                "give at most --epochs"
            )
        if self.best_by == "steering" and not self.condition:
            raise KganError("--best-by steering reads back the attributes asked for: add --condition, or use fid")
        if self.best_by == "steering" and not self.fid_every:
            # Ties (the probe reads 500 images) go to the better FID, and every best record has one.
            raise KganError("--best-by steering chooses among validated epochs: give --fid-every 1 (or N)")
        if self.loss == "wasserstein" and self.d_norm == "batch" and self.gp_weight > 0:
            raise KganError(
                "the gradient penalty is taken per sample, which BatchNorm in the critic breaks: "
                "use --d-norm instance (or layer/none)"
            )
        return self

    def with_overrides(self, **overrides: Any) -> TrainConfig:
        """A copy with the non-None overrides applied (unknown names are an error)."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise KganError(f"unknown config key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        values = {k: v for k, v in overrides.items() if v is not None}
        return dataclasses.replace(self, **values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_toml(self) -> str:
        """Every value as TOML, in declaration order: a file `--config` accepts as it is."""
        return "".join(f"{name} = {_toml_value(value)}\n" for name, value in self.to_dict().items())

    def save(self, path: Path) -> None:
        write_text_atomic(path, json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: Path) -> TrainConfig:
        """Read a config saved by `save` (JSON) or written by hand (JSON or TOML)."""
        return cls.from_dict(read_config_file(path)).validate()

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        base = cls.for_variant(values.get("variant", "dcgan"))
        return base.with_overrides(**values)


def augmentations(policy: str) -> tuple[str, ...]:
    """--augment's "color,translation,cutout" → the transforms in canonical order; "" → none."""
    names = {name.strip() for name in policy.split(",") if name.strip()}
    unknown = sorted(names - set(AUGMENTATIONS))
    if unknown:
        raise KganError(f"--augment: unknown transform(s) {', '.join(unknown)}; choose from {', '.join(AUGMENTATIONS)}")
    return tuple(name for name in AUGMENTATIONS if name in names)


def diff_augmentations(policy: str) -> tuple[str, ...]:
    """The DiffAugment transforms of an --augment policy (what D's inputs go through)."""
    return tuple(name for name in augmentations(policy) if name in DIFF_AUGMENTATIONS)


def fields() -> tuple[dataclasses.Field, ...]:
    """The hyperparameters in declaration order, each with its help and bounds in `metadata`."""
    return dataclasses.fields(TrainConfig)


def variant_defaults(name: str) -> dict[str, Any]:
    """The default of hyperparameter `name` for each variant."""
    return {variant: getattr(TrainConfig.for_variant(variant), name) for variant in VARIANTS}


def _out_of_bounds(field: dataclasses.Field, value: Any) -> str | None:
    """What is wrong with `value` for `field`, or None."""
    meta = field.metadata
    if meta.get("choices") is not None and value not in meta["choices"]:
        return f"must be one of {', '.join(map(str, meta['choices']))}, got {value!r}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if meta.get("min") is not None and value < meta["min"]:
        return f"must be at least {meta['min']}, got {value}"
    if meta.get("above") is not None and value <= meta["above"]:
        return f"must be above {meta['above']}, got {value}"
    if meta.get("below") is not None and value >= meta["below"]:
        return f"must be below {meta['below']}, got {value}"
    return None


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value, ensure_ascii=False)  # a TOML basic string


def read_config_file(path: Path) -> dict[str, Any]:
    """Key/value pairs of a JSON or TOML config file; a bad file is a KganError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise KganError(f"cannot read config file {path}: {error.strerror}") from None
    try:
        values = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as error:
        raise KganError(f"config file {path} is not valid {path.suffix[1:] or 'JSON'}: {error}") from None
    if not isinstance(values, dict):
        raise KganError(f"config file {path} must hold a table of key = value pairs")
    return values
