"""`python -m pipeline ui` opened like a person would: headless Chromium follows the printed link
of each track and must see every submission of the track with its accuracy, in rank order (the
exported leaderboard's order), superseded runs hidden. Screenshots go to test-artifacts/."""

import subprocess
import sys
import threading
import time

import pandas as pd
import pytest

from tests.helpers import ARTIFACTS, chromium, free_port, needs_chromium

WINDOW = "--window-size=2200,1000"  # wide enough for the runs table's order and accuracy columns
ACCURACY_COLUMN = "metrics.`public_accuracy`"
NAME_COLUMN = "attributes.`Run Name`"

pytestmark = [pytest.mark.slow, needs_chromium]

# Each visible row of the runs table: AG Grid splits a row over its pinned and scrolling parts,
# so cells are joined up by the row's index.
READ_ROWS = """
const rows = {};
document.querySelectorAll('.ag-row').forEach(row => {
  const index = row.getAttribute('row-index');
  rows[index] = rows[index] || {};
  row.querySelectorAll('.ag-cell').forEach(cell => {
    rows[index][cell.getAttribute('col-id')] = cell.innerText.trim();
  });
});
return Object.keys(rows).sort((a, b) => Number(a) - Number(b)).map(index => rows[index]);
"""


@pytest.fixture(scope="module")
def ui_links(dvc_project):
    """The links printed by `python -m pipeline ui`, while its server runs."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "pipeline", "ui", "--port", str(port)],
                               cwd=dvc_project.root, env=dvc_project.env, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    printed: list[str] = []
    # Read everything it prints, all along: a full pipe would block the server's own logging.
    reader = threading.Thread(target=lambda: printed.extend(iter(process.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 240
        links: dict[str, str] = {}
        while len(links) < 2 and time.monotonic() < deadline and process.poll() is None:
            for line in list(printed):
                name, _, link = line.strip().partition(": ")
                if name in ("mnist", "notmnist") and link.startswith("http://"):
                    links[name] = link
            time.sleep(0.5)
        assert len(links) == 2, "".join(printed)
        yield links
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    with chromium(WINDOW) as driver:
        yield driver


def read_table(driver, expected_names, timeout=90):
    """The rows once the table shows the expected runs (the saved view's sort applies after a
    first render, so wait for it), else whatever it shows at the deadline."""
    deadline = time.monotonic() + timeout
    rows = []
    while time.monotonic() < deadline:
        rows = [row for row in driver.execute_script(READ_ROWS) if row.get(NAME_COLUMN)]
        for row in rows:
            row[NAME_COLUMN] = row[NAME_COLUMN].splitlines()[-1]  # after the run's colour swatch
        if [row[NAME_COLUMN] for row in rows] == expected_names:
            break
        time.sleep(1)
    return rows


@pytest.mark.parametrize("track", ["mnist", "notmnist"])
def test_leaderboard_link_shows_every_submission_in_rank_order(dvc_project, ui_links, browser, track):
    board = pd.read_csv(dvc_project.root / "results" / "leaderboard.csv")
    board = board[board["track"] == track]
    ok, failed = board[board["status"] == "ok"], board[board["status"] != "ok"]
    expected = ok["submission"].tolist() + sorted(failed["submission"])  # unranked runs sort last

    browser.get(ui_links[track])
    rows = read_table(browser, expected)
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / f"mlflow_leaderboard_{track}.png"))

    names = [row[NAME_COLUMN] for row in rows]
    assert names[:len(ok)] == ok["submission"].tolist(), f"rank order differs: {names}"
    assert sorted(names[len(ok):]) == sorted(failed["submission"])
    assert len(names) == len(set(names)), "a superseded run is shown beside its current one"
    for row, (_, expected_row) in zip(rows, ok.iterrows()):
        shown = row[ACCURACY_COLUMN]
        assert float(shown) == pytest.approx(expected_row["public_accuracy"], abs=1e-9), (row, expected_row)
    assert "/runs" in browser.current_url and "orderByKey=metrics.%60leaderboard_order%60" in browser.current_url
