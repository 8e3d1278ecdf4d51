"""Ranking rules: public accuracy first (private once revealed), then fewer trainable parameters,
then the earlier submission; failures at the bottom; Pareto front; duplicates; what is exported."""

import json

import pandas as pd
import pytest

from pipeline.reporting import leaderboard
from tests.helpers import write_result


def test_ranking_ties_and_failures(tmp_path):
    track = tmp_path / "mnist"
    write_result(track, "big_tie", public=0.95, params=1000)
    write_result(track, "small_tie", public=0.95, params=10, submitted_at="2024-03-01T00:00:00+00:00")
    write_result(track, "small_tie_earlier", public=0.95, params=10, submitted_at="2024-02-01T00:00:00+00:00")
    write_result(track, "small_tie_no_time", public=0.95, params=10, submitted_at=None)
    write_result(track, "best", public=0.99, params=5000)
    write_result(track, "worst", public=0.50, params=1)
    write_result(track, "broken", status="invalid", error="model.py, line 3: SyntaxError: invalid syntax")
    write_result(track, "slow", status="timeout", error="ran longer than this track's limit of 60 s")

    table = leaderboard.write_leaderboards(tmp_path, ["mnist"])

    # Ties on accuracy: fewer parameters, then the earlier submission, then an unknown time last.
    assert table["submission"].tolist() == ["best", "small_tie_earlier", "small_tie", "small_tie_no_time",
                                            "big_tie", "worst", "broken", "slow"]
    assert table["rank"].tolist()[:6] == [1, 2, 3, 4, 5, 6]
    assert table["rank"].iloc[6:].isna().all()
    csv = pd.read_csv(tmp_path / "leaderboard.csv")
    assert csv.loc[csv["submission"] == "broken", "error"].item().startswith("model.py, line 3")
    markdown = (tmp_path / "leaderboard.md").read_text()
    assert "| 1      | best" in markdown and "0.9900" in markdown and "timeout" in markdown
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["mnist"]["best_public_accuracy"] == 0.99
    assert metrics["mnist"]["failed"] == 2 and metrics["mnist"]["graded_ok"] == 6
    assert (tmp_path / "plots" / "pareto_mnist.png").stat().st_size > 1000


def test_pareto_front_marks_undominated_submissions(tmp_path):
    track = tmp_path / "mnist"
    write_result(track, "accurate_big", public=0.99, params=100_000)
    write_result(track, "medium", public=0.97, params=10_000)
    write_result(track, "dominated", public=0.96, params=50_000)  # medium is better and smaller
    write_result(track, "tiny", public=0.90, params=100)
    write_result(track, "tiny_worse", public=0.85, params=100)  # same size as tiny, less accurate
    table = leaderboard.write_leaderboards(tmp_path, ["mnist"]).set_index("submission")
    assert table["pareto"].to_dict() == {"accurate_big": True, "medium": True, "dominated": False,
                                         "tiny": True, "tiny_worse": False}
    assert "★" in (tmp_path / "leaderboard.md").read_text()


def test_private_part_is_hidden_until_revealed_then_ranks(tmp_path):
    track = tmp_path / "mnist"
    write_result(track, "leads_public", public=0.99, private=0.90, params=10)
    write_result(track, "leads_final", public=0.95, private=0.97, params=10)

    hidden = leaderboard.write_leaderboards(tmp_path, ["mnist"], reveal_private=False)
    assert hidden["submission"].tolist() == ["leads_public", "leads_final"]
    exported = "".join((tmp_path / name).read_text() for name in ("leaderboard.csv", "leaderboard.md", "metrics.json"))
    assert "private_accuracy" not in exported and "test_accuracy" not in exported
    assert "0.97" not in exported and "0.123456789" not in exported

    revealed = leaderboard.write_leaderboards(tmp_path, ["mnist"], reveal_private=True)
    assert revealed["submission"].tolist() == ["leads_final", "leads_public"]
    assert revealed["private_accuracy"].tolist() == [0.97, 0.90]
    assert json.loads((tmp_path / "metrics.json").read_text())["mnist"]["ranked_by"] == "private_accuracy"
    assert "Final ranking" in (tmp_path / "leaderboard.md").read_text()


def test_several_seeds_show_mean_and_std_and_rank_by_mean(tmp_path):
    track = tmp_path / "mnist"
    write_result(track, "steady", public=0.95, public_std=0.001, params=10, seeds=(1, 2, 3))
    write_result(track, "lucky", public=0.94, public_std=0.04, params=10, seeds=(1, 2, 3))
    table = leaderboard.write_leaderboards(tmp_path, ["mnist"])
    assert table["submission"].tolist() == ["steady", "lucky"]
    assert table["seeds"].tolist() == [3, 3]
    markdown = (tmp_path / "leaderboard.md").read_text()
    assert "0.9500 ± 0.0010" in markdown and "0.9400 ± 0.0400" in markdown


def test_duplicates_column_names_the_twins(tmp_path):
    track = tmp_path / "mnist"
    write_result(track, "alice", public=0.9, params=10, source_hash="s1", architecture_hash="a1")
    write_result(track, "bob", public=0.8, params=10, source_hash="s1", architecture_hash="a1")
    write_result(track, "carol", public=0.7, params=10, source_hash="s2", architecture_hash="a1")
    write_result(track, "dave", public=0.6, params=10, source_hash=None, architecture_hash=None)
    write_result(track, "erin", public=0.5, params=10, source_hash=None, architecture_hash=None)
    table = leaderboard.write_leaderboards(tmp_path, ["mnist"]).set_index("submission")
    assert table.loc["alice", "duplicate_of"] == "source: bob; architecture: bob, carol"
    assert table.loc["carol", "duplicate_of"] == "architecture: alice, bob"
    assert table.loc["dave", "duplicate_of"] == ""  # unknown fingerprints never match each other
    assert table["rank"].tolist() == [1, 2, 3, 4, 5]  # flagged, never penalised


def test_tracks_are_ranked_separately(tmp_path):
    write_result(tmp_path / "mnist", "a", public=0.9, params=10)
    write_result(tmp_path / "notmnist", "a", public=0.8, params=10)
    write_result(tmp_path / "notmnist", "b", public=0.85, params=10)
    table = leaderboard.write_leaderboards(tmp_path, ["mnist", "notmnist"])
    notmnist = table[table["track"] == "notmnist"]
    assert notmnist["submission"].tolist() == ["b", "a"] and notmnist["rank"].tolist() == [1, 2]


def test_empty_track_writes_empty_tables(tmp_path):
    (tmp_path / "mnist").mkdir()
    table = leaderboard.write_leaderboards(tmp_path, ["mnist"])
    assert table.empty and (tmp_path / "plots" / "pareto_mnist.png").exists()


@pytest.mark.parametrize("accuracy, params, expected", [
    ([0.9, 0.9], [10, 10], [True, True]),  # identical points dominate neither
    ([0.9, 0.8], [10, 5], [True, True]),
    ([0.9, 0.8], [5, 10], [True, False]),
])
def test_pareto_front_cases(accuracy, params, expected):
    assert leaderboard.pareto_front(pd.Series(accuracy), pd.Series(params)).tolist() == expected


def test_a_pareto_plot_is_redrawn_only_when_what_it_shows_changed(tmp_path):
    """The plot keeps the hash of its inputs: the same rows leave the file untouched; a new score
    (or a new name, or another metric) draws it again."""
    import os

    folder = tmp_path / "results" / "mnist"
    write_result(folder, "alice", public=0.91, params=5000)
    write_result(folder, "bob", public=0.85, params=900)
    ranked = leaderboard.rank(leaderboard.load_track_results(folder, "mnist"))
    path = tmp_path / "pareto_mnist.png"
    assert leaderboard.plot_pareto(ranked, "mnist", "public_accuracy", path)
    os.utime(path, ns=(1, 1))
    assert not leaderboard.plot_pareto(ranked, "mnist", "public_accuracy", path)
    assert path.stat().st_mtime_ns == 1
    assert leaderboard.plot_pareto(ranked, "notmnist", "public_accuracy", path)  # another title
    write_result(folder, "bob", public=0.87, params=900)
    ranked = leaderboard.rank(leaderboard.load_track_results(folder, "mnist"))
    assert leaderboard.plot_pareto(ranked, "mnist", "public_accuracy", path)
    assert not leaderboard.plot_pareto(ranked, "mnist", "public_accuracy", path)


def test_the_markdown_table_is_laid_out_as_pandas_lays_it_out(tmp_path):
    """leaderboard.md keeps the layout of pandas' to_markdown (tabulate's pipe format), which it
    replaced for speed: the same bytes for a table of ragged cells, empty cells and stars."""
    track = tmp_path / "mnist"
    write_result(track, "a_rather_long_submission_name", public=0.9912, params=123456, public_std=0.0012)
    write_result(track, "b", public=0.5, params=7)
    write_result(track, "broken", status="invalid", error="model.py, line 3: SyntaxError")
    shown = leaderboard.export(leaderboard.rank(leaderboard.load_track_results(track, "mnist"), False), False)
    markdown = leaderboard.to_markdown(shown, "mnist")
    formatted = [line for line in markdown.splitlines() if line.startswith("|")]
    table = pd.DataFrame([[cell.strip() for cell in line.strip("|").split(" | ")] for line in formatted[2:]],
                         columns=[cell.strip() for cell in formatted[0].strip("|").split(" | ")])
    assert "★" in markdown and "| broken" in markdown
    assert "\n".join(formatted) == table.to_markdown(index=False, disable_numparse=True)
