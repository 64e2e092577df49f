"""A training session of a run: everything the two drivers share.

`TrainingSession` sets a run up — config, dataset, steps per epoch, the compiled GAN in
its strategy's scope, the restored checkpoint and the plan — starts the run's record
(`RunRecorder`), and turns how training ended into a `TrainResult` and the run's status.
The drivers differ only in how they run steps: `train` below calls `keras.Model.fit`
(one process, one or many local devices); `multiworker.train_multiworker` runs its own
loop, because `fit` fails under MultiWorkerMirroredStrategy (keras-team/keras#20585).
"""

from __future__ import annotations

import signal
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from kgan import runs
from kgan.config import TrainConfig, augmentations, diff_augmentations
from kgan.data.attributes import Conditions, training_labels
from kgan.data.dataset import PreparedDataset, Split
from kgan.data.pipeline import default_steps_per_epoch, load_split, training_dataset
from kgan.errors import KganError, KganWarning, first_line
from kgan.files import describe_os_error
from kgan.metrics.shards import SINGLE, Shards
from kgan.metrics.steering import make_probe
from kgan.metrics.validation import make_validator
from kgan.runs.folder import RunFolder, out_of_time
from kgan.system import cpu, provenance
from kgan.training import augment, checkpoint, distribute, runtime, warm_start
from kgan.training.gan import GAN, make_optimizers
from kgan.training.learning_rate import LinearDecay
from kgan.training.plan import Plan, TrainResult
from kgan.training.recorder import RunRecorder
from kgan.training.signals import RaiseWhenStopped, StopFlag, signal_name

Validator = Callable[[keras.Model], float]


def config_dataset(
    images, config: TrainConfig, steps_per_epoch: int, start_step: int, end_step: int, labels=None
) -> tf.data.Dataset:
    """`pipeline.training_dataset` with a TrainConfig's image size, batch, z size, seed and critic
    steps (and a conditional run's `labels`, the images' codes)."""
    return training_dataset(
        images,
        image_size=config.image_size,
        batch_size=config.batch_size,
        z_dim=config.z_dim,
        seed=config.seed,
        steps_per_epoch=steps_per_epoch,
        start_step=start_step,
        end_step=end_step,
        n_critic=config.n_critic,
        augment_draws=augment.DRAWS_PER_IMAGE if diff_augmentations(config.augment) else 0,
        flip="flip" in augmentations(config.augment),
        labels=labels,
    )


def build_gan(
    config: TrainConfig, strategy: tf.distribute.Strategy | None = None, conditions: Conditions | None = None
) -> GAN:
    """A compiled GAN with optimizer slots created (ready to restore or train), built in
    `strategy`'s scope with the config's precision policy and XLA setting (conditional on
    `conditions` when given)."""
    previous_policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(config.precision)  # layers take their policy when built
    jit = {"auto": "auto", "on": True, "off": False}[config.jit_compile]
    try:
        with (strategy or tf.distribute.get_strategy()).scope():
            gan = GAN.from_config_values(config, conditions)
            gan.compile(*make_optimizers(config), jit_compile=jit)
            gan.build_optimizers()
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
    return gan


class TrainingSession:
    """One run, set up to train under one strategy. `writes=False` on the workers of a
    cluster other than the chief: they train and decide alike, but write nothing."""

    def __init__(
        self,
        run_dir: Path,
        config: TrainConfig,
        dataset: PreparedDataset,
        strategy: tf.distribute.Strategy,
        *,
        writes: bool = True,
        conditions: Conditions | None = None,
    ):
        """`conditions`: a steered run's attributes where its folder is not at hand (a worker
        other than the chief); else read from the run folder."""
        self.run_dir, self.config, self.dataset, self.writes = Path(run_dir), config, dataset, writes
        replicas = strategy.num_replicas_in_sync
        if config.batch_size % replicas:
            raise KganError(
                f"--batch-size {config.batch_size} does not split over {replicas} replicas: "
                "use a multiple of the replica count"
            )
        on_cpu = not tf.config.list_physical_devices("GPU")
        if config.precision == "mixed_bfloat16" and on_cpu and writes and not cpu.native_bfloat16():
            warnings.warn(cpu.bfloat16_emulated_warning(), KganWarning, stacklevel=2)
        keras.utils.set_random_seed(config.seed)
        runtime.configure(deterministic=config.deterministic)
        self.conditions = conditions or RunFolder(run_dir).conditions()
        keep, self.labels = None, None  # a conditional run trains on the images labelled for it
        if self.conditions:
            keep, self.labels = training_labels(dataset, self.conditions)
        self.images = load_split(dataset, Split.TRAIN, image_size=config.image_size, keep=keep)
        self.steps_per_epoch = config.steps_per_epoch or default_steps_per_epoch(
            len(self.images), config.batch_size, config.n_critic
        )
        self.gan: GAN = build_gan(config, strategy, self.conditions)
        self.gan.learning_rates = LinearDecay.planned(config, self.steps_per_epoch)
        self.recorder: RunRecorder | None = None
        self.initialized_from: dict[str, Any] | None = None  # what --init-from loaded, when it did
        self.running_means: dict[str, Any] | None = None  # the losses so far in the epoch resumed inside

    @classmethod
    def open(
        cls,
        run_dir: Path,
        *,
        epochs: int | None = None,
        time_budget: float | None = None,
        strategy: tf.distribute.Strategy | None = None,
    ) -> TrainingSession:
        """The run in `run_dir`, its epoch count and time budget changed when given."""
        config = runs.config_on_resume(run_dir, epochs, time_budget)
        dataset = runs.run_dataset(run_dir)
        return cls(run_dir, config, dataset, strategy or distribute.make_strategy(config.strategy))

    @property
    def step(self) -> int:
        """Generator updates so far: the run's global step."""
        return int(self.gan.g_optimizer.iterations.numpy())

    def restore(self) -> int:
        """Load the newest checkpoint into the GAN, if there is one; the step it reached."""
        last = checkpoint.latest_good(self.run_dir)
        if last is None:
            if self.config.init_from:
                source = warm_start.describe_source(self.config.init_from, self.config, self.conditions)
                self.initialized_from = warm_start.load_into(self.gan, source, self._warn)
            return 0
        state = checkpoint.restore(last, self.gan)
        self.running_means = state.get("running_means")
        if state.get("steps_per_epoch", self.steps_per_epoch) != self.steps_per_epoch:
            raise KganError(
                f"checkpoint {last.name} used {state['steps_per_epoch']} steps per epoch, now "
                f"{self.steps_per_epoch}: the dataset or batch size changed; start a new run"
            )
        return int(state["step"])

    def _warn(self, message: str) -> None:
        if self.writes:
            warnings.warn(message, KganWarning, stacklevel=2)

    def plan(self, start_step: int) -> Plan:
        batch = self.config.batch_size
        return Plan(self.config.epochs, self.steps_per_epoch, start_step, batch, batch)

    def begin(
        self,
        plan: Plan,
        callbacks: list | tuple = (),
        *,
        validator: Validator | None = None,
        warn: Callable[[str], None] | None = None,
        shards: Shards = SINGLE,
        best: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
        agree: Callable[[Any], Any] | None = None,
    ) -> list[keras.callbacks.Callback]:
        """Start the record: displays first (real FID features can take a while), then the
        validator (the run's validation FID unless given), the recorder and the status.
        `agree` (a cluster's): the chief's JSON-able value on every worker.
        Returns every callback the steps must drive, the recorder first."""
        for callback in callbacks:
            if hasattr(callback, "on_plan"):
                callback.on_plan(plan, self.config)
        warn = warn or (lambda message: warnings.warn(message, stacklevel=2))
        if validator is None:
            validator = make_validator(self.dataset, self.config, warn, shards)
        off = None if validator else "--fid-every 0" if not self.config.fid_every else "no feature extractor loaded"
        for callback in callbacks:
            if hasattr(callback, "on_validation"):
                callback.on_validation(off)  # None: on; else why it is off
        listeners = [callback for callback in callbacks if hasattr(callback, "on_record")] if self.writes else []
        self.recorder = RunRecorder(
            self.run_dir,
            self.config,
            plan,
            validator=validator,
            listeners=listeners,
            writes=self.writes,
            best=best,
            conditions=self.conditions,
            probe=self._probe(warn, agree),
            running_means=self.running_means,
        )
        self._status("running", steps_per_epoch=self.steps_per_epoch, **(extra or {}))
        if self.writes:
            origin = provenance.record(split_id=self.dataset.split_id, start_step=plan.start_step)
            if self.initialized_from:
                origin["init_from"] = self.initialized_from
            RunFolder(self.run_dir).record_session(origin)
        return [self.recorder, *callbacks]

    def dataset_for(self, first_step: int, end_step: int) -> tf.data.Dataset:
        """The input pipeline for global steps `first_step .. end_step - 1`."""
        return config_dataset(self.images, self.config, self.steps_per_epoch, first_step, end_step, self.labels)

    # ---- how it ended ------------------------------------------------------------------

    def already_trained(self, step: int) -> TrainResult:
        self._status("finished")
        return TrainResult(
            self.run_dir, "finished", step, self.config.epochs, "already trained to the requested epochs"
        )

    def out_of_time(self, step: int) -> TrainResult:
        minutes = self.config.time_budget
        message = f"the time budget of {minutes:g} min is used up: continue with a larger --time-budget"
        self._status("stopped_early", step=step, reason=message)
        return TrainResult(self.run_dir, "stopped_early", step, step // self.steps_per_epoch, message)

    def interrupted(self, signum: int = signal.SIGINT, where: str = "") -> TrainResult:
        """Save a checkpoint at the current step (the chief) and mark the run interrupted."""
        step, saved = self.step, ""
        if self.writes:
            path = checkpoint.save(self.run_dir, self.gan, self.recorder.state(step), keep=self.config.keep_checkpoints)
            saved = f"; checkpoint {path.name} saved"
        self._status("interrupted", step=step, signal=signal_name(signum))
        message = f"interrupted ({signal_name(signum)}) at step {step}{where}{saved}"
        return TrainResult(self.run_dir, "interrupted", step, step // self.steps_per_epoch, message, signum)

    def ended_by(self, error: BaseException, *, in_cluster: bool = False) -> TrainResult:
        """How a session that `error` cut short ends — the one failure handler of both drivers,
        each kind of failure with its own message:

        - out of memory (TensorFlow's ResourceExhaustedError): what to lower, and a checkpoint
          of the progress since the last one;
        - a file that could not be written (OSError: disk full, read-only, quota): the path,
          the cause and what to do; the last complete checkpoint is kept;
        - a stop signal (Ctrl-C, SIGTERM, SIGHUP, as KeyboardInterrupt): a checkpoint and
          the `interrupted` status;
        - in a cluster, any other TensorFlow error: a collective that failed or timed out,
          i.e. another worker was lost.
        Anything else is a bug and is raised again."""
        if isinstance(error, tf.errors.ResourceExhaustedError):
            return self.out_of_memory(error)
        if isinstance(error, OSError):
            return self.failed(f"{describe_os_error(error)}; the last complete checkpoint is kept")
        if isinstance(error, KeyboardInterrupt):
            return self.interrupted(getattr(error, "signum", signal.SIGINT))
        if in_cluster and isinstance(error, tf.errors.OpError):
            return self.failed(lost_contact(self.step, error))
        raise error

    def out_of_memory(self, error: Exception) -> TrainResult:
        """One line for an allocation that failed: the step, what to lower, and a checkpoint of
        the progress since the last one (the weights are intact; only a new tensor failed)."""
        step, last = self.step, checkpoint.latest(self.run_dir)
        saved = f"last checkpoint {last.name} kept" if last else "no checkpoint yet"
        if self.writes and step > (checkpoint.read_state(last)["step"] if last else 0):
            path = checkpoint.save(self.run_dir, self.gan, self.recorder.state(step), keep=self.config.keep_checkpoints)
            saved = f"checkpoint {path.name} saved"
        detail = first_line(error, empty="allocation failed")
        return self.failed(
            f"out of memory at step {step} ({detail}): lower --batch-size (or --fid-samples), or try "
            f"--precision mixed_float16; {saved}, continue with --resume",
            step,
        )

    def failed(self, reason: str, step: int | None = None) -> TrainResult:
        step = self.step if step is None else step
        self._status("failed", step=step, reason=reason)
        return TrainResult(self.run_dir, "failed", step, step // self.steps_per_epoch, reason)

    def outcome(self) -> TrainResult:
        """The result once the steps ran out or the recorder stopped them."""
        step, recorder = self.step, self.recorder
        if recorder.failed:
            return self.failed(recorder.failed, step)
        if recorder.stopped_early:
            self._status("stopped_early", step=step, reason=recorder.stopped_early)
            return TrainResult(
                self.run_dir, "stopped_early", step, step // self.steps_per_epoch, recorder.stopped_early
            )
        self._status("finished", step=step)
        return TrainResult(self.run_dir, "finished", step, self.config.epochs)

    def _probe(self, warn: Callable[[str], None], agree: Callable[[Any], Any] | None):
        """The per-epoch attribute probe, read by the writing worker. When it chooses the best
        checkpoint in a cluster, `agree` gives every worker the chief's reading, as with its
        validation FID, so all keep the same best and stop alike."""
        steering = self.config.best_by == "steering"
        probe = None
        if self.writes:
            probe = make_probe(self.conditions, self.config.z_dim, self.config.seed, warn, required=steering)
        if steering and agree is not None:
            return lambda generator: agree(probe(generator) if probe else None)
        return probe

    def _status(self, status: str, **details: Any) -> None:
        if self.writes:
            RunFolder(self.run_dir).write_status(status, **details)


def lost_contact(step: int, error: BaseException) -> str:
    """The message of a worker whose collective with the others failed or timed out."""
    return (
        f"lost contact with another worker at step {step} ({first_line(error, limit=200)}); the last "
        "checkpoint is kept: restart every worker with --resume"
    )


def train(
    run_dir: Path,
    *,
    epochs: int | None = None,
    callbacks: list[keras.callbacks.Callback] | tuple = (),
    warn: Callable[[str], None] | None = None,
    validator: Validator | None = None,
    time_budget: float | None = None,
) -> TrainResult:
    """Train (or continue) the run in `run_dir` with `fit`, up to `epochs` (default: the config's)
    and within `time_budget` minutes in all (default: the config's).

    Continuing from a checkpoint at step s is exact: the weights after E epochs equal
    those of an uninterrupted run (bitwise with op determinism on CPU). `validator` scores
    the sampling generator (lower is better) every `fid_every` epochs; by default it is the
    validation FID with the run's extractor. The run is locked while it trains; Ctrl-C,
    SIGTERM and SIGHUP finish the step in progress, save a checkpoint and end it as interrupted.
    """
    what = "stopping after this step with a checkpoint"
    with RunFolder(run_dir).writer_lock(), StopFlag(warn, what, deferring=False) as stop:
        return _fit(run_dir, epochs, time_budget, callbacks, warn, validator, stop)


def _fit(
    run_dir: Path, epochs: int | None, time_budget: float | None, callbacks, warn, validator, stop: StopFlag
) -> TrainResult:
    session = TrainingSession.open(run_dir, epochs=epochs, time_budget=time_budget)
    start_step = session.restore()
    plan = session.plan(start_step)
    if start_step >= plan.total_steps:
        return session.already_trained(start_step)
    if out_of_time(RunFolder(run_dir).metrics(), session.config.time_budget):
        return session.out_of_time(start_step)
    everyone = session.begin(plan, callbacks, validator=validator, warn=warn)
    steps_per_epoch = plan.steps_per_epoch

    def fit(first_epoch: int, first_step: int, end_step: int) -> None:
        with stop.deferred():
            session.gan.fit(
                session.dataset_for(first_step, end_step),
                epochs=end_step // steps_per_epoch,
                initial_epoch=first_epoch,
                steps_per_epoch=min(steps_per_epoch, end_step - first_step),
                verbose=0,
                shuffle=False,
                callbacks=[*everyone, RaiseWhenStopped(stop)],
            )
        stop.raise_if_stopped()  # noted after fit's last check

    try:
        first_epoch, offset = divmod(start_step, steps_per_epoch)
        if offset:  # finish the epoch that an interrupt cut short
            fit(first_epoch, start_step, (first_epoch + 1) * steps_per_epoch)
            first_epoch += 1
        if not session.recorder.failed and first_epoch < plan.epochs:
            fit(first_epoch, first_epoch * steps_per_epoch, plan.total_steps)
    except (tf.errors.ResourceExhaustedError, OSError, KeyboardInterrupt) as error:
        if isinstance(error, KeyboardInterrupt) and session.recorder.failed:
            raise
        return session.ended_by(error)
    return session.outcome()
