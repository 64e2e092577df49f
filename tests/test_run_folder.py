"""A run's files through `RunFolder`, the one place that knows their names and formats; and
the split names every command shares."""

from __future__ import annotations

import json

import pytest
from helpers import tiny_config

from kgan.data.dataset import SPLITS, Split
from kgan.errors import KganError
from kgan.runs import dataset_of, run_folders
from kgan.runs.folder import RunFolder


def test_a_run_folder_reads_back_what_it_writes(tmp_path):
    folder = RunFolder(tmp_path / "run")
    folder.path.mkdir()
    assert not folder.is_run() and folder.metrics() == [] and folder.evaluations() == [] and folder.record() == {}
    with pytest.raises(KganError, match="not a kgan run"):
        folder.config()
    config = tiny_config(epochs=3)
    folder.save_dataset_record({"path": "/data", "split_id": "abc"})
    folder.write_status("running", step=4)
    folder.record_session({"command": "kgan train"})
    folder.save_config(config)
    assert folder.is_run() and folder.config() == config and folder.config_values()["epochs"] == 3
    assert folder.dataset_record()["split_id"] == "abc"
    record = folder.record()
    assert record["status"] == "running" and record["step"] == 4 and record["sessions"] == [{"command": "kgan train"}]
    assert folder.status() == "died"  # running, yet nobody holds the lock
    with folder.writer_lock():
        assert folder.status() == "running" and folder.is_locked()
        with pytest.raises(KganError, match="being trained by pid"), RunFolder(folder.path).writer_lock():
            pass

    folder.append_metrics({"epoch": 1, "d_loss": 1.0})
    folder.append_metrics({"epoch": 2, "d_loss": 2.0})
    folder.append_metrics({"epoch": 2, "d_loss": 3.0})  # a resume redid epoch 2
    with open(folder.path / RunFolder.METRICS, "a") as log:
        log.write('{"epoch": 3, "d_lo')  # a line cut short by a crash
    assert folder.metrics() == [{"epoch": 1, "d_loss": 1.0}, {"epoch": 2, "d_loss": 3.0}]
    folder.append_evaluation({"split": Split.TEST, "fid": 12.5})
    folder.append_evaluation({"split": "val", "fid": 14.0})
    assert [row["split"] for row in folder.evaluations()] == ["test", "val"]
    assert [f.path for f in run_folders(tmp_path)] == [folder.path]
    assert [f.path for f in run_folders(folder.path)] == [folder.path]


def test_a_record_of_a_dataset_that_is_gone_is_one_line_and_draws_nothing(tmp_path):
    with pytest.raises(KganError, match="is gone: restore it"):
        dataset_of({"path": str(tmp_path / "nowhere"), "split_id": "abc"})
    assert not (tmp_path / "nowhere").exists()


def test_split_names_are_the_same_everywhere():
    assert SPLITS == ("train", "val", "test") and Split.parse("val") is Split.VAL
    assert f"{Split.TEST}" == "test" and str(Split.VAL) == "val" and json.dumps(Split.TRAIN) == '"train"'
    with pytest.raises(KganError, match="unknown split 'dev': choose one of train, val, test"):
        Split.parse("dev")


def test_a_run_made_by_a_newer_kgan_is_one_line_saying_so_and_is_left_as_it_is(tmp_path):
    from helpers import assert_one_line_error, kgan

    folder = RunFolder(tmp_path / "run")
    folder.path.mkdir()
    folder.save_config(tiny_config())
    values = json.loads((folder.path / RunFolder.CONFIG).read_text())
    (folder.path / RunFolder.CONFIG).write_text(json.dumps({**values, "a_later_option": 3}))
    before = (folder.path / RunFolder.CONFIG).read_bytes()
    with pytest.raises(KganError, match=r"sets a_later_option, which this kgan does not know: .* newer kgan"):
        folder.config()
    result = kgan("train", "--resume", "--run-dir", str(folder.path), cwd=tmp_path)
    assert_one_line_error(result, "a_later_option", "newer kgan", "update kgan")
    assert (folder.path / RunFolder.CONFIG).read_bytes() == before
