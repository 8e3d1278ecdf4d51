"""A batch is graded longest first: by the FLOPs the previous result counted, else convolutional
models first, so the costliest training never starts last."""

import math
import shutil

import pytest

from pipeline.config import Grading, GradingSettings
from pipeline.grading import ordering
from pipeline.grading.cache import ResultCache, StaleSubmission
from pipeline.grading.orchestrate import TrackJob, grade_track
from pipeline.sandbox.isolation import IsolationPolicy
from tests.helpers import REPO, make_project, needs_bwrap, needs_mnist, tiny_track, write_result


def stale_entry(folder):
    return StaleSubmission(folder.resolve(), content_hash="new", cache_key="new")


def test_costliest_first_from_previous_counts_then_convolutions(tmp_path):
    submissions, results = tmp_path / "submissions", tmp_path / "results" / "tiny"
    for name in ("a_mlp_counted", "b_cnn_new", "c_wide_mlp_counted", "d_mlp_new", "e_cnn_counted"):
        reference = "small_cnn" if "cnn" in name else "mlp_256_128"
        shutil.copytree(REPO / "submissions" / reference, submissions / name)
    # Previous results of earlier versions, written by the grader: their FLOPs are trusted figures.
    write_result(results, "a_mlp_counted", public=0.9, params=1, mflops_per_image=0.47)
    write_result(results, "c_wide_mlp_counted", public=0.9, params=1, mflops_per_image=1.34)
    write_result(results, "e_cnn_counted", public=0.9, params=1, mflops_per_image=4.94)
    stale = [stale_entry(folder) for folder in sorted(submissions.iterdir())]
    cache, track = ResultCache(results), tiny_track()
    ordered = ordering.longest_first(stale, cache, track, train_images=600)
    assert [entry.folder.name for entry in ordered] == [
        "b_cnn_new", "e_cnn_counted", "c_wide_mlp_counted", "a_mlp_counted", "d_mlp_new"]
    assert ordering.estimated_cost(stale[4], cache, track, 600) == pytest.approx(4.94e6 * 600 * 1 * 1)
    assert ordering.estimated_cost(stale[1], cache, track, 600) == math.inf


@needs_bwrap
@needs_mnist
@pytest.mark.slow
@pytest.mark.parametrize("order, expected", [("longest_first", ["small_cnn", "l42_baseline"]),
                                             ("folder", ["l42_baseline", "small_cnn"])])
def test_a_fresh_batch_trains_the_cnn_first(tmp_path, order, expected):
    """Folder order would train l42_baseline first; one worker shows the order results arrive in.
    `grading.order: folder` keeps folder order (the before of the first-run benchmark)."""
    project = make_project(tmp_path)
    for name in ("l42_baseline", "small_cnn"):
        shutil.copytree(REPO / "submissions" / name, project / "submissions" / name)
    arrived = []
    job = TrackJob("tiny", tiny_track(), project / "submissions", project / "data" / "prepared" / "mnist",
                   project / "results" / "tiny")
    grade_track(job, GradingSettings(Grading(workers=1, order=order), IsolationPolicy()),
                on_result=lambda result, log_tail, folder: arrived.append(result.submission))
    assert arrived == expected
