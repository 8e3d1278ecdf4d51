"""The course site as students use it, in headless Chromium at a phone's 360x740 and a desktop's
1280x900: nothing scrolls sideways, chart text is at least 11 px, Pareto names neither clip nor
overlap, a feedback page highlights its student's row and line, and axe finds no violation.

The site is built from a results folder made here (ten students, two baselines with long names,
ties, three grade runs, grade bands, real feedback images drawn by feedback.py): seconds, no
training. Screenshots of every page at both sizes go to test-artifacts/ (docs/screenshots/ holds
copies)."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.config import Band, GradeSettings
from pipeline.reporting import feedback, history, leaderboard, site, site_view
from tests.helpers import ARTIFACTS, chromium, needs_chromium

pytestmark = [pytest.mark.slow, needs_chromium]

KEY = b"browser-test-site-key-0123456789abcdef"
SIZES = {"phone": (360, 740), "desktop": (1280, 900)}
# (folder, accuracy, trainable parameters, baseline, status); equal accuracies are ties on purpose.
ROWS = [
    ("mlp_512_512_dropout", 0.9561, 669_706, True, "ok"),
    ("small_cnn", 0.9712, 34_826, True, "ok"),
    ("s_anna", 0.9712, 120_000, False, "ok"),
    ("s_ben", 0.9620, 20_000, False, "ok"),
    ("s_chloe", 0.9620, 21_000, False, "ok"),
    ("s_dev", 0.9433, 8_000, False, "ok"),
    ("s_emma", 0.9101, 4_000, False, "ok"),
    ("s_farid", 0.9101, 250_000, False, "ok"),
    ("s_gus", 0.8850, 1_200, False, "ok"),
    ("s_hana", 0.9300, 30_000, False, "ok"),
    ("s_ivan", None, None, False, "invalid"),
    ("s_jo", 0.9650, 45_000, False, "ok"),
]
DISPLAY = {"s_anna": "Anna the Very Thorough Experimenter", "s_ben": "Ben"}
# MFLOPs per image and images per second; s_gus was graded before the grader counted FLOPs.
COMPUTE = {"mlp_512_512_dropout": (1.34, 5200.0), "small_cnn": (11.6, 810.0), "s_anna": (24.0, 300.0),
           "s_ben": (0.041, 41000.0), "s_chloe": (0.043, 39500.0), "s_dev": (0.35, 9100.0),
           "s_emma": (0.0081, 88000.0), "s_farid": (0.5, 7000.0), "s_hana": (5.2, 1500.0), "s_jo": (9.1, 950.0)}
VALIDATION = 60
OWN = "s_chloe"


def _record(folder, accuracy, params, baseline, status, content_hash):
    return {"submission": folder, "student_id": None if baseline else f"id-{folder}", "baseline": baseline,
            "status": status, "public_accuracy": accuracy, "public_accuracy_std": None,
            "private_accuracy": None if accuracy is None else accuracy - 0.01, "private_accuracy_std": None,
            "test_accuracy": None, "validation_accuracy": None if accuracy is None else accuracy - 0.02,
            "trainable_params": params, "total_params": params, "train_seconds": None if accuracy is None else 41.3,
            "predict_seconds": 0.4, "submitted_at": "2026-01-05T14:30:00+00:00", "architecture_hash": f"a-{folder}",
            "source_hash": f"s-{folder}", "seeds": [1234], "content_hash": content_hash,
            "error": "the model's output shape is (None, 12), expected (None, 10): end with Dense(10)"
            if status != "ok" else None,
            "model_summary": f"Model: {folder}\nDense (10)   7,850" if status != "crashed" else None,
            "mflops_per_image": COMPUTE.get(folder, (None, None))[0],
            "images_per_second": COMPUTE.get(folder, (None, None))[1],
            "schema_version": 2, "track": "notmnist", "cache_key": "k", "data_fingerprint": "d",
            "grader_fingerprint": "g", "schedule": {}, "grading_config": {}, "graded_at": "2026-01-05T15:00:00+00:00"}


def _hash(folder: str, version: int) -> str:
    """A content hash as the grader writes them (hex), per folder and version."""
    import hashlib

    return hashlib.sha256(f"{folder}/{version}".encode()).hexdigest()


def make_class(root: Path) -> Path:
    """results/ and submissions/ of one track with three grade runs of history; returns results/."""
    results, submissions = root / "results", root / "submissions"
    track_dir = results / "notmnist"
    track_dir.mkdir(parents=True)
    rng = np.random.default_rng(1)
    images = rng.integers(0, 255, (VALIDATION, 28, 28), dtype=np.uint8)
    labels = np.arange(VALIDATION) % 10
    records = []
    for folder, accuracy, params, baseline, status, in ROWS:
        (submissions / folder).mkdir(parents=True)
        meta = "baseline: true\n" if baseline else f"student_id: id-{folder}\n"
        if folder in DISPLAY:
            meta += f"display_name: {DISPLAY[folder]}\n"
        (submissions / folder / "meta.yaml").write_text(meta)
        record = _record(folder, accuracy, params, baseline, status, _hash(folder, 2))
        records.append(record)
        (track_dir / f"{folder}.json").write_text(json.dumps(record))
        (track_dir / f"{folder}.log").write_text(f"notmnist/{folder}: epoch 1/2\n" + "x" * 300 + "\nlast line\n")
        if status == "ok":
            predicted = np.where(rng.random(VALIDATION) < 0.2, (labels + 1) % 10, labels)
            feedback.write_feedback(track_dir / "feedback" / folder, track_dir / "confusion" / f"{folder}.csv",
                                    "notmnist", {"loss": [1.2, 0.6, 0.4], "accuracy": [0.7, 0.85, 0.9],
                                                 "val_loss": [1.0, 0.7, 0.6], "val_accuracy": [0.72, 0.8, 0.84]},
                                    images, labels, np.eye(10)[predicted], list("ABCDEFGHIJ"))
    ranked = leaderboard.rank(leaderboard.load_track_results(track_dir, "notmnist"))
    start = datetime.datetime(2026, 1, 3, 9, 0, tzinfo=datetime.timezone.utc)
    # Runs 1 and 2: earlier versions, lower scores (so ranks change); run 3: the current results.
    for run, drop in ((0, 0.02), (1, 0.01)):
        earlier = ranked.copy()
        earlier["public_accuracy"] = earlier["public_accuracy"] - np.where(earlier.index % 3 == run, drop, 0)
        earlier = leaderboard.rank(earlier.drop(columns=["rank", "pareto"]))
        history.record(results, "notmnist", earlier, [dict(r, content_hash=_hash(r["submission"], run)) for r in records],
                       start + datetime.timedelta(days=run))
    history.record(results, "notmnist", ranked, records, start + datetime.timedelta(days=2))
    return results


@pytest.fixture(scope="module")
def class_site(tmp_path_factory):
    root = tmp_path_factory.mktemp("class")
    results = make_class(root)
    grades = GradeSettings(bands={"notmnist": [Band(min_accuracy=0.95, marks=10), Band(min_accuracy=0.9, marks=7)]})
    site.build_site(results, root / "submissions", root / "site", ["notmnist"], False, False, KEY,
                    now=datetime.datetime(2026, 1, 5, 16, 0, tzinfo=datetime.timezone.utc),
                    context={"notmnist": site_view.TrackContext(hidden_images=3647, public_fraction=0.3,
                                                           max_mflops_per_image=50)}, grades=grades)
    links = pd.read_csv(results / site.LINKS_FILE).set_index("submission")["page"]
    return root / "site", links


@pytest.fixture(scope="module")
def browser():
    with chromium("--host-resolver-rules=MAP * ~NOTFOUND", "--hide-scrollbars", "--window-size=1400,1000") as driver:
        yield driver


def emulate(driver, width: int, height: int, phone: bool) -> None:
    """The page's viewport exactly `width` x `height` CSS px (a window cannot be made narrower than
    500 px, and its frame takes some of it): Chromium's own device emulation."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": phone})


def show(driver, path: Path, size: str) -> None:
    width, height = SIZES[size]
    emulate(driver, width, height, size == "phone")
    driver.get(path.resolve().as_uri())
    assert driver.execute_script("return document.readyState") == "complete"
    assert driver.execute_script("return [window.innerWidth, window.innerHeight]") == [width, height]


# Every visible chart's scale (shown width / its own width), the font sizes of its own text, and
# the address of the chart file it shows as an <image> (a feedback page's shared base), if any.
CHART_TEXT = """
const charts = [];
for (const svg of document.querySelectorAll('svg.chart')) {
  const box = svg.getBoundingClientRect();
  if (box.width === 0) continue;
  const sizes = [...svg.querySelectorAll('text')].filter(text => text.textContent.trim())
    .map(text => parseFloat(getComputedStyle(text).fontSize));
  const image = svg.querySelector('image');
  charts.push([box.width / svg.viewBox.baseVal.width, sizes, image ? image.href.baseVal : null]);
}
return [charts, document.baseURI];
"""


def smallest_chart_text(driver) -> float:
    """The smallest text of any visible chart in CSS px, as shown: font size times the chart's scale
    (for a chart file shown as an image, its sizes read from the file)."""
    from urllib.parse import urljoin, urlparse
    import re

    charts, base = driver.execute_script(CHART_TEXT)
    assert charts, "no visible chart"
    smallest = float("inf")
    for scale, sizes, href in charts:
        if href:
            text = Path(urlparse(urljoin(base, href)).path).read_text()
            sizes = sizes + [float(size) for size in re.findall(r"font(?:-size)?: (?:bold )?([\d.]+)px", text)]
            assert sizes, href
        smallest = min([smallest, *(size * scale for size in sizes)])
    return smallest


OVERLAPPING_LABELS = """
const problems = [];
for (const svg of document.querySelectorAll('svg.chart')) {
  const frame = svg.getBoundingClientRect();
  if (frame.width === 0) continue;
  const boxes = [...svg.querySelectorAll('g[id*=point-label]')]
    .map(group => [group.textContent.trim(), group.getBoundingClientRect()]);
  for (const [name, box] of boxes) {
    if (box.left < frame.left || box.right > frame.right || box.top < frame.top || box.bottom > frame.bottom)
      problems.push(`clipped: ${name}`);
  }
  for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
    const [a, b] = [boxes[i][1], boxes[j][1]];
    if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom)
      problems.push(`overlap: ${boxes[i][0]} / ${boxes[j][0]}`);
  }
}
return problems;
"""


def run_axe(driver) -> list:
    from tests.reporting.test_site import axe_source  # noqa: the axe bundle finder, one copy

    driver.execute_script(axe_source().read_text())
    driver.set_script_timeout(60)
    return driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document).then(result => done(result.violations)).catch(error => done([{id: 'axe failed', help: String(error)}]));")


def page_checks(driver, name: str, size: str) -> None:
    scroll = driver.execute_script("return [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert scroll[0] <= scroll[1], f"{name} at {size}: the page scrolls sideways ({scroll[0]} px in {scroll[1]} px)"
    smallest = smallest_chart_text(driver)
    assert smallest >= 11, f"{name} at {size}: chart text as small as {smallest:.1f} px"
    assert not driver.execute_script(OVERLAPPING_LABELS), name
    unfocusable = driver.execute_script("return [...document.querySelectorAll('pre')].filter(pre => pre.tabIndex !== 0).length")
    assert unfocusable == 0
    violations = run_axe(driver)
    assert not violations, [(violation["id"], violation["help"], [node["target"] for node in violation["nodes"]][:3])
                            for violation in violations]


def element_screenshot(driver, selector: str, name: str) -> None:
    """One element of the page as shown (a chart and its caption), clipped from the whole page:
    Selenium's element screenshot misplaces the clip under device emulation."""
    import base64

    ARTIFACTS.mkdir(exist_ok=True)
    x, y, width, height = driver.execute_script(
        "const box = document.querySelector(arguments[0]).getBoundingClientRect();"
        "return [box.left + window.scrollX, box.top + window.scrollY, box.width, box.height]", selector)
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": x, "y": y, "width": width, "height": height, "scale": 1}})
    (ARTIFACTS / f"{name}.png").write_bytes(base64.b64decode(shot["data"]))


def screenshot(driver, name: str, size: str) -> None:
    """The whole page, at the size's width."""
    ARTIFACTS.mkdir(exist_ok=True)
    width, _ = SIZES[size]
    height = driver.execute_script("return document.documentElement.scrollHeight")
    emulate(driver, width, min(height, 12000), size == "phone")
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


@pytest.mark.parametrize("size", list(SIZES))
def test_the_leaderboard_fits_and_reads_at_phone_and_desktop_width(class_site, browser, size):
    site_dir, _ = class_site
    show(browser, site_dir / "index.html", size)
    page_checks(browser, "index.html", size)
    visible = browser.execute_script(
        "return [...document.querySelectorAll('table.leaderboard thead th')].filter(th => th.offsetWidth > 0)"
        ".map(th => th.innerText.trim())")
    if size == "phone":
        assert visible == ["Rank", "Name", "Accuracy", "Status"]
        assert browser.execute_script("return document.querySelectorAll('tr.entry details.more').length") == len(ROWS)
    else:
        assert {"Parameters", "Train time (s)", "Submissions", "Last submission", "Change"} <= set(visible)
    text = browser.find_element("tag name", "body").text
    assert "about 1,094 images (30 % of its 3,647)" in text and "one image is worth 0.00091" in text
    assert "wall time on a shared machine" in text
    assert browser.execute_script("return document.querySelectorAll('figure.history svg.chart').length") == 2
    names = browser.execute_script("return [...document.querySelectorAll('svg.chart.wide g[id*=point-label]')].map(g => g.textContent.trim())")
    assert any("mlp_512_512_dropout" == name for name in names), names  # whole, not cut
    screenshot(browser, f"site_index_{size}", size)


@pytest.mark.parametrize("size", list(SIZES))
def test_the_compute_chart_fits_and_reads_at_phone_and_desktop_width(class_site, browser, size):
    """The accuracy-vs-compute front: one version shown per width, names whole, the submission
    without a figure left out and said so (page_checks: no sideways scroll, text >= 11 px, no
    overlapping or clipped name, axe clean)."""
    site_dir, _ = class_site
    show(browser, site_dir / "index.html", size)
    page_checks(browser, "index.html", size)
    shown = browser.execute_script(
        "return [...document.querySelectorAll('figure.pareto.compute svg.chart')].filter(svg =>"
        " svg.getBoundingClientRect().width > 0).map(svg => [svg.classList.contains('wide') ? 'wide' : 'narrow',"
        " svg.getBoundingClientRect().width, svg.querySelectorAll('g[id*=points-front] use').length,"
        " [...svg.querySelectorAll('g[id*=point-label]')].map(g => g.textContent.trim())])")
    assert len(shown) == 1, shown
    variant, width, stars, names = shown[0]
    assert variant == ("narrow" if size == "phone" else "wide") and width <= SIZES[size][0]
    assert stars == 4  # small_cnn (most accurate), s_jo, s_ben, s_emma (the cheapest); s_anna ties small_cnn, costs more
    assert "s_emma" not in names and names, names  # display names, never folder names
    caption = browser.find_element("css selector", "figure.pareto.compute figcaption").text
    assert "1 ranked submission was graded before the grader counted FLOPs" in caption
    text = browser.find_element("tag name", "body").text
    assert "Accuracy against compute" in text
    element_screenshot(browser, "figure.pareto.compute", f"site_compute_{size}")


@pytest.mark.parametrize("size", list(SIZES))
def test_a_feedback_page_shows_the_students_own_row_and_line(class_site, browser, size):
    site_dir, links = class_site
    show(browser, site_dir / links[OWN], size)
    page_checks(browser, "feedback page", size)
    own_rows = browser.execute_script(
        "return [...document.querySelectorAll('tr.own')].map(row => [row.getAttribute('aria-current'),"
        " row.querySelector('.display-name').innerText, getComputedStyle(row.cells[0]).backgroundColor])")
    name = browser.execute_script("return document.querySelector('h1').innerText").removeprefix("Feedback for ")
    assert len(own_rows) == 1 and own_rows[0][:2] == ["true", name] and own_rows[0][2] != "rgba(0, 0, 0, 0)"
    line = browser.execute_script(
        "const svg = [...document.querySelectorAll('figure.history svg.chart')].find(s => s.getBoundingClientRect().width > 0);"
        "const own = svg.querySelector('g.own-line'); const box = own.getBoundingClientRect();"
        "return [own.querySelectorAll('circle').length, own.querySelector('text').textContent, box.width > 0]")
    assert line == [3, f"{name} (you)", True]
    text = browser.find_element("tag name", "body").text
    assert "← The whole leaderboard" in text and "Validation accuracy" in text
    assert "7 marks" in text and "provisional" in text.lower()
    assert "41.3 s, wall time on a shared machine" in text
    assert "0.043 MFLOPs per image (this track's budget: 50)" in text
    assert "39,500 images per second" in text
    images = browser.execute_script("return [...document.querySelectorAll('img.plot')].map(image =>"
                                    " [image.complete && image.naturalWidth > 0, image.getBoundingClientRect().width, image.width])")
    assert len(images) == 3 and all(loaded and shown >= 0.95 * drawn for loaded, shown, drawn in images), images
    assert browser.execute_script("return document.querySelectorAll('figure details table.data').length") == 3
    screenshot(browser, f"site_feedback_{size}", size)


def test_an_invalid_models_page_says_what_happened(class_site, browser):
    site_dir, links = class_site
    show(browser, site_dir / links["s_ivan"], "phone")
    text = browser.find_element("tag name", "body").text
    assert "Your model was built (its summary below), then rejected by the grader's checks" in text
    assert "– s" not in text and "not trained" in text and "no trained model" in text
    assert "0 marks" in text
    page_checks(browser, "invalid model's page", "phone")
