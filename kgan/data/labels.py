"""Labels from users' data: `kgan data prepare SOURCE --labels labels.csv [--tags]`.

Two layouts of one CSV file (UTF-8, a byte-order mark allowed, quoted fields as any CSV):

    file,hair_color,eye_color          one column per attribute, a value per cell
    faces/001.png,blue,red

    file,tags                          --tags: Danbooru-style tags, space-separated;
    faces/001.png,blue_hair red_eyes   `<colour>_hair` and `<colour>_eyes` give the
                                       hair and eye colours, other tags are ignored

A file is matched by its name in the source (`sub/001.png`), or by its base name when that
is unique. The labels are stored as the synthetic avatars' are, in `attributes.csv` (`index`,
`name`, one column per attribute; an empty cell: no label), and each attribute's vocabulary
in the manifest. Nothing is guessed or dropped in silence: every row that names an unknown
file, repeats a file with other labels, or holds a value outside the vocabulary, and every
image without a label, is counted in the `LabelReport`.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections import Counter
from pathlib import Path, PurePosixPath
from typing import Any

from kgan.errors import KganError

FILE_COLUMN = "file"
TAGS_COLUMN = "tags"
# Danbooru's colour words for hair and eyes: `blue_hair`, `red_eyes`, …
COLOURS = (
    "black", "blonde", "blue", "brown", "green", "grey", "orange", "pink", "purple", "red", "silver",
    "white", "yellow", "aqua",
)  # fmt: skip
TAG_ATTRIBUTES = {"hair": "hair_color", "eyes": "eye_color"}
EXAMPLES = 3  # names shown per problem in the report


@dataclasses.dataclass
class LabelReport:
    """What became of each row and each image: counts and the first few names of each problem."""

    rows: int = 0
    labelled: int = 0
    unlabelled: int = 0  # images no row names
    duplicate_rows: int = 0  # the same file with the same labels again: kept once
    conflicting: dict[str, int] = dataclasses.field(default_factory=Counter)  # file → rows that disagree
    unknown_files: list[str] = dataclasses.field(default_factory=list)
    outside_vocabulary: dict[str, int] = dataclasses.field(default_factory=Counter)  # "attr=value" → rows
    missing: dict[str, int] = dataclasses.field(default_factory=Counter)  # attribute → images without its value

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "labelled_images": self.labelled,
            "unlabelled_images": self.unlabelled,
            "duplicate_rows": self.duplicate_rows,
            "conflicting_files": len(self.conflicting),
            "conflicting_examples": sorted(self.conflicting)[:EXAMPLES],
            "unknown_files": len(self.unknown_files),
            "unknown_file_examples": self.unknown_files[:EXAMPLES],
            "outside_vocabulary": dict(sorted(self.outside_vocabulary.items())),
            "missing_values": dict(sorted(self.missing.items())),
            "problems": self.problems(),
        }

    def problems(self) -> list[str]:
        """One line per kind of problem, for the terminal."""
        lines = []
        if self.unknown_files:
            first = self.unknown_files[0]
            lines.append(f"{len(self.unknown_files)} label rows name no image of the source, e.g. {first}")
        if self.conflicting:
            first = sorted(self.conflicting)[0]
            lines.append(f"{len(self.conflicting)} images have rows that disagree (left unlabelled), e.g. {first}")
        for key, count in sorted(self.outside_vocabulary.items()):
            lines.append(f"{count} rows have {key}, outside the vocabulary (left empty)")
        if self.unlabelled:
            lines.append(f"{self.unlabelled} images have no label row")
        for name, count in sorted(self.missing.items()):
            lines.append(f"{count} images have no {name}")
        if self.duplicate_rows:
            lines.append(f"{self.duplicate_rows} rows repeat an earlier one exactly (kept once)")
        return lines


@dataclasses.dataclass
class LabelTable:
    """The labels read from a file: each attribute's vocabulary and each file's values."""

    attributes: tuple[str, ...]
    vocabulary: dict[str, tuple[str, ...]]
    by_file: dict[str, dict[str, str]]
    report: LabelReport


def read_labels(path: Path, *, tags: bool = False, vocabulary: dict[str, list[str]] | None = None) -> LabelTable:
    """The labels in `path` (one column per attribute, or a `tags` column with `tags`).

    The vocabulary of an attribute is `vocabulary[attribute]` when given, else every value its
    column holds; values outside a given vocabulary are counted and left empty."""
    rows, header = _rows(Path(path))
    if FILE_COLUMN not in header:
        raise KganError(
            f"--labels {path} has no '{FILE_COLUMN}' column (its columns: {', '.join(header) or 'none'}): "
            f"the first row must name the columns, e.g. {FILE_COLUMN},hair_color,eye_color"
        )
    if tags and TAGS_COLUMN not in header:
        raise KganError(f"--labels {path} has no '{TAGS_COLUMN}' column, which --tags reads")
    report = LabelReport(rows=len(rows))
    values = [_from_tags(row.get(TAGS_COLUMN, "")) if tags else _from_columns(row, header) for row in rows]
    attributes = tuple(TAG_ATTRIBUTES.values()) if tags else tuple(c for c in header if c != FILE_COLUMN)
    if not attributes:
        raise KganError(f"--labels {path} has no attribute columns besides '{FILE_COLUMN}'")
    vocab = {name: tuple(vocabulary[name]) for name in attributes if vocabulary and name in vocabulary}
    for name in attributes:
        vocab.setdefault(name, tuple(sorted({v[name] for v in values if v.get(name)})))
    by_file: dict[str, dict[str, str]] = {}
    for row, labels in zip(rows, values):
        name = row[FILE_COLUMN].strip()
        for attribute, value in list(labels.items()):
            if value and value not in vocab[attribute]:
                report.outside_vocabulary[f"{attribute}={value}"] += 1
                labels[attribute] = ""
        if name in by_file:
            if by_file[name] == labels:
                report.duplicate_rows += 1
            else:
                report.conflicting[name] += 1
            continue
        by_file[name] = labels
    for name in report.conflicting:
        by_file[name] = {}
    return LabelTable(attributes, vocab, by_file, report)


def attach(table: LabelTable, names: list[str]) -> list[dict[str, str]]:
    """Each image's labels, in the order of `names` (the dataset's rows); counts what is missing."""
    by_base: dict[str, list[str]] = {}
    for name in names:
        by_base.setdefault(PurePosixPath(name).name, []).append(name)
    resolved: dict[str, str] = {}  # label file name → image name
    for label_name in table.by_file:
        candidates = by_base.get(PurePosixPath(label_name).name, [])
        if label_name in candidates:
            resolved[label_name] = label_name
        elif len(candidates) == 1:
            resolved[label_name] = candidates[0]
        else:
            table.report.unknown_files.append(label_name)
    labels_of = {image: table.by_file[label] for label, image in resolved.items()}
    disputed = {image for label, image in resolved.items() if label in table.report.conflicting}
    out = []
    for name in names:
        labels = labels_of.get(name)
        if labels is None:
            table.report.unlabelled += 1
        if labels is None or name in disputed:  # disputed: counted as conflicting already
            out.append({})
            continue
        table.report.labelled += 1
        for attribute in table.attributes:
            if not labels.get(attribute):
                table.report.missing[attribute] += 1
        out.append(labels)
    return out


def write_attributes(path: Path, table: LabelTable, names: list[str], labels: list[dict[str, str]]) -> None:
    """`attributes.csv` in the synthetic avatars' layout: index, name, one column per attribute."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["index", "name", *table.attributes])
        for index, (name, row) in enumerate(zip(names, labels)):
            writer.writerow([index, name, *(row.get(attribute, "") for attribute in table.attributes)])


def _rows(path: Path) -> tuple[list[dict[str, str]], list[str]]:
    """The CSV's rows as dicts, and its header; a file that is not UTF-8 CSV is one line."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise KganError(f"cannot read --labels {path}: {error.strerror or error}") from None
    try:
        text = data.decode("utf-8-sig")  # a byte-order mark, as spreadsheets write, is dropped
    except UnicodeDecodeError as error:
        raise KganError(
            f"--labels {path} is not UTF-8 (byte 0x{data[error.start]:02x} at offset {error.start}): "
            "save it as UTF-8 (CSV UTF-8 in a spreadsheet)"
        ) from None
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        header = [column.strip() for column in reader.fieldnames or []]
        reader.fieldnames = header
        rows = [{k: (v or "").strip() for k, v in row.items() if k is not None} for row in reader]
    except csv.Error as error:
        raise KganError(f"--labels {path} is not a valid CSV file ({error})") from None
    if len(set(header)) != len(header):
        repeated = sorted(name for name, n in Counter(header).items() if n > 1)
        raise KganError(f"--labels {path} names a column twice ({', '.join(repeated)}): give each attribute once")
    return [row for row in rows if row.get(FILE_COLUMN)], header


def _from_columns(row: dict[str, str], header: list[str]) -> dict[str, str]:
    return {column: row.get(column, "") for column in header if column != FILE_COLUMN}


def _from_tags(text: str) -> dict[str, str]:
    """Hair and eye colour from Danbooru-style tags; two colours for one attribute leave it empty."""
    found: dict[str, set[str]] = {attribute: set() for attribute in TAG_ATTRIBUTES.values()}
    for tag in text.replace(",", " ").split():
        colour, _, part = tag.strip().lower().rpartition("_")
        if part in TAG_ATTRIBUTES and colour in COLOURS:
            found[TAG_ATTRIBUTES[part]].add(colour)
    return {attribute: next(iter(colours)) if len(colours) == 1 else "" for attribute, colours in found.items()}
