"""Hyperparameters of a run: one flat dataclass with the paper's defaults.

Precedence when building a config: variant defaults < config file < explicit overrides.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import tomllib

from kgan.errors import KganError

VARIANTS = ("dcgan", "wgangp")
LOSSES = ("bce", "wasserstein")
NORMS = ("batch", "instance", "layer", "none")
OPTIMIZERS = ("adam", "rmsprop")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
JIT_MODES = ("auto", "on", "off")
STRATEGIES = ("auto", "default", "mirrored", "multiworker")
IMAGE_SIZES = (32, 64, 128)

# Named starting points; flags and config files override them.
PRESETS: dict[str, dict] = {
    "paper": {},
    # A small model that learns the synthetic avatars on 2 CPU cores in a few minutes.
    # Validation FID is off: 2000 Inception passes per epoch would dominate a CPU demo.
    "quick": {"image_size": 32, "g_width": 48, "d_width": 48, "batch_size": 64, "epochs": 10, "fid_every": 0},
}


@dataclasses.dataclass
class TrainConfig:
    """Everything that decides what a run computes. Defaults: the paper's baseline (Table 1)."""

    variant: str = "dcgan"
    # Data
    data: str = "synthetic"
    image_size: int = 64
    # Architecture (pytorch/examples DCGAN layout: ngf = ndf = 64)
    z_dim: int = 100
    g_width: int = 64
    d_width: int = 64
    d_norm: str = "batch"
    # Objective. loss="bce" keeps the paper's sigmoid D; "wasserstein" uses a linear critic.
    loss: str = "bce"
    gp_weight: float = 0.0  # λ of the gradient penalty; 0 disables it
    n_critic: int = 1  # D updates per G update, each on a fresh real batch
    # Optimisation
    optimizer: str = "adam"
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    batch_size: int = 128
    epochs: int = 80
    steps_per_epoch: int = 0  # 0: one pass over the training split
    ema: float = 0.0  # decay of the generator's moving average; 0 disables it
    # Validation FID (the paper selects by val FID after every epoch)
    fid_every: int = 1  # epochs between validation FIDs; 0 disables them
    fid_samples: int = 2000  # generated images (and real ones) per validation FID
    patience: int = 10  # stop after this many epochs without a better val FID; 0 never stops
    features: str = "inception"  # "inception", "random-inception-v3" or a model path
    inception: str = ""  # a local copy of the FID Inception (else $KGAN_INCEPTION, else TF Hub)
    # Hardware: numeric precision, XLA, and how to spread over devices
    precision: str = "float32"
    jit_compile: str = "auto"  # "auto" lets Keras decide (off on CPU and under distribution)
    strategy: str = "auto"  # "auto": MirroredStrategy when more than one GPU is visible
    # Reproducibility and bookkeeping
    seed: int = 0
    deterministic: bool = False
    sample_count: int = 64  # images in the fixed-noise grid written every epoch
    keep_checkpoints: int = 2

    @classmethod
    def for_variant(cls, variant: str) -> TrainConfig:
        """The paper's defaults for one variant."""
        if variant == "dcgan":
            return cls(variant="dcgan")
        if variant == "wgangp":
            # Table 2: RMSProp 2e-4, InstanceNorm critic, penalty λ = 10 (WGAN-GP),
            # read as a proper WGAN-GP: linear critic with the Wasserstein loss.
            return cls(
                variant="wgangp",
                d_norm="instance",
                loss="wasserstein",
                gp_weight=10.0,
                optimizer="rmsprop",
            )
        raise KganError(f"unknown variant {variant!r}: choose one of {', '.join(VARIANTS)}")

    def validate(self) -> TrainConfig:
        """Raise KganError naming the first bad value; return self for chaining."""

        def check(ok: bool, message: str) -> None:
            if not ok:
                raise KganError(message)

        check(self.variant in VARIANTS, f"variant must be one of {VARIANTS}, got {self.variant!r}")
        check(self.loss in LOSSES, f"loss must be one of {LOSSES}, got {self.loss!r}")
        check(self.d_norm in NORMS, f"d_norm must be one of {NORMS}, got {self.d_norm!r}")
        check(
            self.optimizer in OPTIMIZERS,
            f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}",
        )
        check(
            self.image_size in IMAGE_SIZES,
            f"image_size must be one of {IMAGE_SIZES}, got {self.image_size}",
        )
        for name in ("z_dim", "g_width", "d_width", "batch_size", "epochs", "n_critic"):
            check(getattr(self, name) >= 1, f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("steps_per_epoch", "sample_count", "keep_checkpoints", "seed", "fid_every", "patience"):
            check(getattr(self, name) >= 0, f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("lr_g", "lr_d"):
            check(getattr(self, name) > 0, f"{name} must be positive, got {getattr(self, name)}")
        check(self.gp_weight >= 0, f"gp_weight must be >= 0, got {self.gp_weight}")
        check(self.precision in PRECISIONS, f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        check(self.jit_compile in JIT_MODES, f"jit_compile must be one of {JIT_MODES}, got {self.jit_compile!r}")
        check(self.strategy in STRATEGIES, f"strategy must be one of {STRATEGIES}, got {self.strategy!r}")
        check(self.fid_samples >= 2, f"fid_samples must be at least 2, got {self.fid_samples}")
        check(0.0 <= self.ema < 1.0, f"ema decay must be in [0, 1), got {self.ema}")
        check(0.0 <= self.beta1 < 1.0 and 0.0 <= self.beta2 < 1.0, "beta1 and beta2 must be in [0, 1)")
        check(
            not (self.loss == "wasserstein" and self.d_norm == "batch" and self.gp_weight > 0),
            "the gradient penalty is taken per sample, which BatchNorm in the critic breaks: "
            "use --d-norm instance (or layer/none)",
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

    def save(self, path: Path) -> None:
        from kgan.files import write_text_atomic

        write_text_atomic(path, json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: Path) -> TrainConfig:
        """Read a config saved by `save` (JSON) or written by hand (JSON or TOML)."""
        return cls.from_dict(read_config_file(path)).validate()

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        base = cls.for_variant(values.get("variant", "dcgan"))
        return base.with_overrides(**values)


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
