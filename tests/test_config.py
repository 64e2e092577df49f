import json

import pytest

from kgan.config import PRESETS, TrainConfig, read_config_file
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


def test_presets_are_valid():
    for name, values in PRESETS.items():
        assert TrainConfig().with_overrides(**values).validate(), name
