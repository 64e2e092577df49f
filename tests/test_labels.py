"""Labels from users' data (`kgan data prepare --labels`): the ingest policy, both layouts, and
one line for each bad file — a real CSV, real images, `kgan` in a subprocess."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from helpers import assert_one_line_error, kgan
from PIL import Image

from kgan.data.labels import attach, read_labels
from kgan.errors import KganError


@pytest.fixture
def faces(tmp_path):
    """Seven distinct images, one in a subfolder."""
    folder = tmp_path / "faces"
    (folder / "sub").mkdir(parents=True)
    names = ["a.png", "b.png", "c.png", "d.png", "e.png", "f.png", "sub/g.png"]
    for i, name in enumerate(names):
        Image.fromarray(np.full((20, 20, 3), 30 * i, np.uint8)).save(folder / name)
    return folder


def write(path, text: str, encoding: str = "utf-8") -> None:
    path.write_bytes(text.encode(encoding))


def rows_of(dataset) -> dict[str, dict[str, str]]:
    with open(dataset / "attributes.csv", newline="", encoding="utf-8") as handle:
        return {row["name"]: row for row in csv.DictReader(handle)}


def test_labels_are_stored_and_every_problem_is_counted_never_guessed(faces, tmp_path):
    labels = tmp_path / "labels.csv"
    write(
        labels,
        "\ufefffile,hair_color,eye_color\r\n"  # a byte-order mark and CRLF, as spreadsheets write
        'a.png,blue,red\r\nb.png,"blue, light",green\r\n'  # a quoted comma is part of the value
        "a.png,blue,red\r\n"  # the same row again: kept once
        "c.png,black,red\r\nc.png,pink,red\r\n"  # rows that disagree: c is left unlabelled
        "d.png,,blue\r\n"  # no hair colour
        "ghost.png,blue,blue\r\n"  # no such image
        "g.png,pink,blue\r\n",  # matched by its base name: sub/g.png
    )
    done = kgan("data", "prepare", str(faces), "--out", "ds", "--labels", str(labels), "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)["labels"]
    assert record["attributes"] == ["hair_color", "eye_color"]
    assert record["vocabulary"] == {
        "hair_color": ["black", "blue", "blue, light", "pink"],
        "eye_color": ["blue", "green", "red"],
    }
    report = record["report"]
    # c: rows that disagree; e and f: no row
    assert (report["rows"], report["labelled_images"], report["unlabelled_images"]) == (8, 4, 2)
    assert (report["duplicate_rows"], report["conflicting_files"], report["unknown_files"]) == (1, 1, 1)
    assert report["unknown_file_examples"] == ["ghost.png"] and report["conflicting_examples"] == ["c.png"]
    assert report["missing_values"] == {"hair_color": 1}  # d
    stored = rows_of(tmp_path / "ds")
    assert set(stored) == {"a.png", "b.png", "c.png", "d.png", "e.png", "f.png", "sub/g.png"}
    assert (stored["a.png"]["hair_color"], stored["b.png"]["hair_color"]) == ("blue", "blue, light")
    assert stored["c.png"]["hair_color"] == "" and stored["d.png"]["eye_color"] == "blue"
    assert stored["sub/g.png"]["hair_color"] == "pink" and stored["f.png"]["hair_color"] == ""
    manifest = json.loads((tmp_path / "ds" / "manifest.json").read_text())
    assert [stored[name]["index"] for name in manifest["names"]] == [str(i) for i in range(7)]

    shown = kgan("data", "prepare", str(faces), "--out", "ds2", "--labels", str(labels), cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "hair_color: black, blue, blue, light, pink" in shown.stdout
    warnings = [line for line in shown.stderr.splitlines() if line.startswith("kgan: warning:")]
    for words in ("name no image of the source, e.g. ghost.png", "disagree", "2 images have no label row"):
        assert any(words in line for line in warnings), (words, warnings)


def test_tags_give_hair_and_eye_colours_and_ambiguity_is_no_label(faces, tmp_path):
    labels = tmp_path / "tags.csv"
    write(labels, "file,tags\na.png,1girl blue_hair red_eyes smile\nb.png,long_hair pink_hair blue_hair green_eyes\n")
    done = kgan("data", "prepare", str(faces), "--out", "ds", "--labels", str(labels), "--tags", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    stored = rows_of(tmp_path / "ds")
    assert (stored["a.png"]["hair_color"], stored["a.png"]["eye_color"]) == ("blue", "red")
    assert (stored["b.png"]["hair_color"], stored["b.png"]["eye_color"]) == ("", "green")  # two hair colours
    assert json.loads(done.stdout)["labels"]["vocabulary"]["hair_color"] == ["blue"]


def test_a_given_vocabulary_leaves_other_values_empty_and_counts_them(tmp_path):
    labels = tmp_path / "labels.csv"
    write(labels, "file,hair_color\na.png,blue\nb.png,teal\n")
    table = read_labels(labels, vocabulary={"hair_color": ["blue", "red"]})
    rows = attach(table, ["a.png", "b.png"])
    assert rows == [{"hair_color": "blue"}, {"hair_color": ""}]
    assert table.report.outside_vocabulary == {"hair_color=teal": 1} and table.report.missing == {"hair_color": 1}


@pytest.mark.parametrize(
    ("content", "encoding", "words"),
    [
        ("name,hair_color\na.png,blue\n", "utf-8", "no 'file' column \\(its columns: name, hair_color\\)"),
        ("file\na.png\n", "utf-8", "no attribute columns"),
        ("file,hair_color,hair_color\na.png,blue,red\n", "utf-8", "names a column twice \\(hair_color\\)"),
        ("file,hair_color\na.png,blue\n", "utf-16", "is not UTF-8"),
    ],
    ids=["no file column", "no attributes", "repeated column", "utf-16"],
)
def test_a_bad_labels_file_is_refused_saying_what_to_do(tmp_path, content, encoding, words):
    labels = tmp_path / "labels.csv"
    write(labels, content, encoding)
    with pytest.raises(KganError, match=words):
        read_labels(labels)


def test_a_bad_labels_file_is_one_line_before_any_image_is_read(faces, tmp_path):
    labels = tmp_path / "labels.csv"
    write(labels, "file,hair_color\nä.png,blau\n", "latin-1")
    done = kgan("data", "prepare", str(faces), "--out", "ds", "--labels", str(labels), cwd=tmp_path)
    assert_one_line_error(done, "is not UTF-8", "byte 0xe4", "save it as UTF-8")
    assert not (tmp_path / "ds").exists()


def test_tags_need_a_labels_file_with_a_tags_column(faces, tmp_path):
    assert_one_line_error(kgan("data", "prepare", str(faces), "--out", "ds", "--tags", cwd=tmp_path), "give --labels")
    labels = tmp_path / "labels.csv"
    write(labels, "file,hair_color\na.png,blue\n")
    done = kgan("data", "prepare", str(faces), "--out", "ds", "--labels", str(labels), "--tags", cwd=tmp_path)
    assert_one_line_error(done, "no 'tags' column")
    missing = kgan("data", "prepare", str(faces), "--out", "ds", "--labels", str(tmp_path / "none.csv"), cwd=tmp_path)
    assert_one_line_error(missing, "cannot read --labels")
    assert not (tmp_path / "ds").exists()
