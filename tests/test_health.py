from kgan.training.health import discriminator_winning, fid_getting_worse, generator_loss_exploding, warnings_for


def healthy(epochs: int = 8) -> list[dict]:
    return [
        {
            "epoch": e + 1,
            "d_loss": 0.6,
            "g_loss": 1.8 + 0.05 * (e % 3),
            "d_real": 0.7,
            "d_fake": 0.3,
            "penalty": 0.0,
            "val_fid": 100.0 - 5 * e,
        }
        for e in range(epochs)
    ]


def test_healthy_history_raises_nothing():
    assert warnings_for(healthy()) == []
    assert warnings_for([]) == [] and warnings_for(healthy(1)) == []


def test_collapse_warning_fires_after_three_winning_epochs():
    rows = healthy(5)
    for row in rows[-3:]:
        row.update(d_real=0.99, d_fake=0.01)
    assert "discriminator winning" in discriminator_winning(rows)
    rows[-2].update(d_real=0.9)  # one epoch of a fair fight breaks the streak
    assert discriminator_winning(rows) is None


def test_wasserstein_critic_values_are_not_probabilities():
    rows = [{"d_real": 12.0, "d_fake": -30.0, "g_loss": 30.0} for _ in range(5)]
    assert discriminator_winning(rows) is None


def test_exploding_generator_loss_and_worsening_fid():
    rows = healthy(6)
    rows[-1]["g_loss"] = 25.0
    assert "exploding" in generator_loss_exploding(rows)
    rows = healthy(6)
    for i, value in enumerate([40.0, 45.0, 50.0, 60.0]):
        rows[2 + i]["val_fid"] = value
    assert "worse" in fid_getting_worse(rows)
    rows[-1]["val_fid"] = 30.0
    assert fid_getting_worse(rows) is None


def test_non_finite_values_are_reported():
    rows = healthy(3)
    rows[-1]["g_loss"] = float("nan")
    assert any("non-finite g_loss" in w for w in warnings_for(rows))
