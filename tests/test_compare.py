"""`kgan compare`: runs side by side, as a table, Markdown, JSON and one HTML page."""

from __future__ import annotations

import json

from helpers import assert_one_line_error, kgan, tiny_config
from PIL import Image

from kgan.data.dataset import PreparedDataset
from kgan.runs import create_run
from kgan.runs.folder import RunFolder
from kgan.training.session import train


def test_two_runs_side_by_side(tmp_path, small_dataset):
    dataset = PreparedDataset(small_dataset)
    made = {}
    for variant, scores in (("dcgan", [9.0, 7.0, 8.0]), ("wgangp", [6.0, 5.0, 5.5])):
        run_dir = create_run(tiny_config(variant=variant, epochs=3, fid_every=1), dataset, tmp_path / variant)
        values = iter(scores)
        assert train(run_dir, validator=lambda generator, values=values: next(values)).status == "finished"
        made[variant] = run_dir
    rows = RunFolder(made["dcgan"]).metrics()

    out = tmp_path / "cmp"
    result = kgan("compare", str(made["dcgan"]), str(made["wgangp"]), "--out", str(out), "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    first, second = report["runs"]
    assert (first["run"], first["variant"], first["best_val_fid"], first["best_epoch"]) == ("dcgan", "dcgan", 7.0, 2)
    assert (second["best_val_fid"], second["best_epoch"], second["epochs"]) == (5.0, 2, 3)
    assert first["minutes_to_best"] == round(rows[1]["elapsed_seconds"] / 60, 1)
    assert [point[2] for point in first["curve"]] == [9.0, 7.0, 8.0]
    assert first["test_fid"] is None and first["coverage"] is None and first["status"] == "finished"
    page = (out / "index.html").read_text()
    assert "kgan comparison of 2 runs" in page and page.count("data:image/png;base64,") == 2
    for name in ("fid_by_epoch.png", "fid_by_time.png"):
        with Image.open(out / name) as image:
            assert image.size == (700, 400)

    markdown = kgan("compare", str(made["dcgan"]), str(made["wgangp"]), "--out", str(out), "--markdown", cwd=tmp_path)
    lines = markdown.stdout.splitlines()
    assert lines[0].startswith("| run | variant | epochs | best val FID |") and lines[1].startswith("|---|")
    assert lines[2].startswith("| dcgan | dcgan | 3 | 7.00 | 2 |")
    assert lines[3].startswith("| wgangp | wgangp | 3 | 5.00 | 2 |")

    table = kgan("compare", str(made["dcgan"]), str(made["wgangp"]), "--out", str(out), cwd=tmp_path)
    assert "dcgan" in table.stdout and "wgangp" in table.stdout and "7.00" in table.stdout

    not_a_run = kgan("compare", str(made["dcgan"]), str(tmp_path), "--out", str(out), cwd=tmp_path)
    assert_one_line_error(not_a_run, "is not a run folder")
