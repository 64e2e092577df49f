import json

import pytest

from kgan.config import PRESETS, TrainConfig, fields, read_config_file, tomllib
from kgan.errors import KganError


def test_variant_defaults_follow_the_paper():
    base = TrainConfig.for_variant("dcgan")
    assert (base.loss, base.d_norm, base.optimizer, base.lr_g, base.beta1) == ("bce", "batch", "adam", 2e-4, 0.5)
    assert (base.batch_size, base.z_dim, base.epochs, base.gp_weight) == (128, 100, 80, 0.0)
    improved = TrainConfig.for_variant("wgangp")
    assert (improved.loss, improved.d_norm, improved.optimizer) == ("wasserstein", "instance", "rmsprop")
    assert (improved.gp_weight, improved.lr_d, improved.batch_size) == (10.0, 2e-4, 128)


@pytest.mark.parametrize(
    "overrides, words",
    [
        ({"batch_size": 0}, "batch_size"),
        ({"image_size": 48}, "image_size"),
        ({"ema": 1.0}, "ema"),
        ({"loss": "hinge"}, "loss"),
        ({"variant": "wgangp", "d_norm": "batch"}, "BatchNorm"),
        ({"epochs": 3, "lr_decay_epochs": 5}, "lr-decay-epochs 5 is longer than the run's 3 epochs"),
    ],
)
def test_bad_values_name_the_problem(overrides, words):
    with pytest.raises(KganError, match=words):
        TrainConfig.for_variant(overrides.pop("variant", "dcgan")).with_overrides(**overrides).validate()


def test_unknown_key_is_an_error():
    with pytest.raises(KganError, match="unknown config key"):
        TrainConfig().with_overrides(learning_rate=1.0)


def test_save_load_round_trip(tmp_path):
    config = TrainConfig.for_variant("wgangp").with_overrides(epochs=3, ema=0.99).validate()
    config.save(tmp_path / "config.json")
    assert TrainConfig.load(tmp_path / "config.json") == config


def test_toml_and_json_files(tmp_path):
    (tmp_path / "c.toml").write_text('variant = "wgangp"\nn_critic = 5\n')
    assert TrainConfig.from_dict(read_config_file(tmp_path / "c.toml")).n_critic == 5
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(KganError, match="not valid"):
        read_config_file(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text(json.dumps([1, 2]))
    with pytest.raises(KganError, match="table"):
        read_config_file(tmp_path / "list.json")


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_presets_apply_their_values(preset):
    for variant in ("dcgan", "wgangp"):
        config = TrainConfig.resolve(variant, preset)
        assert config.variant == variant
        for name, value in PRESETS[preset].items():
            assert getattr(config, name) == value, (preset, name)


def test_precedence_variant_preset_file_flags():
    config = TrainConfig.resolve(
        preset="quick", file_values={"variant": "wgangp", "epochs": 3, "lr_d": 1e-3}, flags={"epochs": 5, "seed": None}
    )
    assert (config.variant, config.optimizer) == ("wgangp", "rmsprop")  # variant from the file, its defaults
    assert config.image_size == 32 and config.lr_d == 1e-3 and config.epochs == 5 and config.seed == 0


def test_toml_round_trip_is_exact():
    config = TrainConfig.resolve("wgangp", "quick", flags={"lr_g": 1e-5, "inception": 'a "quoted" path', "ema": 0.999})
    assert TrainConfig.from_dict(tomllib.loads(config.to_toml())) == config
    assert list(tomllib.loads(config.to_toml())) == [field.name for field in fields()]


def test_augment_policies_split_into_the_mirror_and_diffaugment():
    from kgan.config import augmentations, diff_augmentations

    assert augmentations("flip, cutout,color") == ("color", "cutout", "flip")
    assert diff_augmentations("flip,cutout") == ("cutout",) and diff_augmentations("flip") == ()
    with pytest.raises(KganError, match="mirror"):
        augmentations("mirror")


def test_a_steered_run_samples_from_the_moving_average_unless_told_otherwise(tmp_path):
    assert TrainConfig.resolve(flags={"condition": "all"}).ema == 0.999
    assert TrainConfig.resolve(preset="quick", flags={"condition": "hair_colour"}).ema == 0.999
    assert TrainConfig.resolve().ema == 0.0  # unsteered: unchanged
    assert TrainConfig.resolve(flags={"condition": "all", "ema": 0.0}).ema == 0.0
    assert TrainConfig.resolve(file_values={"condition": "all", "ema": 0.99}).ema == 0.99
    steered = TrainConfig.resolve(flags={"condition": "all", "ema": 0.0})
    steered.save(tmp_path / "config.json")  # a run's saved config keeps what it had
    assert TrainConfig.load(tmp_path / "config.json").ema == 0.0
