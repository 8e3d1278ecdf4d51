"""The report's chart worker (reporting/chart_worker.py): charts drawn in a forked process give the
same site, byte for byte, as charts drawn in place; the report's own process never imports
matplotlib; a chart that fails to draw fails the report with its own error."""

from __future__ import annotations

import datetime
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.reporting import leaderboard, site
from pipeline.reporting.chart_worker import ChartWorker
from tests.reporting.test_site import KEY, make_results

NOW = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.timezone.utc)
ROOT = Path(__file__).resolve().parents[2]


def _site_files(site_dir: Path) -> dict[str, bytes]:
    return {path.relative_to(site_dir).as_posix(): path.read_bytes() for path in sorted(site_dir.rglob("*"))
            if path.is_file()}


def _build(results: Path, submissions: Path, site_dir: Path, chart_dir: Path, worker) -> list[str]:
    return site.build_site(results, submissions, site_dir, ["mnist"], False, False, KEY, now=NOW,
                           chart_dir=chart_dir, worker=worker)


def test_charts_drawn_in_the_worker_give_the_same_site_and_plots(tmp_path, monkeypatch):
    """With a second core the charts are drawn, and half of the feedback pages rendered, in other
    processes: the site and the plots are the same bytes as when one process does everything."""
    monkeypatch.setattr(site, "SPLIT_PAGES_FROM", 2)  # the small class's pages are split too
    results, submissions = make_results(tmp_path)
    with ChartWorker(parallel=True) as worker:
        leaderboard.write_leaderboards(results, ["mnist"], worker=worker)
        parallel_lines = _build(results, submissions, tmp_path / "site-parallel", tmp_path / "cache-parallel", worker)
    parallel_plot = (results / leaderboard.PLOTS_DIR / "pareto_mnist.png").read_bytes()
    (results / leaderboard.PLOTS_DIR / "pareto_mnist.png").unlink()
    leaderboard.write_leaderboards(results, ["mnist"])
    inline_lines = _build(results, submissions, tmp_path / "site-inline", tmp_path / "cache-inline", None)

    parallel, inline = _site_files(tmp_path / "site-parallel"), _site_files(tmp_path / "site-inline")
    assert parallel == inline
    assert any(name.startswith("charts/history-mnist") for name in parallel)  # the feedback pages' base charts
    assert "<svg" in parallel["index.html"].decode()
    assert [line.replace("site-parallel", "site") for line in parallel_lines] == \
        [line.replace("site-inline", "site") for line in inline_lines]
    assert (results / leaderboard.PLOTS_DIR / "pareto_mnist.png").read_bytes() == parallel_plot
    assert sorted(p.name for p in (tmp_path / "cache-parallel").glob("*.svg")) == \
        sorted(p.name for p in (tmp_path / "cache-inline").glob("*.svg"))


def test_the_report_process_does_not_import_matplotlib_nor_its_worker_pandas(tmp_path):
    """The worker draws; the process that ranks and renders pages never pays matplotlib's import,
    and the worker, which gets plain data, never pays pandas'."""
    make_results(tmp_path)
    (tmp_path / "probe.py").write_text("import sys\n\ndef imported(name):\n    return name in sys.modules\n")
    script = f"""
import sys
from pathlib import Path
sys.path.insert(0, {str(tmp_path)!r})
from pipeline.reporting.chart_worker import ChartWorker
from probe import imported
root = Path({str(tmp_path)!r})
with ChartWorker(parallel=True) as worker:  # forked first, as the report does
    from pipeline.reporting import leaderboard, site
    leaderboard.write_leaderboards(root / "results", ["mnist"], worker=worker)
    site.build_site(root / "results", root / "submissions", root / "site", ["mnist"], False, False,
                    {KEY!r}, chart_dir=root / "cache", worker=worker)
    print("matplotlib" in sys.modules, worker.submit(imported, "matplotlib").result(),
          worker.submit(imported, "pandas").result())
"""
    completed = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "False True False"
    assert (tmp_path / "site" / "index.html").is_file()
    assert (tmp_path / "results" / leaderboard.PLOTS_DIR / "pareto_compute_mnist.png").is_file()


def _broken_chart(name: str) -> str:
    raise ValueError(f"cannot draw {name}")


@pytest.mark.parametrize("parallel", [True, False])
def test_a_chart_that_fails_fails_the_report_with_its_error(parallel):
    with pytest.raises(ValueError, match="cannot draw pareto"):
        with ChartWorker(parallel=parallel) as worker:
            worker.submit(_broken_chart, "pareto")


def test_a_killed_report_leaves_no_worker_behind():
    """DVC or a user may kill the report: its worker must not live on, holding the stage's output open."""
    script = """
import os, signal, sys, time
from pipeline.reporting.chart_worker import ChartWorker
worker = ChartWorker(parallel=True)
worker.submit(time.sleep, 0.1).result()
print(*[process.pid for process in worker._pool._processes.values()], flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""
    process = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    worker_pid = int(process.stdout.readline())
    process.wait(timeout=60)
    for _ in range(100):
        try:
            os.kill(worker_pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.kill(worker_pid, signal.SIGKILL)
        pytest.fail("the chart worker outlived its killed report")


def test_work_in_a_forked_child_returns_its_result_or_its_error():
    from pipeline.reporting.forked import ChildFailed, Forked

    pages = {"a": "x" * 1_000_000}  # the child sees this process's data without it being sent
    assert Forked(lambda: {name: len(text) for name, text in pages.items()}).result() == {"a": 1_000_000}
    with pytest.raises(KeyError, match="missing"):
        Forked(lambda: pages["missing"]).result()
    with pytest.raises(ChildFailed):
        Forked(lambda: os.kill(os.getpid(), signal.SIGKILL)).result()


def test_a_leak_on_a_page_the_child_renders_stops_the_build(tmp_path, monkeypatch):
    """The forked child checks the pages it renders for leaks (site_leaks): a site key in the log of
    a student in its half stops the build as it would in one process, and nothing is published."""
    from pipeline.reporting import site_leaks

    monkeypatch.setattr(site, "SPLIT_PAGES_FROM", 2)
    results, submissions = make_results(tmp_path)
    # The submissions sort alice, bob, carol, small_cnn: small_cnn's page is in the child's half.
    (results / "mnist" / "small_cnn.log").write_text(f"epoch 1\nprinted {KEY.decode()}\n")
    with pytest.raises(site_leaks.SiteError, match="the site key"):
        with ChartWorker(parallel=True) as worker:
            _build(results, submissions, tmp_path / "site", tmp_path / "cache", worker)
    assert not (tmp_path / "site").exists()


def test_a_leak_in_this_processs_half_removes_the_pages_the_child_wrote(tmp_path, monkeypatch):
    """The child writes its own (clean) pages into site/; a leak found meanwhile in this process's
    half must still leave nothing published: site/ is removed after the child's writes end."""
    from pipeline.reporting import site_leaks

    monkeypatch.setattr(site, "SPLIT_PAGES_FROM", 2)
    results, submissions = make_results(tmp_path)
    with ChartWorker(parallel=True) as worker:  # a clean build first: site/ exists and is full
        _build(results, submissions, tmp_path / "site", tmp_path / "cache", worker)
    assert len(list((tmp_path / "site" / site.FEEDBACK_DIR).glob("*/index.html"))) == 4
    (results / "mnist" / "alice.log").write_text(f"epoch 1\nprinted {KEY.decode()}\n")  # the first half
    with pytest.raises(site_leaks.SiteError, match="the site key"):
        with ChartWorker(parallel=True) as worker:
            _build(results, submissions, tmp_path / "site", tmp_path / "cache", worker)
    assert not (tmp_path / "site").exists()
