"""`kgan report`'s page as a user sees it: headless Chromium opens index.html (Selenium)."""

from __future__ import annotations

import shutil

import pytest
from helpers import tiny_config

from kgan.data.dataset import PreparedDataset
from kgan.metrics.evaluate import evaluate_run
from kgan.runs import create_run
from kgan.runs.report import write_report
from kgan.training.session import train

CHROMIUM, DRIVER = shutil.which("chromium") or shutil.which("chromium-browser"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER), reason="chromium and chromium-driver are not installed (.ci/run installs them)"
)


@pytest.fixture
def browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=DRIVER))
    yield driver
    driver.quit()


def test_report_page_in_a_real_browser(browser, tmp_path, small_dataset):
    import keras
    from selenium.webdriver.common.by import By

    image = keras.Input((32, 32, 3))
    features = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(8, 3, strides=2)(image))
    keras.Model(image, features).save(tmp_path / "features.keras")
    config = tiny_config(epochs=4, fid_every=1, sample_count=16, features=str(tmp_path / "features.keras"))
    run_dir = create_run(config, PreparedDataset(small_dataset), tmp_path / "run")
    scores = iter((9.0, 7.0, 8.0, 7.5))
    assert train(run_dir, validator=lambda generator: next(scores)).status == "finished"
    tested, _ = evaluate_run(run_dir, split="test")
    page = write_report(run_dir)

    browser.get(page.as_uri())
    images = browser.execute_script(
        "return Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight])"
    )
    assert len(images) == 2 + 4  # the two plots, one grid per epoch
    assert all(complete and width > 0 and height > 0 for _, complete, width, height in images), images
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert not errors, errors

    results = browser.find_element(By.TAG_NAME, "table").text
    assert "finished" in results and "7.000 (epoch 2)" in results
    assert f"{tested.fid:.3f}" in results and "test precision" in results and "test recall" in results
    plots = browser.find_elements(By.CSS_SELECTOR, ".plots img")
    assert len(plots) == 2 and plots[0].location["y"] == plots[1].location["y"]  # side by side
    strip = browser.find_elements(By.CSS_SELECTOR, ".strip figure")
    assert len({figure.location["y"] for figure in strip}) == 1  # one row
    assert [f.text for f in strip if "best" in f.get_attribute("class")] == ["epoch 2 · FID 7.00 ★"]
    config_table = browser.find_element(By.CSS_SELECTOR, "details table")
    assert not config_table.is_displayed()  # folded until asked
    browser.find_element(By.CSS_SELECTOR, "details summary").click()
    assert config_table.is_displayed() and "d_width" in config_table.text
    browser.save_screenshot(str(tmp_path / "report.png"))
    assert (tmp_path / "report.png").stat().st_size > 10_000
