"""The terminal UI, TensorBoard logs, plots, the HTML report and the runs table."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import tensorflow as tf
from helpers import tiny_config
from PIL import Image
from rich.console import Console

from cli.terminal_image import half_blocks
from cli.train_view import TrainingDisplay, sparkline
from kgan import runs
from kgan.data.dataset import PreparedDataset
from kgan.report import list_runs, plot_history, write_report
from kgan.runs import create_run
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
    last = runs.read_metrics(run_dir)[-1]
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


def test_tensorboard_scalars_and_images(tmp_path, small_dataset):
    run_dir = trained(tmp_path, small_dataset)
    tags = set()
    for event_file in (run_dir / "tensorboard").glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(event_file)):
            tags.update(value.tag for value in event.summary.value)
    for tag in ("train/d_loss", "train/g_loss", "train/d_real", "train/d_fake", "fid/val_fid", "samples/fixed_noise"):
        assert tag in tags, tag


def test_plots_have_the_expected_curves(tmp_path, small_dataset):
    dcgan = runs.read_metrics(trained(tmp_path, small_dataset))
    written = plot_history(dcgan, tmp_path / "plots-dcgan")
    assert written[tmp_path / "plots-dcgan" / "losses.png"] == 4  # penalty is all zeros for dcgan
    assert written[tmp_path / "plots-dcgan" / "fid.png"] == 1
    wgan = runs.read_metrics(trained(tmp_path, small_dataset, variant="wgangp"))
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
        assert reference.startswith("data:image/png;base64,") or (page.parent / reference).exists(), reference
    assert html.count("<figure>") == 3 and "7.000 (epoch 2)" in html and "d_width" in html
    assert (page.parent / "losses.png").is_file() and (page.parent / "fid.png").is_file()


def test_runs_table(tmp_path, small_dataset, monkeypatch):
    monkeypatch.setenv("KGAN_RUNS_DIR", str(tmp_path))
    run_dir = trained(tmp_path, small_dataset)
    with open(run_dir / "evaluations.jsonl", "w") as log:
        log.write('{"split": "test", "fid": 42.5}\n')
    (rows,) = [row for row in list_runs(Path(tmp_path)) if row["name"] == run_dir.name]
    assert (rows["variant"], rows["epochs"], rows["epochs_planned"], rows["status"]) == ("dcgan", 3, 3, "finished")
    assert (rows["best_val_fid"], rows["best_epoch"], rows["test_fid"]) == (7.0, 2, 42.5)
