"""FLOPs per image wherever the parameter count is: the tables, a second Pareto front and its
plot, the optional tie-break, and MLflow (metric, tag, saved view)."""

import json

import pandas as pd

from pipeline.grading.record import Result
from pipeline.reporting import leaderboard, rank_publish, tracking, ui
from tests.helpers import write_result

# (public accuracy, parameters, MFLOPs per image): the small CNN is the most accurate; the wide
# MLP is the cheapest per image but not the smallest; the narrow MLP is dominated on both fronts.
MODELS = {"cnn": (0.98, 1_000, 5.0), "wide_mlp": (0.97, 100_000, 0.5), "narrow_mlp": (0.96, 50_000, 1.0)}


def graded_track(folder):
    for name, (accuracy, params, mflops) in MODELS.items():
        write_result(folder, name, public=accuracy, params=params, mflops_per_image=mflops, images_per_second=900.0)
    write_result(folder, "old_result", public=0.90, params=500)  # graded before counting: no FLOPs
    write_result(folder, "broken", status="crashed", error="boom")


def test_second_front_is_accuracy_vs_compute(tmp_path):
    graded_track(tmp_path / "mnist")
    ranked = leaderboard.rank(leaderboard.load_track_results(tmp_path / "mnist", "mnist")).set_index("submission")
    assert ranked["pareto"].to_dict() == {"cnn": True, "wide_mlp": False, "narrow_mlp": False, "old_result": True,
                                          "broken": False}
    assert ranked["pareto_compute"].to_dict() == {"cnn": True, "wide_mlp": True, "narrow_mlp": False,
                                                  "old_result": False, "broken": False}


def test_tables_csv_and_plot_carry_the_count(tmp_path):
    graded_track(tmp_path / "mnist")
    leaderboard.write_leaderboards(tmp_path, ["mnist"])
    table = pd.read_csv(tmp_path / "leaderboard.csv").set_index("submission")
    assert table.loc["wide_mlp", "mflops_per_image"] == 0.5 and table.loc["wide_mlp", "images_per_second"] == 900.0
    assert bool(table.loc["wide_mlp", "pareto_compute"]) and not bool(table.loc["wide_mlp", "pareto"])
    markdown = (tmp_path / leaderboard.MARKDOWN_FILE).read_text()
    assert "mflops_per_image" in markdown and "pareto_compute" in markdown
    wide_row = next(line for line in markdown.splitlines() if "| wide_mlp " in line)
    assert "| 0.5 " in wide_row and wide_row.count("★") == 1
    plot = tmp_path / leaderboard.PLOTS_DIR / "pareto_compute_mnist.png"
    assert plot.stat().st_size > 5_000


def test_tie_break_by_compute_is_optional(tmp_path):
    folder = tmp_path / "mnist"
    write_result(folder, "small_but_costly", public=0.97, params=1_000, mflops_per_image=5.0)
    write_result(folder, "large_but_cheap", public=0.97, params=90_000, mflops_per_image=0.2)
    frame = leaderboard.load_track_results(folder, "mnist")
    by_default = leaderboard.rank(frame)
    assert list(by_default["submission"][:2]) == ["small_but_costly", "large_but_cheap"]
    by_compute = leaderboard.rank(frame, tie_break="compute")
    assert list(by_compute["submission"][:2]) == ["large_but_cheap", "small_but_costly"]


def test_mlflow_gets_the_metric_the_tag_and_the_column(tmp_path):
    logger = tracking.TrackLogger(f"sqlite:///{tmp_path / 'mlflow.db'}", "mnist", artifact_root=tmp_path / "mlruns",
                                  submissions_dir=tmp_path / "submissions")
    result = Result(submission="cnn", track="mnist", status="ok", content_hash="c", public_accuracy=0.98,
                    trainable_params=1_000, mflops_per_image=4.939388, images_per_second=2_500.0, seeds=[1234],
                    schedule={"seed": 1234}, cache_key="k", data_fingerprint="d", grader_fingerprint="g",
                    grading_config={}, graded_at="2024-01-01T00:00:00+00:00")
    run_id = logger.log(result, "log")
    rank_publish.publish_ranks(logger.client, logger.experiment_id,
                               [{"submission": "cnn", "rank": 1, "pareto": False, "pareto_compute": True,
                             "duplicate_of": ""}])
    run = logger.client.get_run(run_id)
    assert run.data.metrics["mflops_per_image"] == 4.939388 and run.data.metrics["images_per_second"] == 2_500.0
    assert run.data.tags["pareto_compute"] == "true"
    ui.install_view(logger.client, logger.experiment_id, reveal_private=False)
    state = json.loads(json.loads(logger.client.get_experiment(logger.experiment_id).tags[ui.VIEW_TAG])["state"])
    assert "metrics.`mflops_per_image`" in state["selectedColumns"]
    assert "tags.`pareto_compute`" in state["selectedColumns"]
