"""gradebench command line: `python -m pipeline <command>`.

Each DVC stage is one of these commands. Exit status: 0 success, 1 the pipeline could not do its
job (bad data, unreachable downloads), 2 a usage or params.yaml mistake. A failing *submission*
is not an error: it is recorded as a result row and the command still succeeds.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from pathlib import Path

from pipeline.config import ConfigError, load_params, resolve_grading
from pipeline.data.download import DownloadError
from pipeline.data.layout import is_prepared

DATA_RAW = Path("data/raw")
DATA_PREPARED = Path("data/prepared")
RESULTS = Path("results")
# Per-submission feedback (curves, images): written by grade, published by report; not a DVC output.
FEEDBACK = Path("feedback")
SUBMISSIONS = Path("submissions")
TERMINAL_ROWS = 20  # leaderboard rows `leaderboard` and `report` print; the file has them all

EXAMPLES = """examples:
  python -m pipeline download mnist          # fetch and verify the upstream files
  python -m pipeline preprocess mnist        # decode and split into data/prepared/mnist/
  python -m pipeline grade mnist             # train and score every stale submission
  python -m pipeline leaderboard --track mnist   # print the MNIST leaderboard
  python -m pipeline check submissions/alice # pre-flight check before submitting
  python -m pipeline new alice               # start submissions/alice/model.py from a template
  python -m pipeline ui                      # MLflow UI + one leaderboard link per track
  python -m pipeline rerun <run-id>          # re-grade one MLflow entry, check it reproduces
  python -m pipeline site                    # render site/ (leaderboard, history, feedback pages)
  python -m pipeline report                  # leaderboard + site (the DVC stage `report`)
"""


def cmd_download(args, params) -> int:
    from pipeline.data import download

    dataset = params.dataset(args.dataset)
    paths = download.fetch_dataset(
        args.dataset, dataset, DATA_RAW / args.dataset, params.download,
        mirror_root=download.mirror_from_env(),
    )
    print(f"{args.dataset}: {len(paths)} file(s) verified in {DATA_RAW / args.dataset}/")
    return 0


def cmd_preprocess(args, params) -> int:
    from pipeline.data import preprocess

    dataset = params.dataset(args.dataset)
    data, report = preprocess.prepare(args.dataset, DATA_RAW / args.dataset, dataset.split)
    meta = preprocess.write_prepared(data, DATA_PREPARED / args.dataset, report)
    if report:
        shown = {k: v for k, v in report.items() if not isinstance(v, list)}
        print(json.dumps(shown, indent=2))
        for skipped in report.get("unreadable_files", []):
            print(f"skipped unreadable file {skipped['file']}: {skipped['reason']}")
    counts = meta["counts"]
    print(f"{args.dataset}: train {counts['train']}, validation {counts['validation']}, "
          f"hidden {counts['hidden']} -> {DATA_PREPARED / args.dataset}/")
    return 0


def cmd_grade(args, params) -> int:
    from pipeline.config import tracking_uri
    from pipeline.grading.orchestrate import TrackJob, grade_track
    from pipeline.reporting.publish import MlflowPublisher
    from pipeline.sandbox import leftovers

    track = params.track(args.track)
    prepared_dir = DATA_PREPARED / track.dataset
    if not is_prepared(prepared_dir):
        raise FileNotFoundError(f"{prepared_dir}/ is not prepared yet: run `python -m pipeline preprocess {track.dataset}`")
    settings = resolve_grading(params, args.unsafe_no_sandbox, args.executor, args.ray_address)
    _stop_at_once_on_interrupt()
    job = TrackJob(args.track, track, SUBMISSIONS, prepared_dir, RESULTS / args.track, params.leaderboard.hidden_split,
                   FEEDBACK / args.track)
    uri = tracking_uri(params, Path.cwd())
    leftovers.sweep()  # scratch folders and cgroups of graders that were killed
    publisher = MlflowPublisher(uri, args.track, track.dataset, SUBMISSIONS, job.results_dir)
    if publisher.store_is_new():
        # Creating a sqlite store runs MLflow's schema migrations (seconds; on a scratch file, so
        # that an interrupt leaves no half-made store: tracking.create_sqlite_store): start them
        # first, so the first result need not wait. Later runs open it once training is under way.
        publisher.start()
    try:
        results = grade_track(job, settings, on_result=publisher.log, on_start=publisher.start)
        ranked = rank_track(args.track, params, results)
        publisher.publish_ranks(ranked, params.leaderboard.reveal_private)
    finally:
        publisher.close()
    from pipeline.reporting import history

    history.record(RESULTS, args.track, ranked, results)  # this run's changes and summary, for the site
    from pipeline.reporting import tracking  # imported by now

    ok = sum(result is not None and result.status == "ok" for result in results)
    print(f"{args.track}: {ok}/{len(results)} submissions graded ok; MLflow experiment "
          f"{tracking.experiment_name(args.track)!r} at {uri}")
    return 0


def cmd_leaderboard(args, params, ranked_tables: dict | None = None) -> int:
    """`ranked_tables`, if given, receives each track's ranked table (for `report`'s site)."""
    from pipeline.reporting import leaderboard, rubric

    for track_name in args.track or []:
        params.track(track_name)  # unknown names are a clear error, not an empty table
    reveal = params.leaderboard.reveal_private
    ranked_tables = {} if ranked_tables is None else ranked_tables
    table = leaderboard.write_leaderboards(RESULTS, list(params.tracks), reveal, ranked_tables,
                                           params.leaderboard.tie_break)
    grades = rubric.write_grades(RESULTS, ranked_tables, params.grades, reveal)
    for track_name in args.track or list(params.tracks):
        shown = table[table["track"] == track_name]
        # The top of a large class on the terminal; every row is in the file.
        print(leaderboard.to_markdown(shown.head(TERMINAL_ROWS), track_name))
        if len(shown) > TERMINAL_ROWS:
            print(f"... {len(shown) - TERMINAL_ROWS} more rows in {RESULTS / leaderboard.MARKDOWN_FILE}\n")
    print(f"{len(grades)} student(s) in {RESULTS / rubric.GRADES_FILE}")
    return 0


def cmd_report(args, params) -> int:
    """`leaderboard` then `site`, in one process: the DVC stage that writes what people read."""
    args.track = None
    ranked_tables: dict = {}
    cmd_leaderboard(args, params, ranked_tables)
    return cmd_site(args, params, ranked_tables)  # the same ranking, not read and ranked again


def rank_track(track_name: str, params, results: list):
    """The track's full ranked table (private scores included: trusted steps only), from the
    current results `grade_track` returned, not from the result files read again."""
    from pipeline.reporting import leaderboard

    return leaderboard.rank(leaderboard.results_frame(results, track_name), params.leaderboard.reveal_private,
                            params.leaderboard.tie_break)


def cmd_ui(args, params) -> int:
    from pipeline.config import tracking_uri
    from pipeline.reporting import tracking, ui
    from pipeline.reporting.publish import local_artifact_root

    uri = tracking_uri(params, Path.cwd())
    server = None
    ui.raise_on_sigterm()  # SIGTERM exits through the `finally` below, which stops the server
    if ui.is_server(uri):
        base_url = uri.rstrip("/")  # a tracking server already serves its UI
    else:
        base_url = f"http://{args.host}:{args.port}"
        artifact_root = local_artifact_root(uri)
        server = ui.start_server(uri, artifact_root.resolve().as_uri() if artifact_root else None,
                                 args.host, args.port)
    try:
        ui.wait_until_up(base_url, server)
        links = ui.track_links(tracking.make_client(uri), base_url, list(params.tracks),
                               params.leaderboard.reveal_private)
        ranked_by = "private" if params.leaderboard.reveal_private else "public"
        print(f"MLflow UI for {uri} at {base_url}")
        print(f"leaderboards (runs tables sorted by rank = {ranked_by} accuracy, then fewer parameters, "
              f"then earlier submission):")
        for track_name, link in links.items():
            print(f"  {track_name}: {link or 'nothing graded yet (run dvc repro)'}", flush=True)
        if server is None:
            return 0
        print("press Ctrl-C to stop the UI", flush=True)
        return server.wait()
    finally:
        if server is not None:
            ui.stop_server(server)


def cmd_rerun(args, params) -> int:
    from pipeline.config import tracking_uri
    from pipeline.grading import rerun
    from pipeline.reporting import tracking

    client = tracking.make_client(tracking_uri(params, Path.cwd()))
    report = rerun.rerun(client, args.run_id, DATA_PREPARED, resolve_grading(params, args.unsafe_no_sandbox).isolation)
    print("\n".join(report.lines))
    if report.reproduced:
        print(f"REPRODUCED: run {args.run_id} re-graded with a bit-identical score")
        return 0
    print(f"NOT REPRODUCED: run {args.run_id} re-graded with a different result (see above)")
    return 1


def ensure_prepared(dataset_name: str, params) -> Path:
    """The prepared arrays a check needs; built once with the pipeline's own stages if missing."""
    prepared_dir = DATA_PREPARED / dataset_name
    if not is_prepared(prepared_dir):
        print(f"preparing {dataset_name} first (once): download and preprocess")
        cmd_download(argparse.Namespace(dataset=dataset_name), params)
        cmd_preprocess(argparse.Namespace(dataset=dataset_name), params)
    return prepared_dir


def cmd_check(args, params) -> int:
    from pipeline.grading import check

    submission_dir = Path(args.submission)
    if not submission_dir.is_dir():
        raise FileNotFoundError(f"{submission_dir} is not a folder: expected submissions/<id>/ holding model.py")
    track = params.track(args.track)
    prepared_dir = ensure_prepared(track.dataset, params)
    print(f"checking {submission_dir} on track {args.track} (2 epochs on a small slice, same sandbox as grading)")
    report = check.check_submission(submission_dir, args.track, track, prepared_dir,
                                    resolve_grading(params, args.unsafe_no_sandbox).isolation)
    print("\n".join(report.lines))
    if report.problems:
        print(f"NOT READY: {len(report.problems)} problem(s) above would fail grading")
        return 1
    print("READY: grading will accept this submission")
    return 0


def cmd_new(args, params) -> int:
    from pipeline import scaffold

    path = scaffold.create_submission(SUBMISSIONS, args.submission_id)
    print(f"created {path}\nedit it, then check it with: python -m pipeline check {path.parent}")
    return 0


def cmd_site(args, params, ranked_tables: dict | None = None) -> int:
    from pipeline.reporting import site

    key, where = site.resolve_key()  # GRADEBENCH_SITE_KEY, else .gradebench/site-key (created on the first run)
    print(where)
    print("\n".join(site.build_site(RESULTS, SUBMISSIONS, Path("site"), list(params.tracks),
                                    params.leaderboard.reveal_private, params.site.show_ids, key,
                                    ranked_tables=ranked_tables, context=site.track_context(params, DATA_PREPARED),
                                    grades=params.grades, feedback_root=FEEDBACK,
                                    tie_break=params.leaderboard.tie_break)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline",
        description="gradebench: train and grade student Keras models on fixed schedules.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--params", default="params.yaml", help="configuration file (default: params.yaml)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    download = commands.add_parser("download", help="fetch a dataset's upstream files, sha256-verified",
                                   description="Fetch and verify a dataset. Set GRADEBENCH_MIRROR to a local "
                                               "folder (one subfolder per dataset) to use it first.")
    download.add_argument("dataset", help="a dataset name from params.yaml, e.g. mnist")
    download.set_defaults(handler=cmd_download)

    preprocess = commands.add_parser("preprocess", help="decode and split a dataset into public and hidden parts")
    preprocess.add_argument("dataset")
    preprocess.set_defaults(handler=cmd_preprocess)

    grade = commands.add_parser("grade", help="train and score every stale submission of a track")
    grade.add_argument("track", help="a track name from params.yaml, e.g. mnist")
    grade.add_argument("--unsafe-no-sandbox", action="store_true",
                       help="where bubblewrap cannot run, run student code WITHOUT isolation (trusted code only)")
    grade.add_argument("--executor", choices=["local", "ray"], default=None,
                       help="where trainings run (default: grading.executor in params.yaml)")
    grade.add_argument("--ray-address", default=None, metavar="HOST:PORT",
                       help="Ray cluster to grade on with --executor ray (default: grading.ray.address, then $RAY_ADDRESS)")
    grade.set_defaults(handler=cmd_grade)

    board = commands.add_parser(
        "leaderboard", help="write results/leaderboard.csv, .md and metrics.json and print the tables",
        epilog="example: python -m pipeline leaderboard --track mnist",
    )
    board.add_argument("--track", action="append", help="print only this track (repeatable; default: all)")
    board.set_defaults(handler=cmd_leaderboard)

    check = commands.add_parser(
        "check", help="pre-flight check of one submission, exactly as grading runs it (seconds)",
        epilog="example: python -m pipeline check submissions/alice --track notmnist",
    )
    check.add_argument("submission", help="the submission folder, e.g. submissions/alice")
    check.add_argument("--track", default="mnist", help="track to check against (default: mnist)")
    check.add_argument("--unsafe-no-sandbox", action="store_true",
                       help="where bubblewrap cannot run, run the model WITHOUT isolation (your own code only)")
    check.set_defaults(handler=cmd_check)

    new = commands.add_parser(
        "new", help="start a submission from a commented template",
        epilog="example: python -m pipeline new alice  # creates submissions/alice/model.py",
    )
    new.add_argument("submission_id", help="folder name under submissions/, e.g. your user name")
    new.set_defaults(handler=cmd_new)

    ui_parser = commands.add_parser(
        "ui", help="start the MLflow UI on the project's store and print each track's leaderboard link",
        epilog="example: python -m pipeline ui --port 5000",
    )
    ui_parser.add_argument("--host", default="127.0.0.1", help="interface to serve on (default: 127.0.0.1)")
    ui_parser.add_argument("--port", type=int, default=5000, help="port to serve on (default: 5000)")
    ui_parser.set_defaults(handler=cmd_ui)

    rerun_parser = commands.add_parser(
        "rerun", help="re-grade one MLflow run exactly and report whether its score reproduces bit for bit",
        epilog="example: python -m pipeline rerun 3f2c1e...  (the run id from mlflow ui or results JSON)",
    )
    rerun_parser.add_argument("run_id", help="the MLflow run id of the entry to re-grade")
    rerun_parser.add_argument("--unsafe-no-sandbox", action="store_true",
                              help="where bubblewrap cannot run, run student code WITHOUT isolation (trusted code only)")
    rerun_parser.set_defaults(handler=cmd_rerun)

    commands.add_parser("site", help="render site/: public leaderboard, its history, private feedback pages "
                        "(key: GRADEBENCH_SITE_KEY, else .gradebench/site-key)").set_defaults(handler=cmd_site)
    commands.add_parser("report", help="leaderboard, then site, in one process (the DVC stage `report`)"
                        ).set_defaults(handler=cmd_report)
    from pipeline.course import cli as course_cli  # `collect`: pipeline/course/cli.py
    course_cli.add_parser(commands)
    return parser


INTERRUPTED = "interrupted: finished results are kept; run the same command again to continue"


def _interrupt_on_sigterm() -> None:
    """SIGTERM (a scheduler, `kill`, systemd) stops a command the way Ctrl-C does."""
    def handler(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, handler)


def _stop_at_once_on_interrupt() -> None:
    """While grading, Ctrl-C or SIGTERM stops at once, whatever the main thread is doing: a
    KeyboardInterrupt raised inside a library call (MLflow logging, say) can be swallowed there,
    which left the grader running. Every finished result is already written atomically."""
    def handler(signum, frame):
        _stop_running_jobs()
        print(INTERRUPTED, file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(130)
    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def _stop_running_jobs() -> None:
    """Kill this grader's sandboxes and remove their scratch folders (copies of the hidden inputs)."""
    if "pipeline.sandbox.runner" in sys.modules:
        from pipeline.sandbox import leftovers, runner

        runner.kill_running_jobs()
        leftovers.remove_own()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    _interrupt_on_sigterm()
    try:
        params = load_params(args.params)
        return args.handler(args, params)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        _stop_running_jobs()
        print(INTERRUPTED, file=sys.stderr)
        return 130
    except (DownloadError, OSError, ValueError) as error:
        # Bad data files, failed downloads and missing inputs: one clear line, no traceback wall.
        print(f"error: {error}", file=sys.stderr)
        return 1
    except Exception as error:
        # MLflow's own errors (an unknown run id, an unreachable server): also one line. Checked by
        # module so that the CLI does not import MLflow (seconds) for commands that never use it.
        if type(error).__module__.startswith("mlflow"):
            print(f"error: MLflow: {error}", file=sys.stderr)
            return 1
        if type(error).__module__.startswith(("sqlalchemy", "alembic")):
            # The tracking store's database itself (locked, corrupt, or cut short while being created).
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            print(f"error: the MLflow store cannot be used: {first_line[:300]}. Nothing in results/ is lost. If "
                  f"the store is a local mlflow.db whose creation was interrupted, move it aside and run again",
                  file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    exit_code = main()
    # Skip the interpreter's teardown of the MLflow, SQLAlchemy and pandas modules: it takes over a
    # second per `grade` call, after everything is written. Every result, log and tracking
    # store write is finished and closed by now; only the standard streams and logging need flushing.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_code)
