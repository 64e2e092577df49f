"""The terminal UI, TensorBoard logs, plots, the HTML report and the runs table."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import tensorflow as tf
from helpers import final_weights, tiny_config
from PIL import Image
from rich.console import Console

from cli.terminal_image import half_blocks
from cli.train_view import TrainingDisplay, sparkline
from kgan.data.dataset import PreparedDataset
from kgan.runs import create_run
from kgan.runs.folder import RunFolder
from kgan.runs.report import list_runs, plot_history, write_report
from kgan.training.session import train


def trained(tmp_path, small_dataset, display=None, variant="dcgan", scores=(9.0, 7.0, 8.0)):
    config = tiny_config(variant=variant, epochs=len(scores), fid_every=1, patience=5)
    run_dir = create_run(config, PreparedDataset(small_dataset), tmp_path / f"run-{variant}")
    values = iter(scores)
    result = train(run_dir, callbacks=[display] if display else [], validator=lambda generator: next(values))
    assert result.status == "finished"
    return run_dir


def test_live_dashboard_shows_every_panel_with_the_runs_values(tmp_path, small_dataset):
    recording = Console(record=True, width=150, force_terminal=True, color_system="truecolor")
    display = TrainingDisplay(live=True, run_name="demo-run", output=recording)
    run_dir = trained(tmp_path, small_dataset, display)
    display.close()
    recording.print(display.render())
    text = recording.export_text()
    last = RunFolder(run_dir).metrics()[-1]
    for title in ("losses", "validation FID", "fixed-noise samples", "warnings", "demo-run"):
        assert title in text, title
    assert f"{last['d_loss']:.4f}" in text and f"{last['d_fake']:.4f}" in text
    assert "7.000 ★ best" in text and "patience left: 4 epochs" in text
    assert "▀" in text and "epochs" in text
    assert "rgb(" in recording.export_html() or "color:" in recording.export_html()


def test_dashboard_fits_small_and_large_terminals(tmp_path, small_dataset):
    display = TrainingDisplay(live=False, run_name="fit")
    trained(tmp_path, small_dataset, display)
    display.live_mode = True
    for width, height, rows in ((80, 24, 0), (100, 30, 20), (150, 42, 24), (200, 20, 15)):
        display.console = Console(record=True, width=width, height=height, force_terminal=True)
        display.console.print(display.render())
        lines = display.console.export_text().splitlines()
        text = "\n".join(lines)
        assert len(lines) <= height, (width, height)
        for title in ("losses", "D(G(z))", "validation FID", "7.000 ★ best", "patience left", "warnings"):
            assert title in text, (width, height, title)
        # The grid shrinks to fit, whole (two pixel rows per line), and goes when the losses need the width.
        assert ("fixed-noise samples" in text) == (rows > 0), (width, height)
        assert len([line for line in lines if "▀" in line]) == rows, (width, height)


def test_sparkline_and_half_blocks():
    assert sparkline([1, 2, 3, 4]) == "▁▃▆█" and sparkline([]) == "" and sparkline([5, 5]) == "▁▁"
    image = np.zeros((4, 4, 3), np.uint8)
    image[1::2] = 255  # black rows over white rows: each cell is black on white
    text = half_blocks(image, width=4)
    assert text.plain == "▀▀▀▀\n▀▀▀▀"
    assert {str(span.style) for span in text.spans} == {"rgb(0,0,0) on rgb(255,255,255)"}


def test_tensorboard_step_and_epoch_scalars_grids_and_hparams(tmp_path, small_dataset):
    from tensorboard.plugins.hparams import plugin_data_pb2

    config = tiny_config(epochs=2, steps_per_epoch=6, log_every=4, fid_every=1, lr_g=3e-4)
    run_dir = create_run(config, PreparedDataset(small_dataset), tmp_path / "run")
    scores = iter((9.0, 7.0))
    assert train(run_dir, validator=lambda generator: next(scores)).status == "finished"
    steps, images, sessions = {}, [], []
    for event_file in (run_dir / "tensorboard").glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(event_file)):
            for value in event.summary.value:
                steps.setdefault(value.tag, []).append(event.step)
                if value.tag == "samples/fixed_noise":
                    images.append(tf.io.decode_png(tf.make_ndarray(value.tensor)[2]).shape)
                if value.metadata.plugin_data.plugin_name == "hparams":
                    data = plugin_data_pb2.HParamsPluginData.FromString(value.metadata.plugin_data.content)
                    sessions.append(data)
                if value.tag == "step/lr_g":
                    assert tf.make_ndarray(value.tensor) == np.float32(3e-4)
    for tag in ("train/d_loss", "train/g_loss", "train/d_real", "train/d_fake", "fid/val_fid", "fid/best_val_fid"):
        assert steps[tag] == [1, 2], tag  # per epoch
    for tag in ("step/d_loss", "step/g_loss", "step/lr_g", "step/lr_d", "step/images_per_sec"):
        assert steps[tag] == [4, 8, 12], tag  # every log_every steps, across the epoch boundary
    assert images == [(2 * 66 + 2, 2 * 66 + 2, 3)] * 2  # 4 tiles of 32 px, enlarged to 64 as in the PNGs
    started = [s.session_start_info for s in sessions if s.HasField("session_start_info")]
    assert len(started) == 1 and started[0].hparams["lr_g"].number_value == config.lr_g
    assert started[0].hparams["variant"].string_value == "dcgan"
    experiment = [s.experiment for s in sessions if s.HasField("experiment")]
    assert [m.name.tag for m in experiment[0].metric_infos] == ["fid/val_fid", "fid/best_val_fid"]


def test_checkpoint_every_steps_bounds_what_a_crash_loses(tmp_path, small_dataset):
    import shutil

    from kgan.training import checkpoint

    config = tiny_config(epochs=1, steps_per_epoch=7, checkpoint_every=3, keep_checkpoints=10)
    run_dir = create_run(config, PreparedDataset(small_dataset), tmp_path / "run")
    assert train(run_dir).status == "finished"
    saved = sorted(p.name for p in checkpoint.checkpoint_dir(run_dir).glob("step-*"))
    assert saved == [checkpoint.name_for(step) for step in (3, 6, 7)]
    # A crash after step 6: the run continues from there and ends where it would have.
    crashed = tmp_path / "crashed"
    shutil.copytree(run_dir, crashed)
    shutil.rmtree(checkpoint.checkpoint_dir(crashed) / checkpoint.name_for(7))
    (crashed / "metrics.jsonl").unlink()
    assert train(crashed).status == "finished"
    for straight, resumed in zip(final_weights(run_dir), final_weights(crashed), strict=True):
        np.testing.assert_array_equal(straight, resumed)


def test_plots_have_the_expected_curves(tmp_path, small_dataset):
    dcgan = RunFolder(trained(tmp_path, small_dataset)).metrics()
    written = plot_history(dcgan, tmp_path / "plots-dcgan")
    assert written[tmp_path / "plots-dcgan" / "losses.png"] == 4  # penalty is all zeros for dcgan
    assert written[tmp_path / "plots-dcgan" / "fid.png"] == 1
    wgan = RunFolder(trained(tmp_path, small_dataset, variant="wgangp")).metrics()
    assert plot_history(wgan, tmp_path / "plots-wgan")[tmp_path / "plots-wgan" / "losses.png"] == 5
    for path in written:
        with Image.open(path) as image:
            image.verify()
            assert image.format == "PNG"


def test_html_report_references_only_existing_files(tmp_path, small_dataset):
    run_dir = trained(tmp_path, small_dataset)
    page = write_report(run_dir)
    html = page.read_text()
    for reference in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert reference.startswith("data:") or (page.parent / reference).exists(), reference
    assert html.count("<figure") == 3 and "7.000 (epoch 2)" in html and "d_width" in html
    assert (page.parent / "losses.png").is_file() and (page.parent / "fid.png").is_file()


def test_runs_table(tmp_path, small_dataset, monkeypatch):
    monkeypatch.setenv("KGAN_RUNS_DIR", str(tmp_path))
    run_dir = trained(tmp_path, small_dataset)
    with open(run_dir / "evaluations.jsonl", "w") as log:
        log.write('{"split": "test", "fid": 42.5}\n')
    (rows,) = [row for row in list_runs(Path(tmp_path)) if row["name"] == run_dir.name]
    assert (rows["variant"], rows["epochs"], rows["epochs_planned"], rows["status"]) == ("dcgan", 3, 3, "finished")
    assert (rows["best_val_fid"], rows["best_epoch"], rows["test_fid"]) == (7.0, 2, 42.5)


def test_a_steered_runs_fid_panel_shows_each_epochs_worst_read_attribute_and_why_it_is_best():
    display = TrainingDisplay(live=False, run_name="steered")
    display.config = tiny_config(condition="hair_colour,mouth", fid_every=1, best_by="steering")
    display.history = [
        {"epoch": 1, "val_fid": 30.0, "attribute_accuracy": {"hair_colour": 0.9, "mouth": 0.62}},
        {"epoch": 2, "val_fid": 40.0, "attribute_accuracy": {"hair_colour": 0.95, "mouth": 0.81}},
    ]
    display.best = {"epoch": 2, "val_fid": 40.0, "by": "steering", "worst_attribute": "mouth", "worst_accuracy": 0.81}
    for width in (80, 150):
        display.console = Console(record=True, width=width, height=24, force_terminal=True)
        display.console.print(display.fid_panel())
        text = display.console.export_text()
        assert "best by steering" in text
        assert "30.000  mouth 62%" in text
        assert "40.000  mouth 81% ★ best" in text


def test_a_steered_runs_plain_line_names_its_worst_read_attribute(capsys):
    from kgan.training.plan import Plan

    display = TrainingDisplay(live=False, run_name="steered")
    display.plan = Plan(2, 5, 0, 8, 8)
    display.history = [{"epoch": 1, "val_fid": 30.0, "attribute_accuracy": {"hair_colour": 0.9, "mouth": 0.62}}]
    display.on_epoch_end(0, {"d_loss": 0.5})
    line = capsys.readouterr().out
    assert line.startswith("epoch 1/2 step 5/10 d_loss=0.5000 val_fid=30.000 worst_attribute=mouth:0.620 ")
