"""The generator as a SavedModel for TF Serving.

Layout (TF Serving's model base path): `OUT/<version>/saved_model.pb` + `variables/`.
A version folder appears only when complete (written beside it, then renamed).

Signatures (the first is `serving_default`):
    serving_default  z float32 [None, z_dim]        → images uint8 [None, H, W, 3], images_float float32 in [-1, 1]
    sample           n int32 [], seed int32 []      → the same, z drawn in the graph (stateless: same seed, same images)
    png              n int32 [], seed int32 []      → png_bytes string [n] (PNG files; TF Serving's REST
                                                      API sends `*_bytes` outputs base64-encoded), for web clients

A conditional run's export (`--condition`) draws the attributes in those three from the
training images' shares, and adds
    conditional      z float32 [None, z_dim], one string [None] per attribute (e.g. hair_colour:
                     ["blue"]; "" draws that one) → images, images_float
whose values are checked in the graph: an unknown one fails the request (TF Serving:
INVALID_ARGUMENT) with a message naming it and the valid values. The attributes and their
values are also in the export's record (`assets.extra/kgan.json`, `conditions`).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from kgan import runs
from kgan.data.attributes import Conditions
from kgan.errors import KganError, first_line
from kgan.files import describe_os_error, temporary_dir, write_text_atomic
from kgan.runs.folder import RunFolder
from kgan.system import provenance
from kgan.training import checkpoint

DEFAULT_OUT = Path("saved_models/generator")
MAX_IMAGES = 1024  # per request, in every signature


def next_version(out: Path) -> int:
    """One more than the largest numeric version folder under `out` (1 when there is none)."""
    versions = [int(p.name) for p in Path(out).glob("*") if p.is_dir() and re.fullmatch(r"\d+", p.name)]
    return max(versions, default=0) + 1


def version_folder(path: Path) -> Path | None:
    """The SavedModel an export path names: the path itself when it is a version folder, else
    the highest version under it (as TF Serving serves); None when it is neither."""
    path = Path(path)
    if (path / "saved_model.pb").is_file():
        return path
    if not path.is_dir():
        return None
    versions = [int(p.name) for p in path.iterdir() if p.name.isdigit() and (p / "saved_model.pb").is_file()]
    return path / str(max(versions)) if versions else None


def _to_uint8(images: tf.Tensor) -> tf.Tensor:
    return tf.cast(tf.clip_by_value(tf.round((images + 1.0) * 127.5), 0.0, 255.0), tf.uint8)


def build_archive(
    generator: keras.Model, z_dim: int, max_images: int = MAX_IMAGES, conditions: Conditions | None = None
) -> keras.export.ExportArchive:
    """An ExportArchive with the three signatures (four for a conditional generator), calling
    the generator with training=False.

    Every signature refuses more than `max_images` images per request (TF Serving answers
    INVALID_ARGUMENT with the message), so one request cannot exhaust a server's memory.
    """
    archive = keras.export.ExportArchive()
    archive.track(generator)
    too_many = f"at most {max_images} images per request (this export's --max-images)"

    def outputs(z: tf.Tensor, codes: tf.Tensor | None = None) -> dict[str, tf.Tensor]:
        if conditions is not None and codes is None:
            codes = _drawn_codes(conditions, tf.shape(z)[0])
        with tf.control_dependencies([tf.debugging.assert_less_equal(tf.shape(z)[0], max_images, message=too_many)]):
            images = tf.cast(generator(z if codes is None else [z, codes], training=False), tf.float32)
        return {"images": _to_uint8(images), "images_float": images}

    def noise(n: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        checks = [
            tf.debugging.assert_non_negative(n, message="n must be >= 0"),
            tf.debugging.assert_less_equal(n, max_images, message=too_many),
        ]
        with tf.control_dependencies(checks):
            n = tf.identity(n)
        return tf.random.stateless_normal(tf.stack([n, z_dim]), seed=tf.stack([seed, tf.constant(0)]))

    def serve(z):
        return outputs(z)

    def seeded_codes(n, seed):
        return None if conditions is None else _drawn_codes(conditions, n, seed)

    def sample(n, seed):
        return outputs(noise(n, seed), seeded_codes(n, seed))

    def png(n, seed):
        images = outputs(noise(n, seed), seeded_codes(n, seed))["images"]
        return {"png_bytes": tf.map_fn(tf.io.encode_png, images, fn_output_signature=tf.string)}

    count_and_seed = [tf.TensorSpec([], tf.int32, name="n"), tf.TensorSpec([], tf.int32, name="seed")]
    archive.add_endpoint("serving_default", serve, input_signature=[tf.TensorSpec([None, z_dim], tf.float32, name="z")])
    archive.add_endpoint("sample", sample, input_signature=count_and_seed)
    archive.add_endpoint("png", png, input_signature=count_and_seed)
    if conditions is not None:
        _add_conditional(archive, outputs, conditions, z_dim)
    return archive


def _add_conditional(archive, outputs, conditions: Conditions, z_dim: int) -> None:
    """The `conditional` signature: z and each attribute's values by name, checked in the graph."""
    names = conditions.attributes

    def conditional(z, *values):
        columns = [_checked_codes(conditions, name, column, tf.shape(z)[0]) for name, column in zip(names, values)]
        return outputs(z, tf.stack(columns, axis=1))

    specs = [tf.TensorSpec([None, z_dim], tf.float32, name="z")]
    specs += [tf.TensorSpec([None], tf.string, name=name) for name in names]
    archive.add_endpoint("conditional", conditional, input_signature=specs)


def _checked_codes(conditions: Conditions, name: str, values: tf.Tensor, count: tf.Tensor) -> tf.Tensor:
    """One attribute's values (strings) → codes; "" is drawn from the training shares. A value
    outside the vocabulary, or a column whose length is not z's, fails the request naming it."""
    vocabulary = conditions.vocabulary[name]
    matches = tf.equal(values[:, None], tf.constant(vocabulary)[None, :])
    empty = tf.equal(values, "")
    unknown = tf.logical_not(tf.logical_or(tf.reduce_any(matches, axis=1), empty))
    message = tf.strings.join(
        [
            f"unknown {name} value ",
            tf.strings.reduce_join(tf.boolean_mask(values, unknown), separator=", "),
            f": choose one of {', '.join(vocabulary)} (or an empty string to draw it)",
        ]
    )
    checks = [
        tf.debugging.Assert(tf.logical_not(tf.reduce_any(unknown)), [message]),
        tf.debugging.assert_equal(tf.shape(values)[0], count, message=f"input {name} must hold one value per row of z"),
    ]
    with tf.control_dependencies(checks):
        codes = tf.argmax(tf.cast(matches, tf.int32), axis=1, output_type=tf.int32)
    drawn = _drawn_column(conditions, conditions.attributes.index(name), tf.shape(values)[0])
    return tf.where(empty, drawn, codes)


def _drawn_codes(conditions: Conditions, count: tf.Tensor, seed: tf.Tensor | None = None) -> tf.Tensor:
    """Codes `[count, A]` drawn from the training shares: stateless from `seed`, else at random."""
    columns = [_drawn_column(conditions, position, count, seed) for position in range(len(conditions.attributes))]
    return tf.stack(columns, axis=1)


def _drawn_column(conditions: Conditions, position: int, count: tf.Tensor, seed: tf.Tensor | None = None) -> tf.Tensor:
    """One attribute's codes `[count]`, drawn from its training shares (see `_drawn_codes`)."""
    logits = tf.math.log(tf.constant([conditions.frequencies[conditions.attributes[position]]], tf.float32))
    if seed is None:
        return tf.random.categorical(logits, count, dtype=tf.int32)[0]
    key = tf.stack([seed, tf.constant(position + 1)])
    return tf.random.stateless_categorical(logits, count, seed=key, dtype=tf.int32)[0]


def signatures(
    z_dim: int, image_size: int, conditions: Conditions | None = None
) -> dict[str, dict[str, dict[str, list]]]:
    """What `build_archive` serves, as `saved_model_cli show` lists it: per signature, each
    input and output's dtype and shape (-1: any count)."""
    images = {"images": ["DT_UINT8", [-1, image_size, image_size, 3]]}
    images["images_float"] = ["DT_FLOAT", [-1, image_size, image_size, 3]]
    count_and_seed = {"n": ["DT_INT32", []], "seed": ["DT_INT32", []]}
    served = {
        "serving_default": {"inputs": {"z": ["DT_FLOAT", [-1, z_dim]]}, "outputs": images},
        "sample": {"inputs": count_and_seed, "outputs": images},
        "png": {"inputs": count_and_seed, "outputs": {"png_bytes": ["DT_STRING", [-1]]}},
    }
    if conditions is not None:
        inputs = {"z": ["DT_FLOAT", [-1, z_dim]], **{name: ["DT_STRING", [-1]] for name in conditions.attributes}}
        served["conditional"] = {"inputs": inputs, "outputs": images}
    return served


PROVENANCE = Path("assets.extra") / "kgan.json"  # beside the model, where TF Serving keeps extra files


def read_provenance(version_dir: Path) -> dict[str, Any] | None:
    """The record an export carries of where it came from (None for an export without one)."""
    try:
        return json.loads((Path(version_dir) / PROVENANCE).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def export_run(
    run_dir: Path,
    out: Path = DEFAULT_OUT,
    version: int | None = None,
    checkpoint_choice: str = checkpoint.DEFAULT_CHOICE,
    max_images: int = MAX_IMAGES,
) -> tuple[Path, dict[str, Any]]:
    """Export a run's sampling generator (EMA weights when kept) to `out/<version>`, with the
    record of where it came from in `assets.extra/kgan.json`; returns the version folder and
    that record."""
    run_dir = Path(run_dir)
    config = runs.load_config(run_dir)
    path, chosen = checkpoint.chosen(run_dir, checkpoint_choice)
    conditions = RunFolder(run_dir).conditions()
    generator = checkpoint.load_generator(path, config, conditions)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise KganError(f"--out {out} is a file: give the model's base folder (e.g. saved_models/generator)")
    version = next_version(out) if version is None else version
    if version < 1:
        raise KganError(f"--version must be a positive integer, got {version}")
    final = out / str(version)
    if final.exists():
        raise KganError(f"{final} exists: TF Serving versions are immutable; pick another --version or omit it")
    try:
        out.mkdir(parents=True, exist_ok=True)
        for stale in out.glob(".*.tmp"):  # left by an export that was killed
            shutil.rmtree(stale, ignore_errors=True)
        tmp = temporary_dir(out, prefix=f".{version}.")
    except OSError as error:
        raise KganError(f"cannot write to {out}: {error.strerror}; choose a writable --out") from None
    try:
        if max_images < 1:
            raise KganError(f"--max-images must be at least 1, got {max_images}")
        build_archive(generator, config.z_dim, max_images, conditions).write_out(str(tmp / "model"), verbose=False)
        origin = _origin(run_dir, config, chosen, max_images)
        if conditions is not None:
            origin["conditions"] = conditions.to_dict()
        write_text_atomic(tmp / "model" / PROVENANCE, json.dumps(origin, indent=2) + "\n")
        (tmp / "model").rename(final)  # TF Serving only ever sees complete version folders
    except OSError as error:
        raise KganError(f"cannot write the export to {out}: {describe_os_error(error)}") from None
    except tf.errors.OpError as error:  # TensorFlow's file writes fail as ops (e.g. SaveV2)
        cause = re.search(r";\s*([^;\[]+?)\s*\[Op:", error.message or "")
        reason = cause.group(1) if cause else first_line(error.message or "", empty=type(error).__name__)
        raise KganError(
            f"cannot write the export to {out}: {reason} (a full disk or a file-size limit?); "
            "free some space or choose another --out"
        ) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final, origin


def _origin(run_dir: Path, config, chosen: dict[str, Any], max_images: int) -> dict[str, Any]:
    dataset = RunFolder(run_dir).dataset_record()
    names = ("variant", "loss", "image_size", "z_dim", "g_width", "d_width", "d_norm", "seed", "ema")
    model = {name: getattr(config, name) for name in names}
    return provenance.record(
        run=str(run_dir.resolve()),
        checkpoint=chosen,
        model=model,
        split_id=dataset.get("split_id"),
        max_images=max_images,
    )
