"""Training on several machines: MultiWorkerMirroredStrategy, configured by TF_CONFIG.

Keras 3 `fit` fails under this strategy (keras-team/keras#20585), so this is a plain
loop that calls `strategy.run(gan.train_step, ...)` — the very train_step `fit` runs —
on batches from `distribute_datasets_from_function`: every worker builds the same global
batches from (seed, step) and keeps its own slice, so the draws are those of a single
device. Only the chief writes the run folder (checkpoints, samples, metrics); the other
workers read its checkpoints to resume. Collectives time out after `timeout` seconds, so
when a worker dies the others stop with a clear error instead of hanging.
Validation FID runs on the chief only, so early stopping is not available here.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import keras
import tensorflow as tf

from kgan import checkpoint, runs, runtime
from kgan.data.pipeline import config_dataset, default_steps_per_epoch, load_split
from kgan.errors import KganError
from kgan.train import CHECK_EVERY, Plan, RunRecorder, TrainResult, build_gan, run_dataset

DEFAULT_TIMEOUT = 60.0


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


def train_multiworker(
    run_dir: Path,
    *,
    epochs: int | None = None,
    callbacks: list | tuple = (),
    timeout: float = DEFAULT_TIMEOUT,
) -> TrainResult:
    """Train the run in `run_dir` as one worker of the TF_CONFIG cluster (call on every worker)."""
    _, _, chief = cluster_role()
    options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=timeout)
    strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    run_dir = Path(run_dir)
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
    steps_per_epoch = config.steps_per_epoch or default_steps_per_epoch(len(images), config.batch_size, config.n_critic)
    gan = build_gan(config, strategy)
    start_step = 0
    last = checkpoint.latest(run_dir)
    if last is not None:
        start_step = int(checkpoint.restore(last, gan)["step"])
    plan = Plan(config.epochs, steps_per_epoch, start_step, config.batch_size, config.batch_size)
    recorder = RunRecorder(
        run_dir,
        config,
        plan,
        writes=chief,
        listeners=[c for c in callbacks if hasattr(c, "on_record")] if chief else (),
    )
    everyone = [recorder, *callbacks]
    for callback in everyone:
        callback.set_model(gan)
        if hasattr(callback, "on_plan"):
            callback.on_plan(plan, config)

    def dataset_fn(context: tf.distribute.InputContext) -> tf.data.Dataset:
        pipelines, index = context.num_input_pipelines, context.input_pipeline_id
        batches = config_dataset(images, config, steps_per_epoch, start_step, plan.total_steps)

        def my_slice(batch: dict) -> dict:
            return {key: tf.split(value, pipelines)[index] for key, value in batch.items()}

        return batches.map(my_slice)

    iterator = iter(strategy.distribute_datasets_from_function(dataset_fn))

    @tf.function
    def step() -> None:
        strategy.run(gan.train_step, args=(next(iterator),))

    if chief:
        runs.write_status(run_dir, "running", steps_per_epoch=steps_per_epoch, workers=replicas)
    global_step = start_step
    try:
        while global_step < plan.total_steps and not recorder.failed:
            epoch = global_step // steps_per_epoch
            gan.reset_metrics()
            for callback in everyone:
                callback.on_epoch_begin(epoch)
            for batch in range(global_step % steps_per_epoch, steps_per_epoch):
                step()
                # Reading a tracker is a collective across workers: all read at the same steps, not every step.
                logs = None
                if (batch + 1) % CHECK_EVERY == 0 or batch == steps_per_epoch - 1:
                    logs = {name: tracker.result() for name, tracker in gan.trackers.items()}
                    epoch_logs = logs
                for callback in everyone:
                    callback.on_train_batch_end(batch, logs)
                global_step += 1
                if recorder.failed:
                    break
            if recorder.failed:
                break
            for callback in everyone:
                callback.on_epoch_end(epoch, {k: float(v) for k, v in epoch_logs.items()})
    except tf.errors.OpError as error:
        reason = str(error).strip().splitlines()[0][:200]
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
    if recorder.failed:
        if chief:
            runs.write_status(run_dir, "failed", step=global_step, reason=recorder.failed)
        return TrainResult(run_dir, "failed", global_step, global_step // steps_per_epoch, recorder.failed)
    if chief:
        runs.write_status(run_dir, "finished", step=global_step)
    return TrainResult(run_dir, "finished", global_step, config.epochs)
