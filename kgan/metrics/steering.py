"""How well a conditional model does what it is asked, read back by the avatar classifier.

Accuracy: images made for attributes drawn uniformly from each vocabulary; per attribute, the
share the classifier reads as asked. A model that ignored the attribute would score its chance
level, 1 / (number of values), whatever it made.

Leakage (disentanglement): the same z and attributes made twice, once with one attribute
changed to another value; per changed attribute, the share of images whose *other* attributes
the classifier reads differently. Ideally only the changed one moves.

Both need the avatars' attributes (the synthetic data's labels), which the classifier knows.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from kgan.data import synthetic
from kgan.data.attributes import Conditions
from kgan.errors import KganError
from kgan.sampling import fixed_noise

STEERING_STREAM = 0x57EE  # the noise behind these measurements, apart from grids' and FID's
STEERED = 0.8  # read back as asked this often: an attribute the model steers


@dataclasses.dataclass
class SteeringResult:
    samples: int
    accuracy: dict[str, float]  # attribute → share read back as asked
    chance: dict[str, float]  # attribute → 1 / values
    leakage: dict[str, float]  # changed attribute → mean share of other attributes' readouts that changed
    worst_leakage: dict[str, Any]  # the largest single (changed, other) share
    moved: dict[str, dict[str, float]]  # changed attribute → other attribute → share of its readouts that changed
    by_value: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)  # attribute → value → read as asked
    # attribute → value → the value read most often in its place
    misread_as: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "steered": self.steered()}

    def steered(self, floor: float = STEERED) -> dict[str, Any]:
        """The attributes read back as asked at least `floor` of the time, and how much changing one
        of them moves the others among them: leakage where the classifier's readings are reliable."""
        names = [name for name, share in self.accuracy.items() if share >= floor]
        pairs = [self.moved[a][b] for a in names for b in names if a != b and a in self.moved]
        return {"floor": floor, "attributes": names, "leakage": float(np.mean(pairs)) if pairs else None}

    def weakest(self, attribute: str) -> tuple[str, float, str] | None:
        """(value, its share read as asked, what it is read as most often instead): where an
        attribute's accuracy is lost."""
        shares = self.by_value.get(attribute)
        if not shares:
            return None
        value = min(shares, key=shares.get)
        return value, shares[value], self.misread_as[attribute].get(value, "")


def check_readable(conditions: Conditions) -> None:
    """The classifier reads the synthetic avatars' attributes, in their order of values."""
    known = synthetic.attribute_vocabulary()
    unreadable = [name for name in conditions.attributes if known.get(name) != conditions.vocabulary[name]]
    if unreadable:
        raise KganError(
            f"the avatar classifier cannot read {', '.join(unreadable)}: steering is measured on models "
            "conditioned on the embedded avatars' attributes"
        )


def worst_read(accuracy: dict[str, float]) -> tuple[str, float]:
    """The least obeyed attribute of a reading (attribute → share read as asked), and its share."""
    name = min(accuracy, key=accuracy.get)
    return name, accuracy[name]


def check_best_by_steering(conditions: Conditions) -> None:
    """--best-by steering needs attributes the classifier reads; else one line saying what to use."""
    try:
        check_readable(conditions)
    except KganError as error:
        raise KganError(f"--best-by steering: {error}; use --best-by fid") from None


def read_attributes(classifier, images: np.ndarray, batch_size: int = 100) -> dict[str, np.ndarray]:
    """The classifier's reading of images in [-1, 1]: attribute → value index, per image."""
    readings: dict[str, list[np.ndarray]] = {}
    for start in range(0, len(images), batch_size):
        outputs = classifier(np.asarray(images[start : start + batch_size], np.float32))
        for name in synthetic.ATTRIBUTES:
            readings.setdefault(name, []).append(np.asarray(outputs[name]).argmax(-1))
    return {name: np.concatenate(parts) for name, parts in readings.items()}


def _made(generator, z: np.ndarray, codes: np.ndarray, batch_size: int = 100) -> np.ndarray:
    parts = [
        np.asarray(generator([z[s : s + batch_size], codes[s : s + batch_size]], training=False), np.float32)
        for s in range(0, len(z), batch_size)
    ]
    return np.concatenate(parts)


def _asked_and_read(
    generator, conditions: Conditions, classifier, z_dim: int, count: int, seed: int
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """`count` images asked for attributes drawn uniformly: (the value indices asked, one column per
    attribute; the classifier's readings)."""
    check_readable(conditions)
    rng = np.random.default_rng([seed, STEERING_STREAM])
    codes = np.stack([rng.integers(len(conditions.vocabulary[name]), size=count) for name in conditions.attributes], 1)
    z = fixed_noise(seed, count, z_dim, stream=STEERING_STREAM)
    return codes, read_attributes(classifier, _made(generator, z, codes.astype(np.int32)))


def accuracy(
    generator, conditions: Conditions, classifier, z_dim: int, count: int = 2000, seed: int = 0
) -> tuple[dict[str, float], dict[str, float]]:
    """(per attribute: share read back as asked, its chance level) over `count` images."""
    codes, read = _asked_and_read(generator, conditions, classifier, z_dim, count, seed)
    return _shares(codes, read, conditions)


def _shares(
    codes: np.ndarray, read: dict[str, np.ndarray], conditions: Conditions
) -> tuple[dict[str, float], dict[str, float]]:
    shares = {name: float((read[name] == codes[:, i]).mean()) for i, name in enumerate(conditions.attributes)}
    chance = {name: 1.0 / len(conditions.vocabulary[name]) for name in conditions.attributes}
    return shares, chance


def per_value(
    codes: np.ndarray, read: dict[str, np.ndarray], conditions: Conditions
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, str]]]:
    """Per attribute and value asked: the share read as asked, and the value read most often in its
    place ("" when never misread, or never asked)."""
    shares: dict[str, dict[str, float]] = {}
    misread: dict[str, dict[str, str]] = {}
    for i, name in enumerate(conditions.attributes):
        values = conditions.vocabulary[name]
        shares[name], misread[name] = {}, {}
        for index, value in enumerate(values):
            got = read[name][codes[:, i] == index]
            if not len(got):
                continue
            shares[name][value] = float((got == index).mean())
            wrong = np.bincount(got[got != index], minlength=len(values))
            misread[name][value] = values[int(wrong.argmax())] if wrong.any() else ""
    return shares, misread


def leakage(
    generator, conditions: Conditions, classifier, z_dim: int, count: int = 500, seed: int = 0
) -> tuple[dict[str, float], dict[str, Any], dict[str, dict[str, float]]]:
    """Per changed attribute, the mean share of the other conditioned attributes' readouts that
    change with it (z and the rest held); the worst single pair; every pair's share."""
    check_readable(conditions)
    rng = np.random.default_rng([seed, STEERING_STREAM, 1])
    z = fixed_noise(seed + 1, count, z_dim, stream=STEERING_STREAM)
    base = conditions.draw(count, rng)
    before = read_attributes(classifier, _made(generator, z, base))
    means, worst, moved = {}, {"changed": None, "other": None, "share": 0.0}, {}
    for i, name in enumerate(conditions.attributes):
        others = [other for other in conditions.attributes if other != name]
        if not others:
            continue
        values = len(conditions.vocabulary[name])
        changed = base.copy()
        changed[:, i] = (base[:, i] + rng.integers(1, values, size=count)) % values  # any other value
        after = read_attributes(classifier, _made(generator, z, changed))
        shares = {other: float((after[other] != before[other]).mean()) for other in others}
        moved[name] = shares
        means[name] = float(np.mean(list(shares.values())))
        other, share = max(shares.items(), key=lambda item: item[1])
        if share >= worst["share"]:
            worst = {"changed": name, "other": other, "share": share}
    return means, worst, moved


def measure(
    generator, conditions: Conditions, classifier, z_dim: int, count: int = 2000, seed: int = 0
) -> SteeringResult:
    """Accuracy over `count` images (per attribute and per value asked) and leakage over a quarter
    as many pairs per attribute."""
    codes, read = _asked_and_read(generator, conditions, classifier, z_dim, count, seed)
    shares, chance = _shares(codes, read, conditions)
    by_value, misread_as = per_value(codes, read, conditions)
    means, worst, moved = leakage(generator, conditions, classifier, z_dim, max(count // 4, 1), seed)
    return SteeringResult(count, shares, chance, means, worst, moved, by_value, misread_as)


def measure_run(run_dir, count: int = 2000, checkpoint_choice: str = "best") -> tuple[SteeringResult, dict[str, Any]]:
    """`measure` for a conditional run's checkpoint, read by the shipped avatar classifier."""
    from kgan import runs
    from kgan.metrics.avatar import avatar_extractor
    from kgan.runs.folder import RunFolder
    from kgan.training import checkpoint

    conditions = RunFolder(run_dir).conditions()
    if conditions is None:
        raise KganError(f"{run_dir} is not a conditional run: train one with --condition to measure its steering")
    check_readable(conditions)
    config = runs.load_config(run_dir)
    path, chosen = checkpoint.chosen(run_dir, checkpoint_choice)
    generator = checkpoint.load_generator(path, config, conditions)
    classifier = avatar_extractor().model  # images of any size → its heads, resized as for its features
    return measure(generator, conditions, classifier, config.z_dim, count, config.seed), chosen


PROBE_SAMPLES = 500  # per epoch: enough for a curve to follow, a quarter of the benchmark's images


class AccuracyProbe:
    """A conditional run's attribute accuracy after each epoch (the report's curve)."""

    def __init__(self, conditions: Conditions, classifier, z_dim: int, seed: int, count: int = PROBE_SAMPLES):
        self.conditions, self.classifier, self.z_dim, self.seed, self.count = conditions, classifier, z_dim, seed, count

    def __call__(self, generator) -> dict[str, float]:
        shares, _ = accuracy(generator, self.conditions, self.classifier, self.z_dim, self.count, self.seed)
        return {name: round(share, 4) for name, share in shares.items()}


def make_probe(
    conditions: Conditions | None, z_dim: int, seed: int, warn, required: bool = False
) -> AccuracyProbe | None:
    """The probe of a run conditioned on the avatars' attributes; None for any other run (the
    classifier reads only those), or, with a warning, when the classifier does not load.
    `required` (--best-by steering): a run that cannot be probed is an error instead."""
    if conditions is None:
        return None
    if required:
        check_best_by_steering(conditions)
    try:
        check_readable(conditions)
    except KganError:
        return None
    from kgan.metrics.avatar import avatar_extractor

    try:
        classifier = avatar_extractor(announce=warn).model
    except KganError as error:
        if required:
            raise KganError(f"--best-by steering needs the avatar classifier: {error}") from None
        warn(f"attribute accuracy per epoch is off: {error}")
        return None
    return AccuracyProbe(conditions, classifier, z_dim, seed)
