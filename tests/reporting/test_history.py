"""results/history/<track>.csv holds changes: it grows by the changes of a grade run, not by the
class size, and reads back to exactly what the old format (a full snapshot per run) showed: every
submission's score at every run, each run's leader and ranked count, each version's best rank."""

from __future__ import annotations

import datetime
import random

import pandas as pd
import pytest

from pipeline.reporting import history

START = datetime.datetime(2026, 1, 1, 9, 0, tzinfo=datetime.timezone.utc)


def ranked_table(class_state: dict[str, tuple[str, float | None]]) -> tuple[pd.DataFrame, list[dict]]:
    """What the grade stage passes to history.record: the ranked table (failed ones last, unranked)
    and the result records (for the folder hashes). `class_state`: submission -> (hash, accuracy)."""
    scored = sorted((s for s in class_state if class_state[s][1] is not None), key=lambda s: (-class_state[s][1], s))
    failed = sorted(s for s in class_state if class_state[s][1] is None)
    table = pd.DataFrame({
        "submission": scored + failed,
        "status": ["ok"] * len(scored) + ["crashed"] * len(failed),
        "public_accuracy": [class_state[s][1] for s in scored] + [None] * len(failed),
        "rank": pd.array(list(range(1, len(scored) + 1)) + [None] * len(failed), dtype="Int64"),
    })
    results = [{"submission": s, "content_hash": class_state[s][0]} for s in class_state]
    return table, results


def old_snapshot(table: pd.DataFrame, results: list[dict], when: datetime.datetime) -> pd.DataFrame:
    """The rows the old format appended per grade run: every submission of the ranked table."""
    hashes = {result["submission"]: result["content_hash"] for result in results}
    return pd.DataFrame({"time": when.isoformat(timespec="seconds"), "submission": table["submission"],
                         "content_hash": table["submission"].map(hashes), "public_accuracy": table["public_accuracy"],
                         "rank": table["rank"]}, columns=history.SNAPSHOT_COLUMNS)


def expand(past: history.History) -> pd.DataFrame:
    """The full snapshot per run that the points stand for (each point: `runs` consecutive runs)."""
    run_times = past.runs["time"].tolist()
    index = {time: position for position, time in enumerate(run_times)}
    rows = []  # the rank column: the best rank of the version so far (what the file keeps of ranks)
    for point in past.points.to_dict("records"):
        start = index[point["time"]]
        rows += [{"time": run_times[start + offset], "submission": point["submission"],
                  "content_hash": point["content_hash"], "public_accuracy": point["public_accuracy"],
                  "rank": point["rank"]} for offset in range(point["runs"])]
    return _canonical(pd.DataFrame(rows, columns=history.SNAPSHOT_COLUMNS))


def _canonical(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.sort_values(["time", "submission"], ignore_index=True)
    frame["public_accuracy"] = frame["public_accuracy"].astype(float)
    frame["rank"] = frame["rank"].astype("Int64")
    frame["content_hash"] = frame["content_hash"].astype(str)
    return frame


def simulate(results_root, runs: int, students: int, seed: int) -> pd.DataFrame:
    """`runs` grade runs of a class that changes a little each run (new versions, better and worse
    scores, failures, leavers and late joiners), recorded by history.record; returns the old format's
    snapshots of the same runs."""
    chooser = random.Random(seed)
    class_state = {f"s{index:03d}": (f"h{index}-0", round(chooser.uniform(0.5, 0.9), 4)) for index in range(students)}
    snapshots = []
    for run in range(runs):
        if run:
            for submission in chooser.sample(sorted(class_state), 3):
                content_hash, _ = class_state[submission]
                class_state[submission] = (content_hash + "+", chooser.choice([None, round(chooser.uniform(0.5, 0.99), 4)]))
            if run % 3 == 0:
                del class_state[chooser.choice(sorted(class_state))]
                class_state[f"late{run}"] = (f"late{run}", 0.7)
        table, results = ranked_table(class_state)
        when = START + datetime.timedelta(hours=run)
        history.record(results_root, "mnist", table, results, when)
        snapshots.append(old_snapshot(table, results, when))
    return pd.concat(snapshots, ignore_index=True)


def old_versions(old: pd.DataFrame) -> dict[str, list[dict]]:
    """What the site showed per submission from an old file: each version's first run, how many runs
    it was in, its latest score and its best rank (site.versions_by_submission before the change)."""
    found: dict[str, dict[str, dict]] = {}
    for row in old.sort_values(["submission", "time"], kind="stable").to_dict("records"):
        rank = None if pd.isna(row["rank"]) else int(row["rank"])
        version = found.setdefault(row["submission"], {}).setdefault(row["content_hash"], {
            "content_hash": row["content_hash"], "hash": row["content_hash"][:12], "first_seen": row["time"],
            "runs": 0, "best_rank": None})
        version["runs"] += 1
        version["public_accuracy"] = None if pd.isna(row["public_accuracy"]) else row["public_accuracy"]
        if rank is not None and (version["best_rank"] is None or rank < version["best_rank"]):
            version["best_rank"] = rank
    return {submission: sorted(versions.values(), key=lambda version: version["first_seen"], reverse=True)
            for submission, versions in found.items()}


def test_each_grade_run_adds_its_changes_and_one_summary_row(tmp_path):
    """50 submissions, then 4 more runs in which one student hands in a better model: 2 rows a run, not 50."""
    class_state = {f"s{index:02d}": (f"h{index}", 0.5 + index / 1000) for index in range(50)}
    path = history.history_path(tmp_path, "mnist")
    sizes = []
    for run in range(5):
        if run:
            class_state["s07"] = (f"h7-v{run}", 0.9 + run / 100)  # new version, new score, new rank (1)
        table, results = ranked_table(class_state)
        history.record(tmp_path, "mnist", table, results, START + datetime.timedelta(hours=run))
        sizes.append(len(pd.read_csv(path)))
    assert sizes[0] == 50 + 1
    # s07's row and the summary; the 42 students s07 overtook moved down a rank, which writes nothing.
    assert [after - before for before, after in zip(sizes, sizes[1:])] == [2, 2, 2, 2]
    # A run that changes nothing adds its summary row only.
    history.record(tmp_path, "mnist", table, results, START + datetime.timedelta(hours=5))
    assert len(pd.read_csv(path)) == sizes[-1] + 1
    # The two leaders' new versions fail: everyone moves up two ranks (a new best for 48 versions),
    # and the file gains their two rows and the summary; the best ranks are in the state file.
    class_state["s07"] = ("h7-broken", None)
    class_state["s49"] = ("h49-broken", None)
    table, results = ranked_table(class_state)
    history.record(tmp_path, "mnist", table, results, START + datetime.timedelta(hours=6))
    assert len(pd.read_csv(path)) == sizes[-1] + 1 + 3
    past = history.load(tmp_path, "mnist")
    assert past.runs["ranked"].tolist() == [50] * 6 + [48]
    assert past.runs["leader"].tolist() == ["s49"] + ["s07"] * 5 + ["s48"]
    assert past.runs["leader_accuracy"].tolist()[-2] == 0.9 + 4 / 100
    versions = history.versions_by_submission(past)
    assert versions["s48"][0]["best_rank"] == 1 and versions["s00"][0]["best_rank"] == 48
    assert [version["best_rank"] for version in versions["s49"]] == [None, 1]
    assert [version["best_rank"] for version in versions["s07"]] == [None, 1, 1, 1, 1, 43]


def test_the_changes_read_back_to_the_old_formats_snapshots_runs_and_versions(tmp_path):
    old = simulate(tmp_path, runs=12, students=30, seed=7)
    past = history.load(tmp_path, "mnist")
    shown = ["time", "submission", "content_hash", "public_accuracy"]
    assert expand(past)[shown].equals(_canonical(old.copy())[shown])
    assert history.versions_by_submission(past) == old_versions(old)
    # Per run, the leader (the first rank-1 row) and the number ranked, as the old file gave them.
    for (time, rows), run in zip(old.groupby("time", sort=True), past.runs.to_dict("records")):
        leader = rows[rows["rank"] == 1]
        assert run["time"] == time and run["ranked"] == rows["rank"].notna().sum()
        assert run["leader"] == leader["submission"].iloc[0] and run["leader_accuracy"] == leader["public_accuracy"].iloc[0]
    # The file holds changes: far fewer rows than the snapshots.
    assert len(pd.read_csv(history.history_path(tmp_path, "mnist"))) < len(old) / 3


def test_an_old_snapshot_file_is_read_and_then_rewritten_as_changes(tmp_path):
    """A history written by the previous version (a full snapshot per run) reads back as it was,
    and the next grade run converts it and appends its own changes."""
    reference = tmp_path / "reference"
    old = simulate(reference, runs=6, students=10, seed=3)
    legacy = tmp_path / "legacy"
    path = history.history_path(legacy, "mnist")
    path.parent.mkdir(parents=True)
    old.to_csv(path, index=False)
    shown = ["time", "submission", "content_hash", "public_accuracy"]
    assert expand(history.load(legacy, "mnist"))[shown].equals(_canonical(old.copy())[shown])
    assert history.versions_by_submission(history.load(legacy, "mnist")) == old_versions(old)

    class_state = {"s000": ("h0-new", 0.99)}  # the class of the next run: one student, a new version
    table, results = ranked_table(class_state)
    history.record(legacy, "mnist", table, results, START + datetime.timedelta(days=1))
    assert pd.read_csv(path).columns.tolist() == history.COLUMNS
    again = history.load(legacy, "mnist")
    expected = pd.concat([old, old_snapshot(table, results, START + datetime.timedelta(days=1))], ignore_index=True)
    assert expand(again)[shown].equals(_canonical(expected)[shown])
    assert history.versions_by_submission(again) == old_versions(expected)


def test_each_run_row_keeps_the_class_median_and_a_file_without_it_is_read_and_rewritten(tmp_path):
    """The run row holds the median public accuracy of those ranked (the site's median line reads it
    there, not from every submission at every run). A change file written before the median was
    kept reads back with the same medians, worked out once, and the next grade run rewrites it."""
    old = simulate(tmp_path, runs=8, students=12, seed=5)
    expected = [rows.loc[rows["rank"].notna(), "public_accuracy"].median() for _, rows in old.groupby("time", sort=True)]
    medians = history.load(tmp_path, "mnist").runs["median_accuracy"].tolist()
    assert medians == pytest.approx(expected)
    path = history.history_path(tmp_path, "mnist")
    pd.read_csv(path).drop(columns="median_accuracy").to_csv(path, index=False)  # as the previous version wrote it
    assert history.load(tmp_path, "mnist").runs["median_accuracy"].tolist() == pytest.approx(expected)

    table, results = ranked_table({"s000": ("h0-new", 0.99), "s001": ("h1-new", 0.5)})
    history.record(tmp_path, "mnist", table, results, START + datetime.timedelta(days=1))
    assert pd.read_csv(path).columns.tolist() == history.COLUMNS
    assert history.load(tmp_path, "mnist").runs["median_accuracy"].tolist() == pytest.approx(expected + [0.745])


def test_a_history_file_of_another_shape_is_one_clear_error(tmp_path):
    path = history.history_path(tmp_path, "mnist")
    path.parent.mkdir(parents=True)
    path.write_text("when,who\n1,2\n")
    try:
        history.load(tmp_path, "mnist")
    except ValueError as error:
        message = str(error)
    assert str(path) in message and "expected the columns" in message and "move the file away" in message
