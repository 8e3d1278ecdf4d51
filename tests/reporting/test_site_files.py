"""Syncing site/ (reporting/site_files.py): afterwards it holds exactly the build's files; an
unchanged page is not rewritten, an image already linked is not linked again, and the folder of
a page that is gone goes with it."""

from __future__ import annotations

import os

from pipeline.reporting.site_files import SiteFiles, sync


def _tree(root) -> set[str]:
    return {path.relative_to(root).as_posix() for path in root.rglob("*")}


def test_sync_leaves_exactly_the_builds_files_and_touches_only_what_differs(tmp_path):
    site, results = tmp_path / "site", tmp_path / "results"
    results.mkdir()
    (results / "plot.png").write_bytes(b"png")
    first = SiteFiles()
    first.write("index.html", "home")
    first.write("feedback/aaa/index.html", "alice")
    first.write("feedback/bbb/index.html", "bob")
    first.link("feedback/bbb/plot.png", results / "plot.png")
    assert sync(site, first) == 4
    (site / "feedback" / "stray.txt").write_text("left by hand")
    kept = (site / "feedback/aaa/index.html").stat()

    second = SiteFiles()
    second.write("index.html", "home, changed")
    second.write("feedback/aaa/index.html", "alice")  # unchanged
    second.write("feedback/ccc/deep/index.html", "carol")
    assert sync(site, second) == 2  # the changed home page and carol's new one
    assert _tree(site) == {"index.html", "feedback", "feedback/aaa", "feedback/aaa/index.html",
                           "feedback/ccc", "feedback/ccc/deep", "feedback/ccc/deep/index.html"}
    assert (site / "index.html").read_text() == "home, changed"
    now = (site / "feedback/aaa/index.html").stat()
    assert (now.st_ino, now.st_mtime_ns) == (kept.st_ino, kept.st_mtime_ns)

    third = SiteFiles()
    third.link("feedback/bbb/plot.png", results / "plot.png")
    assert sync(site, third) == 1
    assert sync(site, third) == 0  # already the same file
    assert os.path.samefile(site / "feedback/bbb/plot.png", results / "plot.png")
    assert _tree(site) == {"feedback", "feedback/bbb", "feedback/bbb/plot.png"}
