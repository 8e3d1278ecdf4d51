"""gradebench command line: `python -m pipeline <command>`.

This module only parses the arguments, calls one command's `main` (pipeline/commands/<name>.py)
and maps what it raises to an exit status (docs/instructors/exit-codes.md): 0 done, 1 a negative
verdict (`check` NOT READY, `rerun` NOT REPRODUCED), 2 bad input or configuration, 3 an internal
failure, 130 interrupted. A failing *submission* is not an error: it is a result row, and the
command still succeeds. The signal handling is here too, and only here.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import logging
import os
import signal
import sys
import traceback
from pathlib import Path

from pipeline.config import ConfigError, Settings, load_params
from pipeline.paths import Paths

EXIT_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED = 2, 3, 130
# Python's cycle collector walks every live object each time its oldest generation fills, and
# after importing MLflow, SQLAlchemy, pandas and matplotlib that is about 80 ms a time. With the
# default thresholds (700, 10, 10) a grade run of one submission made six such passes, one of them
# between the sandbox's end and the feedback plots; every 10,000 allocations, none.
GC_THRESHOLDS = (10_000, 10, 10)

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
  python -m pipeline collect git --track mnist   # bring hand-ins in from students' repositories
"""
COLLECT_EXAMPLES = """examples:
  python -m pipeline collect git --track mnist                 # every roster repo, mnist's deadline
  python -m pipeline collect moodle export.zip --track mnist   # a Moodle "download all submissions"
  python -m pipeline collect canvas submissions.zip --track notmnist --times submissions.json
  python -m pipeline collect moodle export.zip --times grading-worksheet.csv
"""


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

    preprocess = commands.add_parser("preprocess", help="decode and split a dataset into public and hidden parts")
    preprocess.add_argument("dataset")

    grade = commands.add_parser("grade", help="train and score every stale submission of a track")
    grade.add_argument("track", help="a track name from params.yaml, e.g. mnist")
    grade.add_argument("--unsafe-no-sandbox", action="store_true",
                       help="where bubblewrap cannot run, run student code WITHOUT isolation (trusted code only)")
    grade.add_argument("--executor", choices=["local", "ray"], default=None,
                       help="where trainings run (default: grading.executor in params.yaml)")
    grade.add_argument("--ray-address", default=None, metavar="HOST:PORT",
                       help="Ray cluster to grade on with --executor ray (default: grading.ray.address, then $RAY_ADDRESS)")

    board = commands.add_parser(
        "leaderboard", help="write results/leaderboard.csv, .md and metrics.json and print the tables",
        epilog="example: python -m pipeline leaderboard --track mnist",
    )
    board.add_argument("--track", action="append", help="print only this track (repeatable; default: all)")

    check = commands.add_parser(
        "check", help="pre-flight check of one submission, exactly as grading runs it (seconds)",
        epilog="example: python -m pipeline check submissions/alice --track notmnist",
    )
    check.add_argument("submission", help="the submission folder, e.g. submissions/alice")
    check.add_argument("--track", default="mnist", help="track to check against (default: mnist)")
    check.add_argument("--unsafe-no-sandbox", action="store_true",
                       help="where bubblewrap cannot run, run the model WITHOUT isolation (your own code only)")

    new = commands.add_parser(
        "new", help="start a submission from a commented template",
        epilog="example: python -m pipeline new alice  # creates submissions/alice/model.py",
    )
    new.add_argument("submission_id", help="folder name under submissions/, e.g. your user name")

    ui_parser = commands.add_parser(
        "ui", help="start the MLflow UI on the project's store and print each track's leaderboard link",
        epilog="example: python -m pipeline ui --port 5000",
    )
    ui_parser.add_argument("--host", default="127.0.0.1", help="interface to serve on (default: 127.0.0.1)")
    ui_parser.add_argument("--port", type=int, default=5000, help="port to serve on (default: 5000)")

    rerun_parser = commands.add_parser(
        "rerun", help="re-grade one MLflow run exactly and report whether its score reproduces bit for bit",
        epilog="example: python -m pipeline rerun 3f2c1e...  (the run id from mlflow ui or results JSON)",
    )
    rerun_parser.add_argument("run_id", help="the MLflow run id of the entry to re-grade")
    rerun_parser.add_argument("--unsafe-no-sandbox", action="store_true",
                              help="where bubblewrap cannot run, run student code WITHOUT isolation (trusted code only)")

    commands.add_parser("site", help="render site/: public leaderboard, its history, private feedback pages "
                        "(key: GRADEBENCH_SITE_KEY, else .gradebench/site-key)")
    commands.add_parser("report", help="leaderboard, then site, in one process (the DVC stage `report`)")
    collect = commands.add_parser(
        "collect", help="bring hand-ins from git repositories or a Moodle/Canvas export into submissions/",
        description="Collect each roster student's hand-in into submissions/<student_id>/, with a\n"
                    "submission.yaml recording the commit or LMS file, the time and the lateness.\n"
                    "Unchanged hand-ins are left untouched; run it before `dvc repro`.",
        epilog=COLLECT_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    collect.add_argument("source", choices=["git", "moodle", "canvas"],
                        help="git: every roster repo; moodle/canvas: an assignment export zip")
    collect.add_argument("export", nargs="?", type=Path, help="the export zip (moodle and canvas only)")
    collect.add_argument("--times", type=Path, action="append", default=[], metavar="FILE",
                        help="the LMS's own submission times: Canvas's Submissions API JSON (or a CSV of it), "
                             "Moodle's grading worksheet CSV; repeat for several files")
    collect.add_argument("--track", default=None,
                        help="whose deadline applies (course.deadlines); default: the only one, if there is one")
    return parser


def command_arguments(args: argparse.Namespace) -> dict:
    """The keyword arguments of the chosen command's `main`, from the parsed command line."""
    name = args.command
    if name in ("download", "preprocess"):
        return {"dataset": args.dataset}
    if name == "grade":
        return {"track": args.track, "unsafe_no_sandbox": args.unsafe_no_sandbox, "executor": args.executor,
                "ray_address": args.ray_address, "on_grading_start": _stop_at_once_on_interrupt}
    if name == "leaderboard":
        return {"tracks": args.track}
    if name == "check":
        return {"submission": Path(args.submission), "track": args.track, "unsafe_no_sandbox": args.unsafe_no_sandbox}
    if name == "new":
        return {"submission_id": args.submission_id}
    if name == "ui":
        return {"host": args.host, "port": args.port}
    if name == "rerun":
        return {"run_id": args.run_id, "unsafe_no_sandbox": args.unsafe_no_sandbox}
    if name == "collect":
        return {"source": args.source, "export": args.export, "times": tuple(args.times), "track": args.track}
    return {}  # site, report


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
        os._exit(EXIT_INTERRUPTED)
    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def _stop_running_jobs() -> None:
    """Kill this grader's sandboxes and remove their scratch folders (copies of the hidden inputs)."""
    if "pipeline.sandbox.supervise" in sys.modules:
        from pipeline.sandbox import leftovers, supervise

        supervise.kill_running_jobs()
        leftovers.remove_own()


def exit_status(error: Exception) -> tuple[int, str]:
    """The exit status and the one line for an exception a command raised."""
    if isinstance(error, (ConfigError, ValueError, FileNotFoundError, FileExistsError, NotADirectoryError)):
        # params.yaml, an unknown track or id, a missing or bad input file: the user can fix it.
        return EXIT_INPUT, f"error: {error}"
    if isinstance(error, OSError):
        # A download that no source delivered (DownloadError), the sandbox unavailable, a disk or
        # permission problem.
        return EXIT_INTERNAL, f"error: {error}"
    # MLflow's own errors and its database's: checked by module so that the CLI does not import
    # MLflow (seconds) for commands that never use it.
    module = type(error).__module__
    if module.startswith("mlflow"):
        # An unknown run id is bad input; an unreachable server or a failing store is not.
        code = getattr(error, "error_code", "")
        bad_input = code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")
        return (EXIT_INPUT if bad_input else EXIT_INTERNAL), f"error: MLflow: {error}"
    if module.startswith(("sqlalchemy", "alembic")):
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return EXIT_INTERNAL, (f"error: the MLflow store cannot be used: {first_line[:300]}. Nothing in results/ "
                               f"is lost. If the store is a local mlflow.db whose creation was interrupted, move it "
                               f"aside and run again")
    return EXIT_INTERNAL, (f"error: internal failure ({type(error).__name__}: {error}); the traceback is above. "
                           "Please report it with the command you ran")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # a usage mistake: argparse exits with 2
    gc.set_threshold(*GC_THRESHOLDS)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    _interrupt_on_sigterm()
    try:
        settings = Settings(load_params(args.params), Paths.from_environment())
        command = importlib.import_module(f"pipeline.commands.{args.command}")
        return command.main(settings=settings, **command_arguments(args))
    except KeyboardInterrupt:
        _stop_running_jobs()
        print(INTERRUPTED, file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:  # noqa: BLE001 - every failure becomes one line and a status
        code, line = exit_status(error)
        if line.startswith("error: internal failure"):
            traceback.print_exc()
        print(line, file=sys.stderr)
        return code


if __name__ == "__main__":
    exit_code = main()
    # Skip the interpreter's teardown of the MLflow, SQLAlchemy and pandas modules: it takes over a
    # second per `grade` call, after everything is written. Every result, log and tracking
    # store write is finished and closed by now; only the standard streams and logging need flushing.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_code)
