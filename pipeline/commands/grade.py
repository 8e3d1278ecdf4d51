"""`grade <track>`: train and score every stale submission of a track, publish to MLflow, record history."""

from __future__ import annotations

from typing import Optional

from pipeline.commands import EXIT_OK
from pipeline.config import Settings, resolve_grading, tracking_uri


def feedback_drawer(worker):
    """orchestrate's draw_feedback: each submission's plots drawn by `worker` (chart_worker.py: a
    process forked before this one starts any thread, which imports matplotlib while the first
    model trains). The plots are a few tenths of a second of CPU per result: drawn there, while
    this process reads the other results. (Two workers drew them in half the time, but their
    second import of matplotlib slowed the training it ran beside by as much.)"""
    def draw(*args):
        from pipeline.reporting import feedback
        from pipeline.reporting.chart_worker import all_of

        return all_of([worker.submit(function, *job_args) for function, job_args in feedback.feedback_jobs(*args)])
    return draw


def rank_track(track_name: str, settings: Settings, results: list):
    """The track's full ranked table (private scores included: trusted steps only), from the
    current results `grade_track` returned, not from the result files read again."""
    from pipeline.reporting import leaderboard

    reveal = settings.params.leaderboard.reveal_private
    return leaderboard.rank(leaderboard.results_frame(results, track_name), reveal,
                            settings.params.leaderboard.tie_break)


def main(*, settings: Settings, track: str, unsafe_no_sandbox: bool = False, executor: Optional[str] = None,
         ray_address: Optional[str] = None, on_grading_start=lambda: None) -> int:
    """`on_grading_start()`: called once the inputs are known good, before any sandbox starts
    (the command line installs its stop-at-once interrupt handling there)."""
    from pipeline.reporting.chart_worker import ChartWorker

    # Forked first, while this process has no other thread (the MLflow and array threads start below);
    # matplotlib is imported there once something trains (a run with nothing stale draws nothing).
    with ChartWorker(warm=False) as worker:
        return _grade(settings, track, unsafe_no_sandbox, executor, ray_address, on_grading_start, worker)


def _grade(settings: Settings, track: str, unsafe_no_sandbox: bool, executor: Optional[str],
           ray_address: Optional[str], on_grading_start, worker) -> int:
    from pipeline.data.layout import is_prepared
    from pipeline.grading.orchestrate import TrackJob, grade_track
    from pipeline.reporting.publish import MlflowPublisher, local_artifact_root
    from pipeline.sandbox import leftovers

    params, paths = settings.params, settings.paths
    track_settings = params.track(track)
    prepared_dir = paths.data_prepared / track_settings.dataset
    if not is_prepared(prepared_dir):
        raise FileNotFoundError(f"{prepared_dir}/ is not prepared yet: "
                                f"run `python -m pipeline preprocess {track_settings.dataset}`")
    grading = resolve_grading(params, unsafe_no_sandbox, executor, ray_address)
    on_grading_start()
    job = TrackJob(track, track_settings, paths.submissions, prepared_dir, paths.results / track,
                   params.leaderboard.hidden_split, paths.feedback / track)
    uri = tracking_uri(params, paths.root)
    leftovers.sweep()  # scratch folders and cgroups of graders that were killed
    publisher = MlflowPublisher(uri, track, track_settings.dataset, paths.submissions, job.results_dir,
                                dvc_lock=paths.dvc_lock, artifact_root=local_artifact_root(uri, paths.mlruns),
                                warm_up_plots=not worker.parallel)
    if publisher.store_is_new():
        # Creating a sqlite store runs MLflow's schema migrations (seconds; on a scratch file, so
        # that an interrupt leaves no half-made store: tracking_store.create_sqlite_store): start them
        # first, so the first result need not wait. Later runs open it once training is under way.
        publisher.start()
    try:
        def on_start() -> None:  # once the first training is under way, or at once with a core free
            worker.warm_up()
            publisher.start()

        results = grade_track(job, grading, on_result=publisher.log, on_start=on_start,
                              draw_feedback=feedback_drawer(worker))
        ranked = rank_track(track, settings, results)
        ranks_written = publisher.publish_ranks(ranked, params.leaderboard.reveal_private)
    finally:
        publisher.close()
    from pipeline.grading.cache import list_submissions
    from pipeline.grading.display_names import write_names
    from pipeline.grading.results_index import write_index
    from pipeline.reporting import history
    from pipeline.reporting.tracking_store import experiment_name

    history.record(paths.results, track, ranked, results)  # this run's changes and summary, for the site
    content_hashes = {result.submission: result.content_hash for result in results if result is not None}
    folders = list_submissions(paths.submissions)
    write_names(paths.results, track, folders, [content_hashes.get(folder.name) for folder in folders])  # for the site
    write_index(paths.results, track, results)  # what the report stage depends on
    ok = sum(result is not None and result.status == "ok" for result in results)
    print(f"{track}: {ok}/{len(results)} submissions graded ok; MLflow experiment "
          f"{experiment_name(track)!r} at {uri} (leaderboard order and flags written to {ranks_written} run(s))")
    return EXIT_OK
