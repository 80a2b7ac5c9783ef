"""End to end in a real browser: Playwright drives Debian's Chromium through the four tabs of the
workbench (pick a sample and ask; score the example map; run a small evaluation with the blind
control; open a real training run's rollouts; train from the Train tab) and saves a full-page screenshot of each under the test's output folder.

Set SPACER_UI_SCREENSHOTS=docs/img to also write them as the documentation's images
(docs/img/ui_*.png). Skipped only where /usr/bin/chromium is missing and CI is not set: in CI a
missing browser is a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from tests.test_ui import finish_training, free_port, start_training

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
VIEWPORT = {"width": 1440, "height": 1000}
TIMEOUT_MS = 90_000

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not CHROMIUM.exists() and not os.environ.get("CI"),
                                 reason="/usr/bin/chromium is missing (apt-get install chromium); required in CI")]


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    from spacer_ui.app import build_app, serve

    run = finish_training(*start_training(tmp_path_factory.getbasetemp()))  # shared with test_ui.py
    app = build_app("tiny", runs_dir=run.parent)
    address = serve(app, port=free_port(), prevent_thread_lock=True, quiet=True)
    yield address
    app.close()


@pytest.fixture(scope="module")
def page(url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        tab = browser.new_page(viewport=VIEWPORT)
        tab.set_default_timeout(TIMEOUT_MS)
        tab.goto(url)
        yield tab
        browser.close()


def screenshot(page, tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    docs = os.environ.get("SPACER_UI_SCREENSHOTS")
    if docs:
        Path(docs).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(docs) / name)


def choose(page, dropdown: str, text: str) -> None:
    page.locator(f"{dropdown} input").click()
    page.locator("[data-testid=dropdown-option]", has_text=text).first.click()


def test_the_first_click_answers(page):
    """A newcomer's first click: a bundled sample is selected and filled in from the start."""
    from playwright.sync_api import expect

    from spacer_ui.samples import sample_choices

    expect(page.locator("#model-status")).to_contain_text("ready")
    first = sample_choices()[0][0]
    expect(page.locator("#ask-sample input")).to_have_value(first)
    expect(page.locator("#ask-question textarea")).not_to_have_value("")
    page.locator("#ask-button").click()
    expect(page.locator("#ask-status")).to_contain_text("Done", timeout=TIMEOUT_MS)
    expect(page.locator("#ask-verdict")).to_contain_text("Expected")
    # a mistake is a readable message of its own; nothing is drawn over the status line
    question = page.locator("#ask-question textarea").input_value()
    page.locator("#ask-question textarea").fill("")
    page.locator("#ask-button").click()
    expect(page.get_by_text("Type a question.")).to_be_visible()
    expect(page.locator("#ask-status")).not_to_contain_text("Error")  # the badge sits in a strip of its own
    page.locator("[data-testid=toast-close]").first.click()  # dismissed, so the later screenshots lack it
    expect(page.get_by_text("Type a question.")).to_be_hidden()
    page.locator("#ask-question textarea").fill(question)


def test_ask_a_sample(page, tmp_path):
    from playwright.sync_api import expect

    expect(page.locator("#model-status")).to_contain_text("ready")
    choose(page, "#ask-sample", "How many chair")
    expect(page.locator("#ask-question textarea")).to_have_value("How many chair(s) are in this room?")
    page.get_by_text("Generation settings").click()
    # room for the shipped model's whole completion (about 200 tokens), less than the 1024 default
    page.locator("#ask-max-new input[type=number]").fill("320")
    page.locator("#ask-max-new input[type=number]").press("Enter")
    page.locator("#ask-button").click()
    expect(page.locator("#ask-status")).to_contain_text("Done", timeout=TIMEOUT_MS)
    expect(page.locator("#ask-status")).to_contain_text("new tokens")
    expect(page.locator("#ask-highlighted")).to_contain_text("</answer>")  # it finished, not cut off
    expect(page.locator("#ask-verdict")).to_contain_text("Expected")
    expect(page.locator("#ask-map .js-plotly-plot")).to_be_visible()
    expect(page.locator("#ask-map")).to_contain_text("chair (true)")
    shipped = json.loads((ROOT / "assets" / "tiny-model" / "spacer_video.json").read_text())
    expect(page.locator("#ask-frames img")).to_have_count(shipped["nframes"])  # the model's own frame count
    expect(page.locator("#ask-breakdown")).to_contain_text("chair")
    page.get_by_text("Generation settings").click()  # fold the settings again for the picture
    screenshot(page, tmp_path, "ui_ask.png")


def test_maps_example(page, tmp_path):
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Maps").click()
    page.get_by_role("button", name="Load an example").click()
    expect(page.locator("#maps-summary")).to_contain_text("optimal (Hungarian) score")
    expect(page.locator("#maps-greedy .js-plotly-plot")).to_be_visible()
    expect(page.locator("#maps-optimal .js-plotly-plot")).to_be_visible()
    screenshot(page, tmp_path, "ui_maps.png")


def test_evaluate_two_items_with_a_control(page, tmp_path):
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Evaluate").click()
    page.locator("#eval-limit input").fill("2")
    page.locator("#eval-max-new input").fill("32")
    page.locator("#eval-name textarea").fill("browser-run")
    page.locator("#eval-controls").get_by_label("blind").check()
    page.locator("#eval-run").click()
    expect(page.locator("#eval-status")).to_contain_text("Finished: 2 items", timeout=TIMEOUT_MS)
    expect(page.locator("#eval-headline")).to_contain_text("vision gain (own video − blind)")
    expect(page.locator("#eval-chart .js-plotly-plot")).to_be_visible()
    expect(page.locator("#eval-chart .legendtext", has_text="blind")).to_have_count(1)
    expect(page.locator('#eval-files a[href$="results.jsonl"]')).to_have_count(1)
    screenshot(page, tmp_path, "ui_evaluate.png")


def test_rollouts_of_a_training_run(page, tmp_path):
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Rollouts").click()
    page.locator("#roll-open").click()
    expect(page.locator("#roll-summary")).to_contain_text("2 steps")
    expect(page.locator("#roll-maps .js-plotly-plot")).to_be_visible()
    expect(page.locator("#roll-curves .js-plotly-plot")).to_be_visible()
    page.locator("#roll-table [data-testid=cell-0-1]").click()
    expect(page.locator("#roll-full")).not_to_be_empty()
    screenshot(page, tmp_path, "ui_rollouts.png")


def test_train_from_the_app(page, tmp_path):
    """Last in this module: it hands its model to the app."""
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Train").click()
    for slider, value in (("#train-steps", "2"), ("#train-g", "2"), ("#train-max-len", "48")):
        box = page.locator(f"{slider} input[type=number]")
        box.fill(value)
        box.press("Enter")
    page.locator("#train-name textarea").fill("browser-train")
    page.locator("#train-start").click()
    expect(page.locator("#train-status")).to_contain_text("✓ Finished 2 steps", timeout=TIMEOUT_MS)
    expect(page.locator("#train-curves .js-plotly-plot")).to_be_visible()
    expect(page.locator("#train-log")).to_contain_text("trained model saved")
    expect(page.locator("#train-table")).to_contain_text("ordered #1")
    screenshot(page, tmp_path, "ui_train.png")

    page.locator("#train-to-rollouts").click()
    expect(page.locator("#roll-summary")).to_contain_text("2 steps")
    expect(page.locator("#roll-run input")).to_have_value(re.compile(r"app/browser-train$"))
    page.get_by_role("tab", name="Train").click()
    page.locator("#train-use-model").click()
    expect(page.locator("#model-status")).to_contain_text("browser-train/final", timeout=TIMEOUT_MS)
    expect(page.locator("#model-status")).to_contain_text("ready", timeout=TIMEOUT_MS)
