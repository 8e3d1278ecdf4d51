"""The result cache's folders: feedback lives apart from results, and feedback an earlier version
wrote into results/<track>/ moves there (its results stay current, so nothing would redraw it)."""

from pipeline.grading.cache import ResultCache


def test_feedback_written_into_results_by_an_earlier_version_moves_to_the_feedback_folder(tmp_path):
    results, feedback = tmp_path / "results" / "mnist", tmp_path / "feedback" / "mnist"
    (results / "feedback" / "alice").mkdir(parents=True)
    (results / "feedback" / "alice" / "learning_curves.png").write_bytes(b"png")
    (results / "confusion").mkdir()
    (results / "confusion" / "alice.csv").write_text("actual,predicted\n")
    (results / "alice.json").write_text("{}")

    cache = ResultCache(results, feedback)
    cache.move_old_feedback()
    assert (cache.feedback_dir("alice") / "learning_curves.png").read_bytes() == b"png"
    assert cache.confusion_path("alice").read_text() == "actual,predicted\n"
    assert sorted(path.name for path in results.iterdir()) == ["alice.json"]
    cache.move_old_feedback()  # nothing left to move: a no-op

    cache.remove_deleted(set())  # alice's folder is gone: so is her feedback
    assert not cache.feedback_dir("alice").exists()
