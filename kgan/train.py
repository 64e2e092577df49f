"""Training a run: build the GAN, feed it the pipeline, record every epoch, resume exactly.

`create_run` writes a new run directory; `train` trains it (or continues it) with
`keras.Model.fit`. Side effects live in callbacks: `RunRecorder` writes the metrics,
the fixed-noise sample grid and the checkpoint at the end of every epoch, and stops
the run at the first non-finite loss (keeping the last good checkpoint).
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from kgan import checkpoint, distribute, runs, runtime
from kgan.config import TrainConfig
from kgan.data.dataset import PreparedDataset
from kgan.data.default import resolve_dataset
from kgan.data.pipeline import config_dataset, default_steps_per_epoch, load_split
from kgan.errors import KganError
from kgan.files import write_text_atomic
from kgan.gan import GAN, METRIC_NAMES, make_optimizers
from kgan.health import warnings_for
from kgan.sampling import fixed_noise, generate, image_grid, save_png
from kgan.tensorboard import TensorBoardWriter


@dataclasses.dataclass(frozen=True)
class Plan:
    """The shape of a (possibly resumed) training session, for progress displays."""

    epochs: int
    steps_per_epoch: int
    start_step: int
    batch_size: int
    images_per_step: int

    @property
    def total_steps(self) -> int:
        return self.epochs * self.steps_per_epoch


@dataclasses.dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    status: str  # "finished", "stopped_early", "interrupted" or "failed"
    step: int
    epoch: int
    message: str = ""


class ValidationFID:
    """Validation FID of a generator, with the real statistics computed once (and cached)."""

    def __init__(self, dataset: PreparedDataset, extractor, config: TrainConfig):
        from kgan.metrics.reference import real_features

        self.dataset, self.extractor, self.config = dataset, extractor, config
        self.name = extractor.name
        real_features(dataset, "val", config.image_size, extractor)  # fill the cache up front

    def __call__(self, generator) -> float:
        from kgan.metrics.evaluate import evaluate

        result = evaluate(
            generator,
            self.dataset,
            self.extractor,
            split="val",
            image_size=self.config.image_size,
            z_dim=self.config.z_dim,
            samples=self.config.fid_samples,
            seed=self.config.seed,
            with_kid=False,
        )
        return result.fid


def make_validator(dataset: PreparedDataset, config: TrainConfig, warn: Callable[[str], None]) -> ValidationFID | None:
    """The per-epoch validation FID, or None (with one warning) when no extractor loads."""
    if not config.fid_every:
        return None
    from kgan.metrics.features import load_extractor

    try:
        return ValidationFID(dataset, load_extractor(config.features, config.inception or None), config)
    except KganError as error:
        warn(f"validation FID is off, so there is no early stopping or best checkpoint: {error}")
        return None


def create_run(config: TrainConfig, dataset: PreparedDataset, run_dir: Path | None = None) -> Path:
    """Make a run directory holding the config and the dataset reference."""
    config.validate()
    run_dir = Path(run_dir) if run_dir else runs.new_run_dir(config.variant)
    if (run_dir / "config.json").exists():
        raise KganError(f"{run_dir} already holds a run: pass --resume to continue it, or another --run-dir")
    if run_dir.exists() and any(run_dir.iterdir()):
        raise KganError(f"--run-dir {run_dir} is not empty: choose a new folder")
    run_dir.mkdir(parents=True, exist_ok=True)
    config.save(run_dir / "config.json")
    write_text_atomic(run_dir / "dataset.json", json.dumps(dataset.describe(), indent=2) + "\n")
    runs.write_status(run_dir, "created", created=time.time())
    runs.mark_latest(run_dir)
    return run_dir


def run_dataset(run_dir: Path) -> PreparedDataset:
    """The run's dataset, checked to be the very split the run started with."""
    info = runs.read_json(Path(run_dir) / "dataset.json") or {}
    dataset = resolve_dataset(info.get("path", "synthetic"))
    if info.get("split_id") and info["split_id"] != dataset.split_id:
        raise KganError(
            f"the dataset at {dataset.folder} changed since this run started (split {dataset.split_id}, "
            f"run used {info['split_id']}): restore it or start a new run"
        )
    return dataset


def build_gan(config: TrainConfig, strategy: tf.distribute.Strategy | None = None) -> GAN:
    """A compiled GAN with optimizer slots created (ready to restore or train), built in
    `strategy`'s scope with the config's precision policy and XLA setting."""
    previous_policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(config.precision)  # layers take their policy when built
    jit = {"auto": "auto", "on": True, "off": False}[config.jit_compile]
    try:
        with (strategy or tf.distribute.get_strategy()).scope():
            gan = GAN.from_config_values(config)
            gan.compile(*make_optimizers(config), jit_compile=jit)
            gan.build_optimizers()
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
    return gan


def train(
    run_dir: Path,
    *,
    epochs: int | None = None,
    callbacks: list[keras.callbacks.Callback] | tuple = (),
    warn: Callable[[str], None] | None = None,
    validator: Callable[[keras.Model], float] | None = None,
) -> TrainResult:
    """Train (or continue) the run in `run_dir` up to `epochs` (default: the config's).

    Continuing from a checkpoint at step s is exact: the weights after E epochs equal
    those of an uninterrupted run (bitwise with op determinism on CPU). `validator` scores
    the sampling generator (lower is better) every `fid_every` epochs; by default it is the
    validation FID with the run's extractor.
    """
    run_dir = Path(run_dir)
    config = runs.load_config(run_dir)
    if epochs is not None and epochs != config.epochs:
        config = config.with_overrides(epochs=epochs).validate()
        config.save(run_dir / "config.json")
    dataset = run_dataset(run_dir)
    keras.utils.set_random_seed(config.seed)
    runtime.configure(deterministic=config.deterministic)

    images = load_split(dataset, "train")
    steps_per_epoch = config.steps_per_epoch or default_steps_per_epoch(len(images), config.batch_size, config.n_critic)
    strategy = distribute.make_strategy(config.strategy)
    if config.batch_size % strategy.num_replicas_in_sync:
        raise KganError(
            f"--batch-size {config.batch_size} does not split over {strategy.num_replicas_in_sync} replicas: "
            "use a multiple of the replica count"
        )
    gan = build_gan(config, strategy)
    start_step = 0
    last = checkpoint.latest(run_dir)
    if last is not None:
        state = checkpoint.restore(last, gan)
        start_step = int(state["step"])
        if state.get("steps_per_epoch", steps_per_epoch) != steps_per_epoch:
            raise KganError(
                f"checkpoint {last.name} used {state['steps_per_epoch']} steps per epoch, now {steps_per_epoch}: "
                "the dataset or batch size changed; start a new run"
            )
    plan = Plan(config.epochs, steps_per_epoch, start_step, config.batch_size, config.batch_size)
    if start_step >= plan.total_steps:
        runs.write_status(run_dir, "finished")
        return TrainResult(run_dir, "finished", start_step, config.epochs, "already trained to the requested epochs")

    warn = warn or (lambda message: warnings.warn(message, stacklevel=2))
    for callback in callbacks:  # displays first: extracting the real FID features can take a while
        if hasattr(callback, "on_plan"):
            callback.on_plan(plan, config)
    if validator is None:
        validator = make_validator(dataset, config, warn)
    listeners = [callback for callback in callbacks if hasattr(callback, "on_record")]
    recorder = RunRecorder(run_dir, config, plan, validator=validator, listeners=listeners)
    all_callbacks = [recorder, *callbacks]

    def dataset_for(first: int, end: int) -> tf.data.Dataset:
        return config_dataset(images, config, steps_per_epoch, first, end)

    runs.write_status(run_dir, "running", steps_per_epoch=steps_per_epoch)
    try:
        first_epoch, offset = divmod(start_step, steps_per_epoch)
        if offset:  # finish the epoch that an interrupt cut short
            end = (first_epoch + 1) * steps_per_epoch
            gan.fit(
                dataset_for(start_step, end),
                epochs=first_epoch + 1,
                initial_epoch=first_epoch,
                steps_per_epoch=steps_per_epoch - offset,
                verbose=0,
                shuffle=False,
                callbacks=all_callbacks,
            )
            first_epoch += 1
        if not recorder.failed and first_epoch < config.epochs:
            gan.fit(
                dataset_for(first_epoch * steps_per_epoch, plan.total_steps),
                epochs=config.epochs,
                initial_epoch=first_epoch,
                steps_per_epoch=steps_per_epoch,
                verbose=0,
                shuffle=False,
                callbacks=all_callbacks,
            )
    except KeyboardInterrupt:
        step = int(gan.g_optimizer.iterations.numpy())
        if recorder.failed:
            raise
        path = checkpoint.save(run_dir, gan, recorder.state(step), keep=config.keep_checkpoints)
        runs.write_status(run_dir, "interrupted", step=step)
        return TrainResult(
            run_dir,
            "interrupted",
            step,
            step // steps_per_epoch,
            f"interrupted at step {step}; checkpoint {path.name} saved",
        )
    step = int(gan.g_optimizer.iterations.numpy())
    if recorder.failed:
        runs.write_status(run_dir, "failed", step=step, reason=recorder.failed)
        return TrainResult(run_dir, "failed", step, step // steps_per_epoch, recorder.failed)
    if recorder.stopped_early:
        runs.write_status(run_dir, "stopped_early", step=step, reason=recorder.stopped_early)
        return TrainResult(run_dir, "stopped_early", step, step // steps_per_epoch, recorder.stopped_early)
    runs.write_status(run_dir, "finished", step=step)
    return TrainResult(run_dir, "finished", step, config.epochs)


CHECK_EVERY = 20  # steps between non-finite checks (each one waits for the device)


class RunRecorder(keras.callbacks.Callback):
    """Per epoch: validation FID, metrics line, fixed-noise sample grid, checkpoint, best
    checkpoint and early stopping. Stops at the first NaN/Inf loss."""

    def __init__(
        self,
        run_dir: Path,
        config: TrainConfig,
        plan: Plan,
        validator: Callable | None = None,
        listeners: list | tuple = (),
        writes: bool = True,
    ):
        super().__init__()
        self.run_dir, self.config, self.plan = Path(run_dir), config, plan
        self.listeners, self.writes = listeners, writes  # writes=False: a non-chief worker
        self.tensorboard = TensorBoardWriter(run_dir) if writes else None
        self.history = runs.read_metrics(run_dir)
        self.noise = fixed_noise(config.seed, config.sample_count, config.z_dim) if config.sample_count else None
        self.validator = validator
        self.best = checkpoint.best(run_dir)
        self.failed: str | None = None
        self.stopped_early: str | None = None
        self._epoch_start = time.perf_counter()
        self._epoch_first_step = plan.start_step

    def state(self, step: int) -> dict[str, Any]:
        return {
            "step": step,
            "epoch": step // self.plan.steps_per_epoch,
            "steps_per_epoch": self.plan.steps_per_epoch,
            "seed": self.config.seed,
            "variant": self.config.variant,
        }

    def _step(self) -> int:
        return int(self.model.g_optimizer.iterations.numpy())

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch_start = time.perf_counter()
        self._epoch_first_step = self._step()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        # Reading the losses forces a device sync, so only every CHECK_EVERY steps; the running
        # means stay non-finite once they are, and on_epoch_end checks again before writing.
        if (batch + 1) % CHECK_EVERY == 0:
            self._check_finite(logs)

    def _check_finite(self, logs: dict | None) -> bool:
        """Mark the run failed (and stop it) at the first NaN/Inf in `logs`; True when failed."""
        bad = _non_finite(logs)
        if bad and not self.failed:
            step = self._step()
            last = checkpoint.latest(self.run_dir)
            kept = f"last good checkpoint {last.name} kept" if last else "no checkpoint was written yet"
            self.failed = (
                f"non-finite {bad} at step {step}: training stopped, {kept}; "
                "try a lower learning rate (--lr-g/--lr-d) or another --seed"
            )
            self.model.stop_training = True
        return self.failed is not None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self._check_finite(logs) or not self.writes:
            return
        step = self._step()
        seconds = time.perf_counter() - self._epoch_start
        steps = max(step - self._epoch_first_step, 0)
        row = {
            "epoch": epoch + 1,
            "step": step,
            **{name: _to_float(logs.get(name)) for name in METRIC_NAMES if logs and name in logs},
            "seconds": round(seconds, 3),
            "images_per_sec": round(steps * self.plan.images_per_step / seconds, 2) if seconds > 0 else None,
            "time": time.time(),
        }
        evaluate_now = self.validator is not None and (epoch + 1) % self.config.fid_every == 0
        if evaluate_now:
            start = time.perf_counter()
            row["val_fid"] = self.validator(self.model.sampler)
            row["fid_seconds"] = round(time.perf_counter() - start, 3)
            row["fid_features"] = getattr(self.validator, "name", "custom validator")
        grid = None
        if self.noise is not None:
            grid = image_grid(generate(self.model.sampler, self.noise))
            save_png(self.run_dir / "samples" / f"epoch-{epoch + 1:04d}.png", grid)
        saved = checkpoint.save(self.run_dir, self.model, self.state(step), keep=self.config.keep_checkpoints)
        if evaluate_now:
            self._track_best(epoch + 1, step, row["val_fid"], saved)
        if self.best:
            row["best_val_fid"], row["best_epoch"] = self.best["val_fid"], self.best["epoch"]
        self.history = [r for r in self.history if r.get("epoch") != row["epoch"]] + [row]
        row["warnings"] = warnings_for(self.history)
        runs.append_metrics(self.run_dir, row)
        self.tensorboard.write(epoch + 1, row, grid)
        for listener in self.listeners:
            listener.on_record(row, grid, self.best)

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.tensorboard:
            self.tensorboard.writer.flush()

    def _track_best(self, epoch: int, step: int, value: float, saved: Path) -> None:
        """Keep the best-by-val-FID checkpoint; stop after `patience` epochs without a better one."""
        if self.best is None or value < self.best["val_fid"]:
            self.best = {"checkpoint": saved.name, "epoch": epoch, "step": step, "val_fid": value}
            checkpoint.mark_best(self.run_dir, self.best)
        elif self.config.patience and epoch - self.best["epoch"] >= self.config.patience:
            self.stopped_early = (
                f"stopped early at epoch {epoch}: no better validation FID for {epoch - self.best['epoch']} "
                f"epochs (best {self.best['val_fid']:.3f} at epoch {self.best['epoch']})"
            )
            self.model.stop_training = True


def _to_float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _non_finite(logs: dict | None) -> str | None:
    """The name of the first loss or output that is NaN or infinite, if any."""
    for name, value in (logs or {}).items():
        number = _to_float(value)
        if number is not None and not math.isfinite(number):
            return name
    return None
