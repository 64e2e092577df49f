"""What a conditional run conditions on: the attributes, their values, and how often each
value occurs among the training images.

A prepared dataset carries its images' attributes in `attributes.csv` (`index`, `name`, one
column per attribute; an empty cell is no label): the synthetic avatars' drawn attributes,
or labels from a user's CSV (`kgan data prepare --labels`, vocabulary in the manifest).
`Conditions` is what a conditional model is built for and what a user's `--attr
hair_colour=blue` is checked against; it is stored with the run (`conditions.json`) and
with an export. Attributes are passed to models as one int32 code per attribute, the index
of the value in its vocabulary.
"""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from kgan.errors import KganError

ATTRIBUTES_FILE = "attributes.csv"
ALL = "all"


def spelling(name: str) -> str:
    """One key for "hair_color" and "hair_colour": Danbooru tags say color, the avatars colour."""
    return name.replace("colour", "color")


def named(attributes: tuple[str, ...], name: str) -> str:
    """The one of `attributes` that `name` means (either spelling of colour), or a one-line error."""
    for attribute in attributes:
        if spelling(attribute) == spelling(name.strip()):
            return attribute
    raise KganError(f"unknown attribute {name.strip()!r}: this model is conditioned on {', '.join(attributes)}")


def requested(attributes: tuple[str, ...], requests: list[str] | tuple[str, ...], example: str) -> dict[str, str]:
    """`["hair_color=blue", ...]` → {attribute: value}, names resolved against `attributes`; a
    malformed request, an unknown name or one given twice is a one-line error."""
    chosen: dict[str, str] = {}
    for request in requests:
        name, equals, value = request.partition("=")
        if not equals or not value.strip():
            raise KganError(f"--attr {request!r}: write ATTRIBUTE=VALUE, e.g. {example}")
        attribute = named(attributes, name)
        if attribute in chosen:
            raise KganError(f"--attr {attribute} is given twice: give each attribute once")
        chosen[attribute] = value.strip()
    return chosen


@dataclasses.dataclass(frozen=True)
class Conditions:
    """The attributes a model is conditioned on, in order; each one's values (its vocabulary)
    and their shares among the training images (what an attribute not asked for is drawn from)."""

    attributes: tuple[str, ...]
    vocabulary: dict[str, tuple[str, ...]]
    frequencies: dict[str, tuple[float, ...]]

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(len(self.vocabulary[name]) for name in self.attributes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "attributes": list(self.attributes),
            "vocabulary": {name: list(self.vocabulary[name]) for name in self.attributes},
            "frequencies": {name: [round(share, 6) for share in self.frequencies[name]] for name in self.attributes},
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Conditions:
        attributes = tuple(values["attributes"])
        return cls(
            attributes,
            {name: tuple(values["vocabulary"][name]) for name in attributes},
            {name: tuple(float(s) for s in values["frequencies"][name]) for name in attributes},
        )

    def attribute(self, name: str) -> str:
        """The attribute `name` means (either spelling of colour), or a one-line error listing them."""
        return named(self.attributes, name)

    def code(self, attribute: str, value: str) -> int:
        """The index of `value` in the attribute's vocabulary, or a one-line error listing the values."""
        options = self.vocabulary[attribute]
        if value.strip() not in options:
            raise KganError(f"unknown {attribute} value {value.strip()!r}: choose one of {', '.join(options)}")
        return options.index(value.strip())

    def parse(self, requests: list[str] | tuple[str, ...]) -> dict[str, int]:
        """`["hair_colour=blue", ...]` → {attribute: code}; a bad request is a one-line error."""
        first = self.attributes[0]
        values = requested(self.attributes, requests, example=f"{first}={self.vocabulary[first][0]}")
        return {attribute: self.code(attribute, value) for attribute, value in values.items()}

    def draw(self, count: int, rng: np.random.Generator, fixed: dict[str, int] | None = None) -> np.ndarray:
        """Codes `[count, attributes]` int32: the `fixed` ones as given, every other attribute
        drawn from its share among the training images."""
        fixed = fixed or {}
        codes = np.empty((count, len(self.attributes)), np.int32)
        for column, name in enumerate(self.attributes):
            shares = np.asarray(self.frequencies[name], np.float64)
            drawn = rng.choice(len(shares), size=count, p=shares / shares.sum())
            codes[:, column] = fixed.get(name, drawn)
        return codes


@dataclasses.dataclass(frozen=True)
class AttributeTable:
    """A dataset's `attributes.csv`: every attribute's vocabulary and each row's code (−1: no label)."""

    attributes: tuple[str, ...]
    vocabulary: dict[str, tuple[str, ...]]
    codes: np.ndarray  # [dataset rows, attributes] int32, in the dataset's row order


def read_table(folder: Path, manifest: dict[str, Any], count: int) -> AttributeTable | None:
    """The attributes of a prepared dataset, or None when it has none.

    The vocabulary: the manifest's (labels from a user's file), else the avatars' own for
    the synthetic data, else the values the file holds, sorted."""
    path = Path(folder) / ATTRIBUTES_FILE
    if not path.is_file():
        return None
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        attributes = tuple(name for name in reader.fieldnames or () if name not in ("index", "name"))
        rows = list(reader)
    known = (manifest.get("labels") or {}).get("vocabulary") or _synthetic_vocabulary(attributes) or {}
    vocabulary = {
        name: tuple(known[name]) if name in known else tuple(sorted({row[name] for row in rows if row[name]}))
        for name in attributes
    }
    position = {name: {value: code for code, value in enumerate(values)} for name, values in vocabulary.items()}
    codes = np.full((count, len(attributes)), -1, np.int32)
    for row in rows:
        codes[int(row["index"])] = [position[name].get(row[name], -1) for name in attributes]
    return AttributeTable(attributes, vocabulary, codes)


def _synthetic_vocabulary(attributes: tuple[str, ...]) -> dict[str, tuple[str, ...]] | None:
    from kgan.data import synthetic

    vocabulary = synthetic.attribute_vocabulary()
    return vocabulary if set(vocabulary) <= set(attributes) else None


def resolve(table: AttributeTable | None, requested: str, source: str = "the data") -> tuple[str, ...]:
    """`--condition hair_colour,eye_colour` (or `all`) → the attributes, in the table's order.

    An empty request is an unconditional run; data without labels, or a name it does not have,
    is a one-line error saying what to do."""
    names = [name.strip() for name in requested.split(",") if name.strip()]
    if not names:
        return ()
    if table is None or not table.attributes:
        raise KganError(
            f"--condition needs labelled data, and {source} has no attributes.csv: prepare it with "
            "`kgan data prepare SOURCE --labels labels.csv --out DIR`, or train on the embedded avatars"
        )
    if names == [ALL]:
        return table.attributes
    by_key = {spelling(name): name for name in table.attributes}
    unknown = [name for name in names if spelling(name) not in by_key]
    if unknown:
        raise KganError(
            f"--condition: {source} has no attribute {', '.join(unknown)}; "
            f"it has {', '.join(table.attributes)} (or all)"
        )
    chosen = {by_key[spelling(name)] for name in names}
    return tuple(name for name in table.attributes if name in chosen)


def conditions_for(table: AttributeTable, attributes: tuple[str, ...], rows: np.ndarray) -> Conditions:
    """The conditions of a run on `attributes`, with value shares over the (labelled) dataset
    `rows` it trains on."""
    codes = codes_of(table, attributes, rows)
    frequencies = {}
    for column, name in enumerate(attributes):
        counts = np.bincount(codes[:, column], minlength=len(table.vocabulary[name])) if len(codes) else None
        if counts is None or counts.sum() == 0:
            raise KganError(f"--condition {name}: no training image has a {name} label")
        frequencies[name] = tuple(float(c) for c in counts / counts.sum())
    return Conditions(attributes, {name: table.vocabulary[name] for name in attributes}, frequencies)


def labelled_rows(table: AttributeTable, attributes: tuple[str, ...], rows: np.ndarray) -> np.ndarray:
    """Which of `rows` (dataset rows) carry a label for every one of `attributes` (a bool mask)."""
    columns = [table.attributes.index(name) for name in attributes]
    return (table.codes[np.asarray(rows, np.int64)][:, columns] >= 0).all(axis=1)


def codes_of(table: AttributeTable, attributes: tuple[str, ...], rows: np.ndarray) -> np.ndarray:
    """Codes `[len(rows), attributes]` int32 of dataset `rows`, in their order."""
    columns = [table.attributes.index(name) for name in attributes]
    return np.ascontiguousarray(table.codes[np.asarray(rows, np.int64)][:, columns])


def training_labels(dataset: Any, conditions: Conditions) -> tuple[np.ndarray, np.ndarray]:
    """(which training images a conditional run trains on — those labelled for every one of its
    attributes — as a mask over the training split, and their codes)."""
    from kgan.data.dataset import Split

    table = dataset.attribute_table()
    changed = table is None or any(
        table.vocabulary.get(name) != conditions.vocabulary[name] for name in conditions.attributes
    )
    if changed:
        raise KganError(
            f"the dataset at {dataset.folder} no longer holds the labels this run conditions on "
            f"({', '.join(conditions.attributes)}): restore its attributes.csv"
        )
    rows = dataset.indices(Split.TRAIN)
    labelled = labelled_rows(table, conditions.attributes, rows)
    return labelled, codes_of(table, conditions.attributes, rows[labelled])
