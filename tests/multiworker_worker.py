"""Run as a script, once per worker (TF_CONFIG set by the test): train a run as one worker
of a MultiWorkerMirroredStrategy cluster, then save this worker's final weights.

    python multiworker_worker.py RUN_DIR DATA_DIR OUT.npz EPOCHS TIMEOUT
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(__file__))

import keras
import numpy as np
from conftest import tiny_config

from kgan.data.dataset import PreparedDataset
from kgan.multiworker import cluster_role, train_multiworker, wait_for_run
from kgan.train import create_run

run_dir, data_dir, out, epochs, timeout = sys.argv[1:6]


class SaveWeights(keras.callbacks.Callback):
    def on_train_end(self, logs=None):
        weights = self.model.generator.get_weights() + self.model.discriminator.get_weights()
        np.savez(out, *weights)


_, index, chief = cluster_role()
if chief:
    config = tiny_config(epochs=int(epochs), batch_size=8, strategy="multiworker", deterministic=False)
    create_run(config, PreparedDataset(data_dir), run_dir)
else:
    wait_for_run(run_dir, timeout=120)
result = train_multiworker(run_dir, callbacks=[SaveWeights()], timeout=float(timeout))
print(f"worker {index} {result.status} {result.step} {result.message}", flush=True)
sys.exit(0 if result.status == "finished" else 3)
