"""Training on several machines: MultiWorkerMirroredStrategy, configured by TF_CONFIG.

Keras 3 `fit` fails under this strategy (keras-team/keras#20585), so this is a plain
loop that calls `strategy.run(gan.train_step, ...)` — the very train_step `fit` runs —
on batches from `distribute_datasets_from_function`: every worker builds the same global
batches from (seed, step) and keeps its own slice, so the draws are those of a single
device. Only the chief writes the run folder (checkpoints, samples, metrics); the other
workers read its checkpoints to resume. Collectives time out after `timeout` seconds, so
when a worker dies the others stop with a clear error instead of hanging.

Decisions that one worker makes reach all of them at the same step:
- Ctrl-C on any worker: every CHECK_EVERY steps the workers sum their interrupt flags in a
  collective, so all stop after the same step, the chief saves a checkpoint, and every
  worker can be restarted with --resume.
- Validation FID and early stopping: the chief scores the generator at the end of an epoch
  (a few minutes on a CPU, longer than a collective may wait), then writes `chief.json`
  with its decision; the others wait for that file instead of in a collective, watching the
  chief's heartbeat file so that a dead chief is noticed within the timeout. The same file
  tells them when the chief has its real FID features ready at the start.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from kgan import checkpoint, runs, runtime
from kgan.data.pipeline import config_dataset, default_steps_per_epoch, load_split
from kgan.errors import KganError
from kgan.files import write_text_atomic
from kgan.train import CHECK_EVERY, Plan, RunRecorder, TrainResult, build_gan, make_validator, run_dataset

DEFAULT_TIMEOUT = 60.0
STARTUP_WAIT = 300.0  # how long the others wait for a chief that has not started yet
CHIEF_RECORD = "chief.json"  # the chief's latest word to the others: ready, or an epoch's end and its decision
HEARTBEAT = ".chief-heartbeat"  # "<session> <count>", bumped every second while the chief trains


def cluster_role() -> tuple[str, int, bool]:
    """(task type, task id, is chief) from TF_CONFIG; a KganError when it is missing or bad."""
    try:
        spec = json.loads(os.environ["TF_CONFIG"])
        task = spec["task"]
        cluster = spec["cluster"]
    except KeyError:
        raise KganError("--strategy multiworker needs TF_CONFIG (cluster and task): see the README") from None
    except json.JSONDecodeError as error:
        raise KganError(f"TF_CONFIG is not valid JSON ({error})") from None
    kind, index = task.get("type"), int(task.get("index", 0))
    chief = kind == "chief" or (kind == "worker" and index == 0 and "chief" not in cluster)
    return kind, index, chief


def wait_for_run(run_dir: Path, timeout: float) -> None:
    """A non-chief worker waits for the chief to create the run folder."""
    deadline = time.monotonic() + timeout
    while not (Path(run_dir) / "config.json").is_file():
        if time.monotonic() > deadline:
            raise KganError(
                f"the chief did not create {run_dir} within {timeout:.0f} s: start the chief with the same --run-dir"
            )
        time.sleep(0.5)


class LostContact(Exception):
    """Another worker (or the chief) stopped answering."""


class _InterruptFlag:
    """While active, Ctrl-C (SIGINT) sets a flag instead of raising in the middle of a step;
    a second Ctrl-C raises KeyboardInterrupt at once, for a user who cannot wait."""

    def __init__(self, notify: Callable[[str], None] | None = None):
        self.raised = False
        self._previous = None
        self._notify = notify

    def __enter__(self) -> _InterruptFlag:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.raised:
            raise KeyboardInterrupt
        self.raised = True
        if self._notify:
            self._notify(
                f"Ctrl-C: every worker stops at the next check (within {CHECK_EVERY} steps, or after the "
                "epoch's validation FID) and the chief saves a checkpoint; Ctrl-C again quits at once"
            )

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


class _Heartbeat:
    """The chief's sign of life for workers that wait on files rather than in collectives.

    The file holds "<session> <count>": a random session id, so that records a chief wrote
    in an earlier session of the run are never mistaken for this one's.
    """

    def __init__(self, run_dir: Path, period: float = 1.0):
        self.path, self.period = Path(run_dir) / HEARTBEAT, period
        self.session = secrets.token_hex(8)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="kgan-heartbeat", daemon=True)

    def _beat(self) -> None:
        count = 0
        while not self._stop.is_set():
            count += 1
            with contextlib.suppress(OSError):  # a missed beat only makes the others wait a little longer
                self.path.write_text(f"{self.session} {count}")
            self._stop.wait(self.period)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def record(self, **values: Any) -> None:
        """Tell the waiting workers something; this session's latest word replaces the last."""
        write_text_atomic(self.path.parent / CHIEF_RECORD, json.dumps({"session": self.session, **values}) + "\n")


def wait_for_chief(run_dir: Path, wanted: Callable[[dict], bool], timeout: float, what: str) -> dict:
    """The chief's first record of its current session that satisfies `wanted`.

    Raises LostContact when the chief's heartbeat stands still for `timeout` seconds.
    """
    run_dir = Path(run_dir)
    beat, seen = None, time.monotonic()
    while True:
        try:
            current = (run_dir / HEARTBEAT).read_text()
        except OSError:
            current = beat
        if current != beat:
            beat, seen = current, time.monotonic()
        elif time.monotonic() - seen > timeout:
            raise LostContact(f"no heartbeat from the chief for {timeout:.0f} s while waiting for {what}")
        record = runs.read_json(run_dir / CHIEF_RECORD) or {}
        if beat and record.get("session") == beat.split()[0] and wanted(record):
            return record
        time.sleep(0.2)


def train_multiworker(
    run_dir: Path,
    *,
    epochs: int | None = None,
    callbacks: list | tuple = (),
    timeout: float = DEFAULT_TIMEOUT,
    warn: Callable[[str], None] | None = None,
    validator: Callable[[keras.Model], float] | None = None,
) -> TrainResult:
    """Train the run in `run_dir` as one worker of the TF_CONFIG cluster (call on every worker).

    `validator` (chief only; by default the run's validation FID) scores the sampling
    generator every `fid_every` epochs for the best checkpoint and early stopping.
    """
    _, _, chief = cluster_role()
    run_dir = Path(run_dir)
    with contextlib.ExitStack() as stack:
        heartbeat = stack.enter_context(_Heartbeat(run_dir)) if chief else None
        ctrl_c = stack.enter_context(_InterruptFlag(warn))
        options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=timeout)
        strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
        config = runs.load_config(run_dir)
        if epochs is not None and epochs != config.epochs:
            config = config.with_overrides(epochs=epochs).validate()
            if chief:
                config.save(run_dir / "config.json")
        replicas = strategy.num_replicas_in_sync
        if config.batch_size % replicas:
            raise KganError(f"--batch-size {config.batch_size} does not split over {replicas} replicas")
        keras.utils.set_random_seed(config.seed)
        runtime.configure(deterministic=config.deterministic)
        dataset = run_dataset(run_dir)
        images = load_split(dataset, "train")
        steps_per_epoch = config.steps_per_epoch or default_steps_per_epoch(
            len(images), config.batch_size, config.n_critic
        )
        global_step = 0
        try:
            # The chief extracts the real FID features before the first collective; the
            # others wait on its record, not in a collective that would time out meanwhile.
            if chief:
                if validator is None:
                    validator = make_validator(dataset, config, warn or (lambda message: None))
                heartbeat.record(ready=True)
            else:
                wait_for_chief(run_dir, lambda record: True, max(timeout, STARTUP_WAIT), "the chief to start")
            gan = build_gan(config, strategy)
            last = checkpoint.latest(run_dir)
            if last is not None:
                global_step = int(checkpoint.restore(last, gan)["step"])
            plan = Plan(config.epochs, steps_per_epoch, global_step, config.batch_size, config.batch_size)
            recorder = RunRecorder(
                run_dir,
                config,
                plan,
                validator=validator if chief else None,
                writes=chief,
                listeners=[c for c in callbacks if hasattr(c, "on_record")] if chief else (),
            )
            everyone = [recorder, *callbacks]
            for callback in everyone:
                callback.set_model(gan)
                if hasattr(callback, "on_plan"):
                    callback.on_plan(plan, config)
            if chief:
                runs.write_status(run_dir, "running", steps_per_epoch=steps_per_epoch, workers=replicas)
            interrupted = _train_epochs(
                strategy, gan, recorder, everyone, images, config, plan, heartbeat, ctrl_c, timeout
            )
            global_step = int(gan.g_optimizer.iterations.numpy())
        except (tf.errors.OpError, LostContact) as error:
            reason = str(error).strip().splitlines()[0][:200]
            with contextlib.suppress(Exception):  # the step reached, if the model got that far
                global_step = int(gan.g_optimizer.iterations.numpy())
            if chief:
                runs.write_status(run_dir, "failed", step=global_step, reason=f"lost a worker: {reason}")
            return TrainResult(
                run_dir,
                "failed",
                global_step,
                global_step // steps_per_epoch,
                f"lost contact with another worker at step {global_step} ({reason}); the last checkpoint "
                "is kept: restart every worker with --resume",
            )
    for callback in everyone:
        callback.on_train_end()
    epoch_done = global_step // steps_per_epoch
    if interrupted:
        saved = ""
        if chief:
            path = checkpoint.save(run_dir, gan, recorder.state(global_step), keep=config.keep_checkpoints)
            runs.write_status(run_dir, "interrupted", step=global_step)
            saved = f"; checkpoint {path.name} saved"
        message = f"interrupted (Ctrl-C on a worker) at step {global_step} on every worker{saved}"
        return TrainResult(run_dir, "interrupted", global_step, epoch_done, message)
    for status, reason in (("failed", recorder.failed), ("stopped_early", recorder.stopped_early)):
        if reason:
            if chief:
                runs.write_status(run_dir, status, step=global_step, reason=reason)
            return TrainResult(run_dir, status, global_step, epoch_done, reason)
    if chief:
        runs.write_status(run_dir, "finished", step=global_step)
    return TrainResult(run_dir, "finished", global_step, config.epochs)


def _train_epochs(
    strategy: tf.distribute.Strategy,
    gan: keras.Model,
    recorder: RunRecorder,
    everyone: list,
    images,
    config,
    plan: Plan,
    heartbeat: _Heartbeat | None,
    ctrl_c: _InterruptFlag,
    timeout: float,
) -> bool:
    """The loop every worker runs in step with the others; True when a Ctrl-C stopped it."""
    steps_per_epoch, run_dir = plan.steps_per_epoch, recorder.run_dir

    def dataset_fn(context: tf.distribute.InputContext) -> tf.data.Dataset:
        pipelines, index = context.num_input_pipelines, context.input_pipeline_id
        batches = config_dataset(images, config, steps_per_epoch, plan.start_step, plan.total_steps)

        def my_slice(batch: dict) -> dict:
            return {key: tf.split(value, pipelines)[index] for key, value in batch.items()}

        return batches.map(my_slice)

    iterator = iter(strategy.distribute_datasets_from_function(dataset_fn))

    @tf.function
    def step() -> None:
        strategy.run(gan.train_step, args=(next(iterator),))

    @tf.function
    def raised_anywhere(flag: tf.Tensor) -> tf.Tensor:
        """The sum over all replicas of each worker's Ctrl-C flag (a collective)."""
        return strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(tf.identity, args=(flag,)), axis=None)

    global_step, interrupted = plan.start_step, False
    while global_step < plan.total_steps and not (recorder.failed or recorder.stopped_early):
        epoch = global_step // steps_per_epoch
        gan.reset_metrics()
        for callback in everyone:
            callback.on_epoch_begin(epoch)
        for batch in range(global_step % steps_per_epoch, steps_per_epoch):
            step()
            global_step += 1
            # Reading a tracker is a collective across workers: all read at the same steps, not every step.
            logs = None
            if (batch + 1) % CHECK_EVERY == 0 or batch == steps_per_epoch - 1:
                logs = {name: tracker.result() for name, tracker in gan.trackers.items()}
                epoch_logs = logs
                interrupted = float(raised_anywhere(tf.constant(float(ctrl_c.raised)))) > 0
            for callback in everyone:
                callback.on_train_batch_end(batch, logs)
            if recorder.failed or interrupted:
                return interrupted
        for callback in everyone:
            callback.on_epoch_end(epoch, {k: float(v) for k, v in epoch_logs.items()})
        if heartbeat is not None:
            heartbeat.record(epoch=epoch + 1, stop=recorder.stopped_early)
        elif not recorder.failed:
            record = wait_for_chief(
                run_dir, lambda r, done=epoch + 1: r.get("epoch", 0) >= done, timeout, f"epoch {epoch + 1} to end"
            )
            recorder.stopped_early = record.get("stop")
    return False
