"""Attribute-conditioned GANs: the models, the penalty's attributes, the pipeline's labels, runs
that resume bit for bit, sampling by attribute from a run, an export and a server."""

from __future__ import annotations

import json
import re
import shutil
import urllib.error
import urllib.request

import numpy as np
import pytest
import tensorflow as tf
from helpers import assert_one_line_error, final_weights, kgan, tiny_config
from PIL import Image

from kgan import runs
from kgan.data import synthetic
from kgan.data.attributes import Conditions
from kgan.data.dataset import PreparedDataset
from kgan.data.pipeline import training_dataset
from kgan.errors import KganError
from kgan.metrics.steering import worst_read
from kgan.runs.folder import RunFolder
from kgan.sampling import fixed_noise
from kgan.serving.export import export_run
from kgan.serving.server import PredictServer
from kgan.training import checkpoint
from kgan.training.models import build_discriminator, build_generator
from kgan.training.session import build_gan, train

CONDITION = "hair_colour,eye_colour,background"


@pytest.fixture(scope="module")
def conditions(small_dataset) -> Conditions:
    dataset = PreparedDataset(small_dataset)
    return runs.run_conditions(tiny_config(condition=CONDITION), dataset)


def test_conditions_come_from_the_avatars_labels_in_their_order(conditions, small_dataset):
    assert conditions.attributes == ("hair_colour", "eye_colour", "background")
    assert conditions.vocabulary["background"] == ("sky", "peach", "mint", "lilac", "night", "grey")
    for name in conditions.attributes:  # the shares of the training images, summing to one
        assert len(conditions.frequencies[name]) == len(conditions.vocabulary[name])
        assert sum(conditions.frequencies[name]) == pytest.approx(1.0)
    assert conditions.parse(["hair_color=blue", " eye_colour = red "]) == {"hair_colour": 4, "eye_colour": 2}
    with pytest.raises(KganError, match="unknown hair_colour value 'teal': choose one of black, brown"):
        conditions.parse(["hair_colour=teal"])
    with pytest.raises(KganError, match="unknown attribute 'skin': this model is conditioned on hair_colour"):
        conditions.parse(["skin=fair"])
    with pytest.raises(KganError, match="write ATTRIBUTE=VALUE"):
        conditions.parse(["hair_colour"])
    assert Conditions.from_dict(json.loads(json.dumps(conditions.to_dict()))) == conditions


def test_the_models_take_the_attributes_and_an_unconditional_pair_does_not(conditions):
    config = tiny_config()
    generator, critic = (
        build_generator(config, conditions=conditions),
        build_discriminator(config, conditions=conditions),
    )
    z = np.repeat(fixed_noise(0, 1, config.z_dim), 2, axis=0)
    codes = np.asarray([[0, 0, 0], [4, 2, 4]], np.int32)
    images = np.asarray(generator([z, codes], training=True))
    assert images.shape == (2, 32, 32, 3) and np.abs(images[0] - images[1]).max() > 0  # the codes change the image
    same = np.repeat(images[:1], 2, axis=0)
    logits, guesses = critic([same, codes], training=False)  # the score, and the AC-GAN head's guesses
    scores = np.asarray(logits)
    assert scores.shape == (2, 1) and scores[0, 0] != scores[1, 0]  # D judges the image with the attributes
    assert guesses.shape == (2, sum(conditions.sizes))
    assert len(build_discriminator(tiny_config(aux_weight=0), conditions=conditions).outputs) == 1
    plain = build_generator(config)
    assert len(plain.inputs) == 1 and not [layer for layer in plain.layers if "affine" in layer.name]
    assert len(build_discriminator(config).inputs) == 1


def test_the_penalty_is_taken_at_the_real_images_attributes(conditions):
    """∇_x̂ D(x̂, c) with c the real batch's attributes: the penalty of a conditional critic equals
    that computed by hand with those attributes, and differs with others."""
    config = tiny_config(variant="wgangp")
    gan = build_gan(config, conditions=conditions)
    rng = np.random.default_rng(0)
    real = tf.constant(rng.uniform(-1, 1, (4, 32, 32, 3)), tf.float32)
    fake = tf.constant(rng.uniform(-1, 1, (4, 32, 32, 3)), tf.float32)
    alpha = tf.constant(rng.uniform(0, 1, (4, 1, 1, 1)), tf.float32)
    codes = tf.constant(conditions.draw(4, rng))
    mixed = alpha * real + (1 - alpha) * fake
    with tf.GradientTape() as tape:
        tape.watch(mixed)
        scores = gan.discriminator([mixed, codes], training=True)[0]  # the score, not the head's guesses
    norms = tf.norm(tf.reshape(tape.gradient(scores, mixed), [4, -1]), axis=1)
    by_hand = float(tf.reduce_mean((norms - 1.0) ** 2))
    assert float(gan.gradient_penalty(real, fake, alpha, codes)) == pytest.approx(by_hand, rel=1e-5)
    others = tf.constant((codes.numpy() + 1) % np.asarray(conditions.sizes, np.int32))
    assert float(gan.gradient_penalty(real, fake, alpha, others)) != pytest.approx(by_hand, rel=1e-5)


def test_the_ac_gan_head_scores_each_attribute_by_cross_entropy(conditions):
    gan = build_gan(tiny_config(), conditions=conditions)
    codes = tf.constant([[4, 2, 0], [0, 6, 5]], tf.int32)
    guesses = np.zeros((2, sum(conditions.sizes)), np.float32)
    guesses[0, 4] = guesses[0, 10 + 2] = guesses[0, 17 + 0] = 50.0  # sure and right for the first image
    loss = float(gan.attribute_loss(tf.constant(guesses), codes))
    uniform = np.log(conditions.sizes).sum()  # the second image: no preference, −log(1/values) each
    assert loss == pytest.approx(uniform / 2, rel=1e-5)
    assert gan.aux_weight == 3.0 and build_gan(tiny_config(), None).aux_weight == 0.0  # unconditional: none


def test_a_steered_step_reports_the_adversarial_losses_and_the_attribute_terms_apart(conditions):
    """d_loss and g_loss read as an unconditional run's: the adversarial losses, computed here
    from the same weights; the AC-GAN cross-entropies, unweighted, are d_attributes and
    g_attributes."""
    config = tiny_config()
    gan = build_gan(config, conditions=conditions)
    rng = np.random.default_rng(0)
    data = {
        "real": tf.constant(rng.uniform(-1, 1, (8, 32, 32, 3)), tf.float32),
        "z": tf.constant(rng.standard_normal((8, config.z_dim)), tf.float32),
        "alpha": tf.constant(rng.uniform(0, 1, (8, 1, 1, 1)), tf.float32),
        "labels": tf.constant(conditions.draw(8, rng)),
    }
    real, z, codes = data["real"], data["z"], data["labels"]
    g_before = gan.generator.get_weights()
    fake = gan.generator([z, codes], training=True)
    real_logits, real_guesses = gan.discriminator([real, codes], training=True)
    fake_logits, _ = gan.discriminator([fake, codes], training=True)
    d_loss = float(gan.discriminator_loss(real_logits, fake_logits))
    d_attributes = float(gan.attribute_loss(real_guesses, codes))
    reported = {name: float(value) for name, value in gan.train_step(data).items()}
    assert reported["d_loss"] == pytest.approx(d_loss, rel=1e-5)
    assert reported["d_attributes"] == pytest.approx(d_attributes, rel=1e-5)
    gan.generator.set_weights(g_before)  # G's update scored its fakes with the updated D
    fake_logits, fake_guesses = gan.discriminator([gan.generator([z, codes], training=True), codes], training=True)
    assert reported["g_loss"] == pytest.approx(float(gan.generator_loss(fake_logits)), rel=1e-5)
    assert reported["g_attributes"] == pytest.approx(float(gan.attribute_loss(fake_guesses, codes)), rel=1e-5)
    plain = build_gan(config, None).train_step({key: value for key, value in data.items() if key != "labels"})
    assert set(plain) == {"d_loss", "g_loss", "penalty", "d_real", "d_fake"}  # an unsteered run reports as before


def test_the_pipeline_pairs_each_real_image_with_its_own_labels():
    count = 40
    images = np.repeat(np.arange(count, dtype=np.uint8)[:, None, None, None], 32, axis=1)
    images = np.repeat(np.repeat(images, 32, axis=2), 3, axis=3)
    labels = np.stack([np.arange(count), np.arange(count) * 2], axis=1).astype(np.int32)
    options = dict(image_size=32, batch_size=8, z_dim=4, seed=1, steps_per_epoch=5, start_step=0, end_step=10)
    for element in training_dataset(images, labels=labels, n_critic=1, flip=True, **options):
        pixel = np.rint((element["real"][:, 0, 0, 0].numpy() + 1.0) * 127.5).astype(int)
        assert np.array_equal(element["labels"][:, 0].numpy(), pixel)  # the label of that very image
        assert np.array_equal(element["labels"][:, 1].numpy(), 2 * pixel)
    plain = next(iter(training_dataset(images, **options)))
    assert set(plain) == {"real", "z", "alpha"}  # an unconditional run's batches are as before


@pytest.mark.parametrize("variant", ["dcgan", pytest.param("wgangp", marks=pytest.mark.slow)])
def test_a_conditional_run_resumed_is_the_same_run_bit_for_bit(tmp_path, small_dataset, variant):
    dataset = PreparedDataset(small_dataset)
    config = tiny_config(variant=variant, condition=CONDITION, epochs=2, steps_per_epoch=4, g_width=8, d_width=8)
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    runs.create_run(config, dataset, straight)
    runs.create_run(config, dataset, resumed)
    assert train(straight).status == "finished"
    assert train(resumed, epochs=1).status == "finished"
    assert train(resumed, epochs=2).status == "finished"
    for left, right in zip(final_weights(straight), final_weights(resumed), strict=True):
        np.testing.assert_array_equal(left, right)
    rows = [RunFolder(folder).metrics() for folder in (straight, resumed)]
    assert [r["attribute_accuracy"] for r in rows[0]] == [r["attribute_accuracy"] for r in rows[1]]
    assert set(rows[0][-1]["attribute_accuracy"]) == set(CONDITION.split(","))
    grid = np.asarray(Image.open(straight / "samples" / "epoch-0002.png"))
    values = len(RunFolder(straight).conditions().vocabulary["hair_colour"])
    assert grid.shape[0] == values * (64 + 2) + 2  # one row per hair colour (tiles enlarged to 64 px)
    tags = {}
    for event_file in (straight / "tensorboard").glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(event_file)):
            for value in event.summary.value:
                tags.setdefault(value.tag, []).append(event.step)
    assert tags["attributes/hair_colour"] == tags["attributes/background"] == [1, 2]


@pytest.fixture(scope="module")
def conditional_run(tmp_path_factory, small_dataset):
    run_dir = tmp_path_factory.mktemp("conditional") / "run"
    config = tiny_config(condition=CONDITION, epochs=1, steps_per_epoch=40, g_width=8, d_width=8, sample_count=0)
    runs.create_run(config, PreparedDataset(small_dataset), run_dir)
    assert train(run_dir).status == "finished"
    return run_dir


def test_kgan_sample_steers_from_a_run_and_its_export_alike(conditional_run, tmp_path):
    base, _ = export_run(conditional_run, tmp_path / "models" / "generator")
    grids = []
    for source in (["--run-dir", str(conditional_run)], ["--saved-model", str(base.parent)]):
        out = tmp_path / f"grid-{source[0][2:]}.png"
        done = kgan("sample", *source, "--grid-by", "background", "--attr", "hair_color=blue", "--n", "12",
                    "--seed", "5", "--out", str(out), "--json", cwd=tmp_path)  # fmt: skip
        assert done.returncode == 0, done.stderr
        record = json.loads(done.stdout)
        assert record["n"] == 12 and set(record["attributes"]["hair_colour"]) == {"blue"}
        assert record["attributes"]["background"] == [v for v in ("sky", "peach", "mint", "lilac", "night", "grey")
                                                      for _ in range(2)]  # fmt: skip
        grids.append(np.asarray(Image.open(out)))
    assert grids[0].shape == (6 * 66 + 2, 2 * 66 + 2, 3)  # six rows (one per background), two columns
    np.testing.assert_array_equal(grids[0], grids[1])  # the same seed: the same images from both


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--attr", "hair_colour=teal"], ["unknown hair_colour value 'teal'", "blue"]),
        (["--grid-by", "background", "--attr", "background=sky"], ["a grid shows every value"]),
    ],
)
def test_bad_attributes_are_one_line_naming_the_valid_ones(conditional_run, tmp_path, args, words):
    done = kgan("sample", "--run-dir", str(conditional_run), *args, "--out", str(tmp_path / "x.png"), cwd=tmp_path)
    assert_one_line_error(done, *words)
    assert not (tmp_path / "x.png").exists()


def test_every_bad_request_is_refused_before_any_image_is_made(conditional_run):
    from kgan.serving import sources

    source = sources.from_run(conditional_run)
    for requests, grid, words in [
        (["skin=fair"], None, "unknown attribute 'skin': this model is conditioned on hair_colour, eye_colour"),
        (["hair_colour"], None, "write ATTRIBUTE=VALUE"),
        (["hair_colour=blue", "hair_color=red"], None, "given twice"),
        ([], "mouth", "unknown attribute 'mouth'"),
    ]:
        with pytest.raises(KganError, match=words):
            sources.conditional_inputs(source, 4, 0, requests, grid)
    z, values, columns = sources.conditional_inputs(source, 13, 0, ["eye_colour=gold"], "hair_colour")
    assert (len(z), columns) == (10, 1) and values["eye_colour"] == ["gold"] * 10  # at least one column


def test_the_conditional_signature_checks_values_in_the_graph_and_the_server_names_them(conditional_run, tmp_path):
    base, _ = export_run(conditional_run, tmp_path / "generator")
    server = PredictServer(base.parent, "generator").start()
    url = f"{server.url}/v1/models/generator:predict"
    z = fixed_noise(0, 2, 8).tolist()

    def post(inputs: dict) -> tuple[int, dict]:
        body = json.dumps({"signature_name": "conditional", "inputs": inputs}).encode()
        request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    try:
        status, answer = post({"z": z, "hair_colour": ["blue", ""], "eye_colour": ["red", "red"],
                               "background": ["sky", "night"]})  # fmt: skip
        assert status == 200 and np.asarray(answer["outputs"]["images"]).shape == (2, 32, 32, 3)
        status, answer = post({"z": z, "hair_colour": ["blue", "teal"], "eye_colour": ["red", "red"],
                               "background": ["sky", "night"]})  # fmt: skip
        assert status == 400 and answer["error"].startswith("unknown hair_colour value teal: choose one of black")
        status, answer = post(
            {"z": z, "hair_colour": ["blue"], "eye_colour": ["red", "red"], "background": ["sky"] * 2}
        )
        assert status == 400 and "hair_colour must hold one value per row of z" in answer["error"]
        done = kgan("sample", "--server", server.url, "--attr", "eye_color=gold", "--n", "3",
                    "--out", str(tmp_path / "s.png"), "--json", cwd=tmp_path)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["attributes"]["eye_colour"] == ["gold"] * 3
        done = kgan("sample", "--server", server.url, "--attr", "eye_colour=teal", "--out", str(tmp_path / "t.png"),
                    cwd=tmp_path)  # fmt: skip
        assert_one_line_error(done, "unknown eye_colour value teal")
    finally:
        server.stop()


def test_an_unconditional_model_or_unlabelled_data_refuse_conditioning_in_one_line(tmp_path, small_dataset):
    plain = tmp_path / "plain"
    runs.create_run(tiny_config(epochs=1, steps_per_epoch=1, sample_count=0), PreparedDataset(small_dataset), plain)
    train(plain)
    done = kgan("sample", "--run-dir", str(plain), "--attr", "hair_colour=blue", cwd=tmp_path)
    assert_one_line_error(done, "trained without --condition")
    done = kgan("bench", "steering", "--run-dir", str(plain), cwd=tmp_path)
    assert_one_line_error(done, "not a conditional run")
    with pytest.raises(KganError, match="has no attribute wings; it has hair_colour, hair_style"):
        runs.create_run(tiny_config(condition="hair_colour,wings"), PreparedDataset(small_dataset), tmp_path / "bad")
    assert not (tmp_path / "bad").exists()
    unlabelled = tmp_path / "unlabelled"
    shutil.copytree(small_dataset, unlabelled)
    (unlabelled / "attributes.csv").unlink()
    with pytest.raises(KganError, match=r"--condition needs labelled data, and the dataset at .* no attributes\.csv"):
        runs.create_run(tiny_config(condition="all"), PreparedDataset(unlabelled), tmp_path / "bad")
    assert not (tmp_path / "bad").exists()


def test_steering_is_measured_against_chance(conditional_run, tmp_path):
    done = kgan("bench", "steering", "--run-dir", str(conditional_run), "--samples", "60", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["chance"] == {
        "hair_colour": 0.1,
        "eye_colour": pytest.approx(1 / 7),
        "background": pytest.approx(1 / 6),
    }
    assert set(result["accuracy"]) == set(result["leakage"]) == set(CONDITION.split(","))
    assert all(0.0 <= share <= 1.0 for share in [*result["accuracy"].values(), *result["leakage"].values()])
    assert result["samples"] == 60 and result["checkpoint"]["step"] == 40
    for changed, others in result["moved"].items():  # each pair; the mean per changed attribute
        assert set(others) == set(CONDITION.split(",")) - {changed}
        assert result["leakage"][changed] == pytest.approx(sum(others.values()) / len(others))
    steered = result["steered"]
    assert steered["attributes"] == [name for name, share in result["accuracy"].items() if share >= 0.8]
    for name, shares in result["by_value"].items():  # per value asked
        assert set(shares) <= set(synthetic.attribute_vocabulary()[name])
        assert set(result["misread_as"][name]) == set(shares)
    done = kgan("bench", "steering", "--run-dir", str(conditional_run), "--samples", "60", cwd=tmp_path)
    assert done.returncode == 0 and "weakest value" in done.stdout, done.stdout + done.stderr


def test_per_value_accuracy_names_what_a_value_is_read_as_instead():
    from kgan.metrics.steering import SteeringResult, per_value

    conditions = Conditions(("mouth",), {"mouth": ("smile", "open", "flat")}, {"mouth": (0.4, 0.3, 0.3)})
    asked = np.array([[0], [0], [0], [0], [1], [1], [2], [2], [2], [2]])
    read = {"mouth": np.array([0, 0, 0, 2, 1, 1, 1, 1, 2, 0])}  # flat read as open twice, as smile once
    shares, misread = per_value(asked, read, conditions)
    assert shares == {"mouth": {"smile": 0.75, "open": 1.0, "flat": 0.25}}
    assert misread == {"mouth": {"smile": "flat", "open": "", "flat": "open"}}
    result = SteeringResult(10, {"mouth": 0.6}, {"mouth": 1 / 3}, {}, {}, {}, shares, misread)
    assert result.weakest("mouth") == ("flat", 0.25, "open")
    assert result.weakest("blush") is None


def test_leakage_among_steered_attributes_averages_their_pairs_only():
    from kgan.metrics.steering import SteeringResult

    result = SteeringResult(
        samples=10,
        accuracy={"a": 0.9, "b": 0.85, "c": 0.2},
        chance={"a": 0.5, "b": 0.5, "c": 0.5},
        leakage={},
        worst_leakage={},
        moved={"a": {"b": 0.1, "c": 0.9}, "b": {"a": 0.3, "c": 0.9}, "c": {"a": 0.9, "b": 0.9}},
    )
    assert result.steered() == {"floor": 0.8, "attributes": ["a", "b"], "leakage": pytest.approx(0.2)}
    assert result.steered(0.95)["leakage"] is None


def test_a_conditional_export_draws_what_is_not_asked_and_records_its_vocabulary(conditional_run, tmp_path):
    base, origin = export_run(conditional_run, tmp_path / "generator")
    assert origin["conditions"]["attributes"] == CONDITION.split(",")
    model = tf.saved_model.load(str(base))
    assert set(model.signatures) == {"serving_default", "sample", "png", "conditional"}
    one = model.signatures["sample"](n=tf.constant(3), seed=tf.constant(4))["images"].numpy()
    two = model.signatures["sample"](n=tf.constant(3), seed=tf.constant(4))["images"].numpy()
    np.testing.assert_array_equal(one, two)  # attributes drawn statelessly from the seed
    generator = checkpoint.load_generator(checkpoint.latest(conditional_run), runs.load_config(conditional_run),
                                          RunFolder(conditional_run).conditions())  # fmt: skip
    assert len(generator.inputs) == 2


def test_resuming_with_the_same_condition_spelled_otherwise_is_no_conflict(conditional_run):
    assert runs.resume_conflicts(conditional_run, {"condition": "background,hair_color,eye_colour"}) == []
    assert runs.resume_conflicts(conditional_run, {"condition": "all"}) == [("condition", CONDITION, "all")]


def test_a_run_conditions_on_users_labels_and_leaves_out_unlabelled_images_saying_so(tmp_path):
    from PIL import Image as PilImage

    faces = tmp_path / "faces"
    faces.mkdir()
    rows = ["file,hair_color"]
    rng = np.random.default_rng(0)
    for i in range(50):
        PilImage.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(faces / f"{i:02d}.png")
        if i % 10:  # every tenth image has no label row
            rows.append(f"{i:02d}.png,{('blue', 'pink', 'silver')[i % 3]}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    done = kgan("data", "prepare", str(faces), "--out", "ds", "--size", "32", "--labels", "labels.csv", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    split = json.loads((tmp_path / "ds" / "manifest.json").read_text())["splits"]["train"]
    names = json.loads((tmp_path / "ds" / "manifest.json").read_text())["names"]
    unlabelled = sum(1 for row in split if int(names[row][:2]) % 10 == 0)
    done = kgan("train", "--data", "ds", "--condition", "hair_colour", "--image-size", "32", "--epochs", "1",
                "--steps-per-epoch", "2", "--batch-size", "4", "--g-width", "4", "--d-width", "4", "--z-dim", "8",
                "--fid-every", "0", "--sample-count", "3", "--run-dir", "run", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"{unlabelled} of {len(split)} training images lack a label for hair_color" in done.stderr
    conditions = RunFolder(tmp_path / "run").conditions()
    assert conditions.attributes == ("hair_color",) and conditions.vocabulary["hair_color"] == (
        "blue",
        "pink",
        "silver",
    )
    assert "attribute_accuracy" not in RunFolder(tmp_path / "run").metrics()[-1]  # no classifier reads users' labels
    done = kgan("sample", "--run-dir", "run", "--attr", "hair_color=silver", "--n", "2", "--out", "s.png", cwd=tmp_path)
    assert done.returncode == 0, done.stderr


def test_the_report_plots_a_steered_runs_attribute_accuracy(tmp_path):
    from kgan.runs.report import plot_history

    rows = [
        {"epoch": epoch, "d_loss": 0.5, "attribute_accuracy": {"hair_colour": 0.2 * epoch, "background": 0.3}}
        for epoch in (1, 2, 3)
    ]
    written = plot_history(rows, tmp_path)
    assert written[tmp_path / "attributes.png"] == 2  # one curve per attribute
    assert Image.open(tmp_path / "attributes.png").size == (700, 400)
    assert tmp_path / "attributes.png" not in plot_history([{"epoch": 1, "d_loss": 0.5}], tmp_path / "plain")


def test_fine_tuning_between_steered_and_unsteered_models_is_refused_before_anything_is_written(
    conditional_run, tmp_path, small_dataset
):
    """A steered model has layers an unsteered one lacks: the mismatch is named in one line when
    the run is created, not left to the weights' loader once training starts."""
    dataset = PreparedDataset(small_dataset)
    shape = dict(g_width=8, d_width=8, epochs=1, steps_per_epoch=1, sample_count=0)
    plain = runs.create_run(tiny_config(**shape), dataset, tmp_path / "plain")
    train(plain)
    for source, config, words in [
        (plain, tiny_config(condition="all", **shape), "steered by nothing (unconditional), this run by hair_colour"),
        (conditional_run, tiny_config(**shape), "steered by hair_colour, eye_colour, background, this run by nothing"),
        (conditional_run, tiny_config(condition="hair_colour", **shape), "this run by hair_colour (or their values"),
        (conditional_run, tiny_config(condition=CONDITION, aux_weight=0, **shape), "--aux-weight"),
    ]:
        with pytest.raises(KganError, match=re.escape(words)):
            runs.create_run(config.with_overrides(init_from=str(source)), dataset, tmp_path / "new")
        assert not (tmp_path / "new").exists()
    tuned = runs.create_run(
        tiny_config(condition=CONDITION, init_from=str(conditional_run), **shape), dataset, tmp_path / "tuned"
    )
    assert train(tuned).status == "finished"
    assert RunFolder(tuned).record()["sessions"][0]["init_from"]["kind"] == "run"


def test_best_by_steering_keeps_the_epoch_whose_worst_attribute_reads_best(tmp_path, small_dataset):
    """The same run chosen two ways: by FID the lowest validation FID, by steering the epoch
    whose worst-read attribute reads best (ties to the lower FID); the training is the same."""
    dataset = PreparedDataset(small_dataset)
    options = dict(condition=CONDITION, epochs=4, steps_per_epoch=6, g_width=8, d_width=8, sample_count=0)
    options.update(fid_every=1, fid_samples=16, features="avatar", patience=0, keep_checkpoints=0)
    kept = {}
    for by in ("fid", "steering"):
        run_dir = runs.create_run(tiny_config(best_by=by, **options), dataset, tmp_path / by)
        assert train(run_dir).status == "finished"
        kept[by] = (RunFolder(run_dir).metrics(), checkpoint.best(run_dir), run_dir)
    rows = kept["fid"][0]
    assert [(r["val_fid"], r["attribute_accuracy"]) for r in rows] == [
        (r["val_fid"], r["attribute_accuracy"]) for r in kept["steering"][0]
    ]
    assert kept["fid"][1]["epoch"] == min(rows, key=lambda r: r["val_fid"])["epoch"]
    steering = min(rows, key=lambda r: (-min(r["attribute_accuracy"].values()), r["val_fid"]))
    record, run_dir = kept["steering"][1], kept["steering"][2]
    assert record["epoch"] == steering["epoch"] and record["by"] == "steering"
    assert record["worst_accuracy"] == min(steering["attribute_accuracy"].values())
    assert steering["attribute_accuracy"][record["worst_attribute"]] == record["worst_accuracy"]
    # the best checkpoint outlives --keep-checkpoints 0, and every command says why it is the best
    assert (checkpoint.checkpoint_dir(run_dir) / record["checkpoint"]).is_dir()
    _, description = checkpoint.resolve(run_dir, "best")
    assert f"worst attribute {record['worst_attribute']}" in description and "val FID" in description
    from kgan.runs.report import run_summary

    assert run_summary(run_dir)["best_by"] == "steering" and run_summary(kept["fid"][2])["best_by"] == "fid"


def test_best_by_steering_prefers_the_better_worst_attribute_then_the_lower_fid():
    def record(worst: float, fid: float) -> dict:
        return checkpoint.candidate("c", 1, 1, fid, worst_read({"hair_colour": 0.99, "mouth": worst}))

    assert checkpoint.better(record(0.80, 30.0), record(0.70, 20.0), "steering")  # obeys more, though worse FID
    assert not checkpoint.better(record(0.70, 10.0), record(0.80, 30.0), "steering")
    assert checkpoint.better(record(0.80, 20.0), record(0.80, 30.0), "steering")  # a tie goes to the lower FID
    assert not checkpoint.better(record(0.80, 30.0), record(0.80, 30.0), "steering")  # the earlier stays
    assert checkpoint.better(record(0.70, 20.0), record(0.80, 30.0), "fid")
    assert record(0.8, 1.0)["worst_attribute"] == "mouth"


def test_best_by_steering_is_refused_where_nothing_reads_the_attributes(tmp_path):
    faces = tmp_path / "faces"
    faces.mkdir()
    for index in range(12):
        Image.fromarray(np.full((32, 32, 3), 20 * index, np.uint8)).save(faces / f"{index}.png")
    (tmp_path / "labels.csv").write_text(
        "file,hair_colour\n" + "".join(f"{i}.png,{'red' if i % 2 else 'teal'}\n" for i in range(12))
    )
    prepared = kgan(
        "data", "prepare", str(faces), "--out", "ds", "--size", "32", "--labels", "labels.csv", cwd=tmp_path
    )
    assert prepared.returncode == 0, prepared.stderr
    common = ("train", "--data", "ds", "--image-size", "32", "--epochs", "1",
              "--fid-every", "1", "--best-by", "steering")  # fmt: skip
    done = kgan(*common, "--run-dir", "plain", cwd=tmp_path)
    assert_one_line_error(done, "--best-by steering", "--condition")
    done = kgan(*common, "--condition", "hair_colour", "--run-dir", "labelled", cwd=tmp_path)
    assert_one_line_error(done, "--best-by steering", "avatar classifier", "--best-by fid")
    assert not (tmp_path / "plain").exists() and not (tmp_path / "labelled").exists()
