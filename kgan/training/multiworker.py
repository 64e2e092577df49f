"""Training on several machines: MultiWorkerMirroredStrategy, configured by TF_CONFIG.

Keras 3 `fit` fails under this strategy (keras-team/keras#20585), so this driver runs
its own loop: `strategy.run(gan.train_step, ...)` — the very train_step `fit` runs — on
batches from `distribute_datasets_from_function`. Every worker builds the same global
batches from (seed, step) and keeps its own slice, so the draws are those of a single
device. The rest is the `TrainingSession` that the `fit` driver uses.

The workers agree through the strategy's collectives alone (`cluster.Cluster`): the chief
opens the run and sends its config, dataset reference, steering attributes and best record; its restored
weights and optimizer state are broadcast; validation FID is computed by all workers
together; a stop signal (Ctrl-C, SIGTERM, SIGHUP) on any worker stops all after the same
step. Only the chief writes the run folder (and holds its lock), so the others need no
shared filesystem. A collective waits at most `timeout` seconds, so a lost worker ends the
others with one clear error.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from kgan import runs
from kgan.config import TrainConfig
from kgan.data.attributes import Conditions
from kgan.runs.folder import RunFolder
from kgan.training import checkpoint
from kgan.training.cluster import Cluster, cluster_role
from kgan.training.plan import TrainResult
from kgan.training.recorder import CHECK_EVERY
from kgan.training.session import TrainingSession, Validator, lost_contact
from kgan.training.signals import StopFlag

DEFAULT_TIMEOUT = 60.0


def _open_session(run_dir: Path, epochs: int | None, cluster: Cluster) -> tuple[TrainingSession, dict | None]:
    """The chief opens its run and tells the others; every worker gets the chief's weights.

    Returns the session and the chief's best-by-val-FID record.
    """
    if cluster.chief:
        record = {
            "config": runs.config_on_resume(run_dir, epochs).to_dict(),
            "dataset": RunFolder(Path(run_dir)).dataset_record(),
            "best": checkpoint.best(run_dir),
            "conditions": conditions.to_dict() if (conditions := RunFolder(Path(run_dir)).conditions()) else None,
        }
    record = cluster.chief_record(record if cluster.chief else None)
    config = TrainConfig.from_dict(record["config"]).validate()
    conditions = Conditions.from_dict(record["conditions"]) if record["conditions"] else None
    dataset = runs.dataset_of(record["dataset"])
    session = TrainingSession(run_dir, config, dataset, cluster.strategy, writes=cluster.chief, conditions=conditions)
    if cluster.chief:
        session.restore()
    gan = session.gan
    cluster.broadcast(
        [
            *gan.generator.weights,
            *gan.discriminator.weights,
            *(gan.ema_generator.weights if gan.ema_generator is not None else []),
            *gan.g_optimizer.variables,
            *gan.d_optimizer.variables,
        ]
    )
    return session, record["best"]


def train_multiworker(
    run_dir: Path,
    *,
    epochs: int | None = None,
    callbacks: list | tuple = (),
    timeout: float = DEFAULT_TIMEOUT,
    warn: Callable[[str], None] | None = None,
    validator: Validator | None = None,
) -> TrainResult:
    """Train the run in `run_dir` as one worker of the TF_CONFIG cluster (call on every worker).

    The chief's `run_dir` holds the run; the other workers take everything from the chief
    and write nothing. `validator` (by default the run's validation FID, computed by all
    workers together) scores the sampling generator every `fid_every` epochs; the chief's
    score decides the best checkpoint and early stopping on every worker.
    """
    run_dir = Path(run_dir)
    with RunFolder(run_dir).writer_lock() if cluster_role()[2] else contextlib.nullcontext():
        return _train(run_dir, epochs, callbacks, timeout, warn, validator)


def _train(run_dir: Path, epochs, callbacks, timeout: float, warn, validator) -> TrainResult:
    options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=timeout)
    strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    session = None
    what = (
        f"every worker stops at the next check (within {CHECK_EVERY} steps, or after the epoch's "
        "validation FID) and the chief saves a checkpoint"
    )
    with StopFlag(warn, what) as ctrl_c:
        try:
            cluster = Cluster(strategy)
            session, best = _open_session(run_dir, epochs, cluster)
            plan = session.plan(session.step)
            if plan.start_step >= plan.total_steps:
                return session.already_trained(plan.start_step)
            if validator is not None:
                custom = validator

                def validator(generator: keras.Model) -> float:
                    return float(cluster.from_chief(np.float64(custom(generator))))

            everyone = session.begin(
                plan,
                callbacks,
                validator=validator,
                warn=warn or (lambda message: None),
                shards=cluster.shards(),
                best=best,
                extra={"workers": cluster.workers},
                agree=cluster.chief_record,
            )
            interrupted = _train_epochs(session, everyone, cluster, ctrl_c)
        except (tf.errors.OpError, OSError) as error:
            if session is None:  # the cluster never came together
                if not isinstance(error, tf.errors.OpError):
                    raise
                message = lost_contact(0, error)
                if cluster_role()[2]:
                    RunFolder(run_dir).write_status("failed", step=0, reason=message)
                return TrainResult(run_dir, "failed", 0, 0, message)
            return session.ended_by(error, in_cluster=True)
    for callback in everyone:
        callback.on_train_end()
    if interrupted:
        # The worker that got the signal says which; the others stop because it did.
        return session.interrupted(ctrl_c.signum or signal.SIGINT, " on every worker")
    return session.outcome()


def _train_epochs(session: TrainingSession, everyone: list, cluster: Cluster, ctrl_c: StopFlag) -> bool:
    """The loop every worker runs in step with the others; True when a stop signal ended it."""
    strategy, gan, recorder, plan = cluster.strategy, session.gan, session.recorder, session.recorder.plan
    steps_per_epoch = plan.steps_per_epoch

    def dataset_fn(context: tf.distribute.InputContext) -> tf.data.Dataset:
        pipelines, index = context.num_input_pipelines, context.input_pipeline_id
        batches = session.dataset_for(plan.start_step, plan.total_steps)

        def my_slice(batch: dict) -> dict:
            return {key: tf.split(value, pipelines)[index] for key, value in batch.items()}

        return batches.map(my_slice)

    iterator = iter(strategy.distribute_datasets_from_function(dataset_fn))

    @tf.function
    def step() -> None:
        strategy.run(gan.train_step, args=(next(iterator),))

    for callback in everyone:
        callback.set_model(gan)
    global_step = plan.start_step
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
                logs = {name: float(tracker.result()) for name, tracker in gan.trackers.items()}
                epoch_logs = logs
                if cluster.anyone(ctrl_c.raised):
                    return True
            for callback in everyone:
                callback.on_train_batch_end(batch, logs)
            if recorder.failed:
                return False
        for callback in everyone:
            callback.on_epoch_end(epoch, epoch_logs)
    return False
