"""Run as a script, once per worker (TF_CONFIG set by the test): train a run as one worker
of a MultiWorkerMirroredStrategy cluster, then save this worker's final weights.

    python multiworker_worker.py RUN_DIR DATA_DIR OUT.npz EPOCHS TIMEOUT [SCORES]

The chief creates RUN_DIR if it holds no run; the other workers take the run from the
chief (RUN_DIR may be a folder of their own, or the chief's on a shared filesystem).
SCORES ("5,4,6"): the chief's validation scores, one per epoch, with patience 2 (the
scripted stand-in for validation FID). KGAN_TEST_FAULT="KIND:STEP:WORKER" makes that worker
fail after that step as a real fault would: KIND oom (TensorFlow's out of memory) or disk
(no space left). KGAN_TEST_CONDITION: the run is steered by those attributes;
KGAN_TEST_BEST_BY: its --best-by.
Exit code: 0 finished or stopped early, 130 interrupted, 3 failed.
"""

import errno
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(__file__))

import keras
import numpy as np
from helpers import tiny_config

from kgan.data.dataset import PreparedDataset
from kgan.runs import create_run
from kgan.training.cluster import cluster_role
from kgan.training.multiworker import train_multiworker

run_dir, data_dir, out, epochs, timeout = sys.argv[1:6]
scores = [float(value) for value in sys.argv[6].split(",")] if len(sys.argv) > 6 else None


class SaveWeights(keras.callbacks.Callback):
    def on_train_end(self, logs=None):
        weights = self.model.generator.get_weights() + self.model.discriminator.get_weights()
        np.savez(out, *weights)


class Fault(keras.callbacks.Callback):
    def __init__(self, kind: str, step: int):
        super().__init__()
        self.kind, self.step = kind, step

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.g_optimizer.iterations.numpy()) != self.step:
            return
        if self.kind == "oom":
            import tensorflow as tf

            raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor with shape[8,64,16,16]")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.path.join(run_dir, "metrics.jsonl"))


_, index, chief = cluster_role()
faults = []
if os.environ.get("KGAN_TEST_FAULT"):
    kind, step, worker = os.environ["KGAN_TEST_FAULT"].split(":")
    faults = [Fault(kind, int(step))] if int(worker) == index else []
if chief and not os.path.exists(os.path.join(run_dir, "config.json")):
    fid = dict(fid_every=1, patience=2) if scores else {}
    steering = {"condition": os.environ["KGAN_TEST_CONDITION"]} if os.environ.get("KGAN_TEST_CONDITION") else {}
    if os.environ.get("KGAN_TEST_BEST_BY"):
        steering["best_by"] = os.environ["KGAN_TEST_BEST_BY"]
    config = tiny_config(
        epochs=int(epochs), batch_size=8, strategy="multiworker", deterministic=False, **fid, **steering
    )
    create_run(config, PreparedDataset(data_dir), run_dir)
validator = None
if scores:
    # Every worker scores each epoch (as validation FID does); the chief's score decides.
    scripted = iter(scores if chief else [0.0] * len(scores))

    def validator(generator):
        return next(scripted)


result = train_multiworker(
    run_dir, epochs=int(epochs), callbacks=[SaveWeights(), *faults], timeout=float(timeout), validator=validator
)
print(f"worker {index} {result.status} {result.step} {result.message}", flush=True)
sys.exit({"finished": 0, "stopped_early": 0, "interrupted": 130}.get(result.status, 3))
