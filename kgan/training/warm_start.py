"""`--init-from`: a new run that starts from another run's (or an export's) weights.

Fine-tuning — a model trained on one set continued on a small one — needs the same
architecture on both sides, so the values that shape the models must agree; they are
checked when the run is created, before anything is written. From a run, its best
checkpoint gives both G and D (as `sample`, `fid` and `export` choose); from an export,
only the generator exists, so D starts fresh. Optimizer state always starts fresh: the
new run's step count and learning-rate schedule are its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kgan.data.attributes import Conditions
from kgan.errors import KganError
from kgan.runs.folder import RunFolder
from kgan.serving.export import read_provenance, version_folder
from kgan.training import checkpoint

SHAPING = ("image_size", "z_dim", "g_width", "d_width", "d_norm")  # what the weights' shapes depend on


def describe_source(spec: str, config, conditions: Conditions | None = None) -> dict[str, Any]:
    """Check that `spec` (a run folder or an export) can start a run of `config` (steered by
    `conditions`, when given); what it is."""
    path = Path(spec).expanduser()
    if RunFolder(path).is_run():
        theirs = RunFolder(path).config().to_dict()
        steered = RunFolder(path).conditions()
        kind = "run"
    elif version_folder(path) is not None:
        version = version_folder(path)
        record = read_provenance(version) or {}
        theirs = record.get("model", {})
        steered = Conditions.from_dict(record["conditions"]) if record.get("conditions") else None
        kind, path = "export", version
    else:
        raise KganError(f"--init-from {spec} is neither a run folder nor an export: give one of those")
    different = [
        f"--{name.replace('_', '-')} {theirs[name]} there, {getattr(config, name)} here"
        for name in SHAPING
        if name in theirs and theirs[name] != getattr(config, name)
    ]
    if different:
        raise KganError(
            f"--init-from {spec}: its models have another shape ({'; '.join(different)}): give this run the same values"
        )
    _check_steering(spec, steered, conditions, kind == "run" and bool(theirs.get("aux_weight")), config)
    return {"kind": kind, "path": str(path.resolve())}


def _check_steering(spec: str, theirs: Conditions | None, ours: Conditions | None, their_head: bool, config) -> None:
    """A steered model has layers an unsteered one lacks, sized by its attributes' values:
    both sides must be steered by the same attributes and values (their shares may differ)."""

    def attributes(conditions: Conditions | None) -> str:
        return ", ".join(conditions.attributes) if conditions else "nothing (unconditional)"

    if (theirs is None) != (ours is None) or (
        theirs and ours and (theirs.attributes, theirs.vocabulary) != (ours.attributes, ours.vocabulary)
    ):
        raise KganError(
            f"--init-from {spec} is steered by {attributes(theirs)}, this run by {attributes(ours)} "
            "(or their values differ): the models differ; fine-tune from a run with the same --condition and labels"
        )
    if ours and theirs and their_head != bool(config.aux_weight):
        raise KganError(f"--init-from {spec}: give this run its --aux-weight (0 or not): D's head differs")


def load_into(gan, source: dict[str, Any], warn) -> dict[str, Any]:
    """Copy the source's weights into a freshly built `gan`; the record of what was loaded."""
    path = Path(source["path"])
    if source["kind"] == "run":
        chosen_path, record = checkpoint.chosen(path)
        try:
            gan.generator.load_weights(chosen_path / "generator.weights.h5")
            gan.discriminator.load_weights(chosen_path / "discriminator.weights.h5")
        except (OSError, ValueError) as error:
            raise KganError(f"--init-from {path}: its weights do not fit this run's models ({error})") from None
        loaded = {**source, "checkpoint": record}
    else:
        _assign_export(gan.generator, path)
        warn(f"--init-from {path} is an export: it holds the generator only, so the discriminator starts fresh")
        loaded = {**source, "checkpoint": (read_provenance(path) or {}).get("checkpoint")}
    if gan.ema_generator is not None:
        gan.ema_generator.set_weights(gan.generator.get_weights())
    return loaded


def _assign_export(generator, version: Path) -> None:
    import tensorflow as tf

    stored = {variable.name.split(":")[0]: variable for variable in tf.saved_model.load(str(version)).variables}
    for weight in generator.weights:
        found = stored.get(weight.path)
        if found is None or tuple(found.shape) != tuple(weight.shape):
            have = f"{tuple(found.shape)}" if found is not None else "nothing"
            raise KganError(
                f"--init-from {version}: the export has {have} for {weight.path}, this run's generator "
                f"{tuple(weight.shape)}: give this run the export's --image-size, --z-dim and --g-width"
            )
        weight.assign(found.numpy())
