"""The workers of a MultiWorkerMirroredStrategy cluster, and how they agree.

Everything the workers must share goes through the strategy's collectives — no files,
so workers need no shared filesystem: the chief's word (its config and run record), its
weights and optimizer state, each worker's share of the validation features, the
decisions every worker must take alike. A collective waits at most the strategy's
timeout for the others, so a lost worker ends the rest with an error instead of a hang.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import tensorflow as tf

from kgan.errors import KganError
from kgan.metrics.shards import Shards
from kgan.paths import CLUSTER_ENV


def cluster_role() -> tuple[str, int, bool]:
    """(task type, task id, is chief) from TF_CONFIG; a KganError when it is missing or bad."""
    spec = _tf_config()
    task, cluster = spec["task"], spec["cluster"]
    kind, index = task.get("type"), int(task.get("index", 0))
    chief = kind == "chief" or (kind == "worker" and index == 0 and "chief" not in cluster)
    return kind, index, chief


def _tf_config() -> dict[str, Any]:
    try:
        spec = json.loads(os.environ[CLUSTER_ENV])
        spec["task"], spec["cluster"]
    except KeyError:
        raise KganError("--strategy multiworker needs TF_CONFIG (cluster and task): see the README") from None
    except json.JSONDecodeError as error:
        raise KganError(f"TF_CONFIG is not valid JSON ({error})") from None
    return spec


class Cluster:
    """Collectives over every worker of `strategy`, callable from plain Python.

    Each worker must make the same calls in the same order (that is what a collective
    is); values are numpy arrays in and out.
    """

    def __init__(self, strategy: tf.distribute.Strategy):
        self.strategy = strategy
        spec = _tf_config()
        self.workers = sum(len(tasks) for kind, tasks in spec["cluster"].items() if kind in ("chief", "worker"))
        self.chief = cluster_role()[2]
        self.local_replicas = max(1, strategy.num_replicas_in_sync // self.workers)
        self._sum = tf.function(self._sum_fn, reduce_retracing=True)
        self._gather = tf.function(self._gather_fn, reduce_retracing=True)
        # A worker's place in a gather is its shard index: ask the collective rather than assume.
        me = np.array([[float(self.chief), np.random.default_rng().random()]], np.float32)
        everyone = self._gather(tf.constant(me)).numpy()
        self.index = int(np.flatnonzero((everyone == me).all(axis=1))[0])

    # ---- the primitives ----------------------------------------------------------------

    def _first_local_replica(self) -> tf.Tensor:
        replica = tf.distribute.get_replica_context().replica_id_in_sync_group
        return tf.equal(tf.math.floormod(replica, self.local_replicas), 0)

    def _sum_fn(self, value: tf.Tensor) -> tf.Tensor:
        """Σ over workers of each worker's `value` (each counted once)."""

        def mine(x: tf.Tensor) -> tf.Tensor:
            return tf.where(self._first_local_replica(), x, tf.zeros_like(x))

        return self.strategy.reduce(tf.distribute.ReduceOp.SUM, self.strategy.run(mine, args=(value,)), axis=None)

    def _gather_fn(self, value: tf.Tensor) -> tf.Tensor:
        """Every worker's `value` stacked along axis 0, in worker order (equal shapes)."""
        gathered = self.strategy.gather(self.strategy.run(tf.identity, args=(value,)), axis=0)
        rows = tf.shape(value)[0]
        per_replica = tf.reshape(
            gathered, tf.concat([[self.workers, self.local_replicas, rows], tf.shape(value)[1:]], 0)
        )
        return tf.reshape(per_replica[:, 0], tf.concat([[self.workers * rows], tf.shape(value)[1:]], 0))

    def total(self, value: np.ndarray | float) -> np.ndarray:
        return self._sum(tf.constant(value)).numpy()

    def gather(self, value: np.ndarray) -> np.ndarray:
        return self._gather(tf.constant(value)).numpy()

    def from_chief(self, value: np.ndarray | float) -> np.ndarray:
        """The chief's `value` on every worker (the others pass anything of the same shape)."""
        value = np.asarray(value)
        return self.total(value if self.chief else np.zeros_like(value))

    def everyone(self, flag: bool) -> bool:
        """True on every worker when `flag` is True on every worker."""
        return float(self.total(np.float32(not flag))) == 0.0

    def anyone(self, flag: bool) -> bool:
        """True on every worker when `flag` is True on any worker."""
        return float(self.total(np.float32(flag))) > 0.0

    # ---- built on them -----------------------------------------------------------------

    def shards(self) -> Shards:
        """This worker's share of an evaluation, and how the shares come back together."""
        return Shards(index=self.index, count=self.workers, gather=self.gather, everyone=self.everyone)

    def chief_record(self, record: dict[str, Any] | None) -> dict[str, Any]:
        """The chief's `record` (JSON-able) on every worker; the others pass None."""
        data = np.frombuffer(json.dumps(record).encode() if self.chief else b"", np.uint8)
        length = int(self.from_chief(np.int64(len(data))))
        padded = np.zeros(length, np.int32)
        padded[: len(data)] = data
        received = self.from_chief(padded).astype(np.uint8).tobytes()
        return json.loads(received.decode())

    def broadcast(self, variables: list) -> None:
        """Give every worker the chief's values of `variables` (weights, optimizer state)."""

        @tf.function
        def assign_all() -> None:
            for variable in variables:
                variable.assign(self._sum_fn(tf.where(self.chief, variable.value, tf.zeros_like(variable.value))))

        assign_all()
