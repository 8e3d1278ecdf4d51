"""Cohort scale (issue 17): the bookkeeping of N students with about 3 resubmissions each.

A synthetic cohort of N real model.py files, drawn from a handful of architectures of varied width
(TEMPLATES), is graded through the real path (`dvc repro`, `python -m pipeline grade mnist`) on a
tiny schedule; then every student resubmits 1-5 times (3 on average; each round changes the
widths of those still resubmitting and grades again), so about 3N superseded MLflow runs exist.
That graded workspace is built once per (N, settings) and cached under --cohort-cache; later runs
refresh its pipeline/ copy and measure on it. One track (mnist) only: the figures per track.

Figures, each against issue 17's target:
  1 no-op `dvc repro` at N                                                          <= 5 s
  2 one changed submission among N: `dvc repro` minus that submission's sandbox time <= 5 s
  3 rank publishing after a full re-rank of N current + ~3N superseded runs
    (pipeline.reporting.publish.publish_ranks on the sqlite store and via a local `mlflow server`) <= 30 s
  4 leaderboard stage (`python -m pipeline leaderboard`)                             <= 15 s
  5 grading parent peak RSS (`python -m pipeline grade mnist` with one changed submission) <= 500 MB
  6 per-submission fixed cost: wall time of grading one submission minus its fit time (info; target:
    half of today's), from the sandbox (result JSON) and for the whole grade command
  7 throughput of the first full round (N submissions, --cohort-workers workers), and the projection
    for 1,000 students x 2 tracks on the real schedule on one machine and on k Ray machines
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Optional

import yaml

from bench.common import (BENCH, CORES, REPO, base_params, environment, log, median, pipeline_cmd, read_result, row,
                          run)
from bench.figures.throughput import free_port

TRACK = "mnist"
COHORT_SUBSET = {"train": 256, "validation": 128, "hidden": 512}
NOOP_TARGET, CHANGE_TARGET, PUBLISH_TARGET, LEADERBOARD_TARGET, RSS_TARGET = 5.0, 5.0, 30.0, 15.0, 500.0
MAX_RESUBMISSIONS = 5  # each student resubmits 1..5 times, uniformly: 3 on average
# The real MNIST schedule (params.yaml) against the tiny one: fit time scales with epochs x images.
REAL_EPOCHS, REAL_TRAIN_IMAGES = 30, 48000
PROJECTED_STUDENTS, PROJECTED_TRACKS = 1000, 2
# Two one-CPU Ray nodes on these 2 cores graded 1.52x of one local worker where 2 local workers made
# 1.71x (README "Performance"): Ray's efficiency relative to local workers, used when this run has
# no Ray row of its own.
RAY_EFFICIENCY_DEFAULT = 1.52 / 1.71

# Architectures a cohort is drawn from, each parametrised by {width}; honest student styles.
TEMPLATES = {
    "mlp": '''import keras
from keras import layers


def build_model(input_shape, num_classes):
    inputs = keras.Input(shape=input_shape)
    x = layers.Flatten()(inputs)
    x = layers.Dense({width}, activation="relu")(x)
    x = layers.Dense({half}, activation="relu")(x)
    outputs = layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs)
''',
    "mlp_dropout": '''import keras
from keras import layers


def build_model(input_shape, num_classes):
    return keras.Sequential([
        keras.Input(shape=input_shape),
        layers.Flatten(),
        layers.Dense({width}, activation="relu"),
        layers.Dropout(0.2),
        layers.Dense(num_classes),
    ])
''',
    "cnn": '''import keras
from keras import layers


def build_model(input_shape, num_classes):
    inputs = keras.Input(shape=input_shape)
    x = layers.Reshape((28, 28, 1))(inputs)
    x = layers.Conv2D({filters}, 3, activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    outputs = layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs)
''',
    "l42_get_model": '''import keras
from keras import layers


def get_model():
    return keras.Sequential([
        keras.Input(shape=(784,)),
        layers.Dense({width}, activation="tanh"),
        layers.Dense(10, activation="softmax"),
    ])
''',
}
WIDTHS = (16, 32, 48, 64, 96, 128, 192, 256)


def model_source(architecture: str, width: int, revision: int) -> str:
    source = TEMPLATES[architecture].format(width=width, half=max(8, width // 2), filters=max(4, width // 8))
    return f"# synthetic cohort: {architecture}, width {width}, revision {revision}\n{source}"


def cohort_plan(students: int, seed: int) -> dict[str, dict]:
    """Per student: an architecture, and the widths of the first submission and each resubmission."""
    rng = random.Random(seed)
    plan = {}
    for index in range(students):
        architecture = rng.choice(sorted(TEMPLATES))
        resubmissions = rng.randint(1, MAX_RESUBMISSIONS)
        plan[f"student_{index:04d}"] = {"architecture": architecture,
                                        "widths": [rng.choice(WIDTHS) for _ in range(1 + resubmissions)]}
    return plan


def write_revision(ws: Path, plan: dict[str, dict], revision: int) -> list[str]:
    """Write revision `revision` of every student who has one; returns who changed."""
    changed = []
    for name, student in plan.items():
        if revision < len(student["widths"]):
            folder = ws / "submissions" / name
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "model.py").write_text(model_source(student["architecture"], student["widths"][revision],
                                                          revision))
            changed.append(name)
    return changed


def one_track_dvc_yaml() -> str:
    """The project's dvc.yaml without the notMNIST stages' inputs: the cohort grades one track."""
    pipeline = yaml.safe_load((REPO / "dvc.yaml").read_text())
    for stage in ("report",):
        if stage in pipeline["stages"]:
            pipeline["stages"][stage]["deps"] = [d for d in pipeline["stages"][stage]["deps"] if "notmnist" not in d]
    pipeline["plots"] = [p for p in pipeline.get("plots", []) if "notmnist" not in json.dumps(p)]
    return yaml.safe_dump(pipeline, sort_keys=False)


def cohort_params(workers: int) -> dict:
    params = base_params(epochs=1, workers=workers, subset=COHORT_SUBSET, tracks=(TRACK,))
    params["tracks"] = {TRACK: params["tracks"][TRACK]}
    params["datasets"] = {"mnist": params["datasets"]["mnist"]}
    bands = (params.get("grades") or {}).get("bands") or {}
    for other in [name for name in bands if name != TRACK]:
        del bands[other]
    return params


# Besides pipeline/: the files the stages read (requirements.lock is a grade dep: the package
# versions are part of every result's cache key).
STAGE_FILES = (".dvcignore", "requirements.lock")


def copy_stage_files(ws: Path) -> None:
    (ws / "dvc.yaml").write_text(one_track_dvc_yaml())
    for name in STAGE_FILES:
        if (REPO / name).exists():
            shutil.copy(REPO / name, ws / name)


def refresh_code(ws: Path) -> None:
    """The cached workspace measures today's pipeline/, stages, .dvcignore and params.yaml: write
    them again (a changed grader re-grades every current submission in the next `dvc repro`, as in
    a course; params.yaml in today's format, with the same values, re-runs nothing)."""
    shutil.rmtree(ws / "pipeline")
    shutil.copytree(REPO / "pipeline", ws / "pipeline", ignore=shutil.ignore_patterns("__pycache__"))
    copy_stage_files(ws)
    workers = yaml.safe_load((ws / "params.yaml").read_text())["grading"]["workers"]
    (ws / "params.yaml").write_text(yaml.safe_dump(cohort_params(workers), sort_keys=False))


def regraded_count(output: str) -> int:
    """How many submissions a grade run trained, from its "mnist: N submissions, K to grade" line."""
    for line in output.splitlines():
        if line.startswith(f"{TRACK}: ") and " to grade" in line:
            return int(line.split(", ")[1].split()[0])
    return 0


def build_cohort(args, students: int, env: dict) -> tuple[Path, dict]:
    """The graded cohort workspace (cached): returns it and how it was built.

    Building takes about 4N gradings, hours at N = 1,000 on 2 cores, so it resumes: after each
    round cohort_progress.json records it, and an interrupted build goes on from the round it was
    in (the grader's cache skips whatever that round had already graded)."""
    settings = {"students": students, "seed": args.cohort_seed, "subset": COHORT_SUBSET,
                "workers": args.cohort_workers, "templates": TEMPLATES, "widths": WIDTHS, "version": 1}
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:10]
    ws = Path(args.cohort_cache) / f"N{students}-{key}"
    built_file, progress_file = ws / "cohort_built.json", ws / "cohort_progress.json"
    if built_file.exists():
        log(f"cohort N={students}: reusing the graded workspace {ws}")
        refresh_code(ws)
        refresh = run(["dvc", "repro"], ws, env)
        built = json.loads(built_file.read_text())
        built["refresh_seconds"] = refresh.seconds
        regraded = regraded_count(refresh.output)
        if regraded:
            # A changed grader re-grades every current submission: a full round with today's code.
            built["refresh_round"] = {"graded": regraded, "seconds": refresh.seconds}
            log(f"cohort N={students}: the changed grader re-graded {regraded} submissions in {refresh.seconds:.0f} s")
        return ws, built
    if progress_file.exists():
        progress = json.loads(progress_file.read_text())
        log(f"cohort N={students}: resuming the build in {ws} at round {progress['revision']}")
        refresh_code(ws)
    else:
        if ws.exists():
            shutil.rmtree(ws)  # a build interrupted before its first round: start again
        ws.mkdir(parents=True)
        shutil.copytree(REPO / "pipeline", ws / "pipeline", ignore=shutil.ignore_patterns("__pycache__"))
        (ws / "params.yaml").write_text(yaml.safe_dump(cohort_params(args.cohort_workers), sort_keys=False))
        copy_stage_files(ws)
        run(["dvc", "init", "--no-scm", "-q"], ws)
        run(["dvc", "config", "core.analytics", "false"], ws)
        (ws / "cohort_plan.json").write_text(json.dumps(cohort_plan(students, args.cohort_seed), indent=1))
        log(f"cohort N={students}: download + preprocess ...")
        run(["dvc", "repro", f"preprocess@{'mnist'}"], ws, env)
        progress = {"revision": 0, "rounds": []}
    plan = json.loads((ws / "cohort_plan.json").read_text())
    # Round 0 grades every student (figure 7 times it: a full round at N with --cohort-workers
    # workers); each later round the students who resubmit.
    # --cohort-last-round K stops after round K and measures that state: at N = 1,000 the whole build
    # (about 4N gradings, 3+ hours here) does not fit one sitting, and every round ends consistent
    # (each student's newest revision graded), so its figures are true for the runs it holds.
    last_round = MAX_RESUBMISSIONS if args.cohort_last_round is None else min(args.cohort_last_round, MAX_RESUBMISSIONS)
    for revision in range(progress["revision"], last_round + 1):
        changed = write_revision(ws, plan, revision)
        if not changed:
            break
        progress["revision"] = revision
        progress_file.write_text(json.dumps(progress, indent=2))
        log(f"cohort N={students}: round {revision} grades {len(changed)} submissions ({args.cohort_workers} workers) ...")
        timed = run(pipeline_cmd("grade", TRACK), ws, env)
        progress["rounds"].append({"revision": revision, "graded": regraded_count(timed.output),
                                   "submissions": len(changed), "seconds": timed.seconds})
        progress["revision"] = revision + 1
        progress_file.write_text(json.dumps(progress, indent=2))
        log(f"cohort N={students}: round {revision}: {regraded_count(timed.output)} graded in {timed.seconds:.0f} s")
    setup = run(["dvc", "repro"], ws, env)  # DVC's own state; every result is cached by now
    rounds = progress["rounds"]
    complete = not any(len(s["widths"]) > progress["revision"] for s in plan.values())
    built = {"workspace": str(ws), "rounds": rounds, "dvc_repro_after_rounds_seconds": setup.seconds,
             "gradings": sum(r["graded"] for r in rounds),
             # superseded runs so far: every grading after a student's first
             "resubmissions": sum(min(len(s["widths"]), progress["revision"]) - 1 for s in plan.values()),
             "planned_resubmissions": sum(len(s["widths"]) - 1 for s in plan.values()),
             "complete": complete}
    if complete:
        built_file.write_text(json.dumps(built, indent=2))
    else:
        log(f"cohort N={students}: measuring after round {progress['revision'] - 1} of {MAX_RESUBMISSIONS} "
            f"({built['resubmissions']} of {built['planned_resubmissions']} resubmissions graded); "
            "run again without --cohort-last-round to finish the build")
    return ws, built


PUBLISH_SCRIPT = r'''
import json, sys, time
from pathlib import Path
from pipeline.config import load_params
from pipeline.reporting import leaderboard
from pipeline.reporting.publish import publish_ranks
from pipeline.reporting.run_search import current_runs, search_all_runs
from pipeline.reporting.tracking_store import experiment_name, make_client

uri, track = sys.argv[1], sys.argv[2]
params = load_params()
reveal = params.leaderboard.reveal_private
ranked = leaderboard.rank(leaderboard.load_track_results(Path("results") / track, track), reveal)
started = time.perf_counter()
client = make_client(uri)
experiment = client.get_experiment_by_name(experiment_name(track))
opened = time.perf_counter() - started
started = time.perf_counter()
every_run = search_all_runs(client, [experiment.experiment_id], "")
search_all = time.perf_counter() - started
started = time.perf_counter()
current = current_runs(client, experiment.experiment_id)
search_current = time.perf_counter() - started
# A full re-rank: every rank changes (reversed), then back to the true order, then no change.
reversed_ranks = ranked.copy()
reversed_ranks["rank"] = reversed_ranks["rank"].max() + 1 - reversed_ranks["rank"]
timings = {}
for label, table in (("full_rerank", reversed_ranks), ("restore", ranked), ("unchanged", ranked)):
    started = time.perf_counter()
    publish_ranks(client, {track: table}, reveal)
    timings[label] = time.perf_counter() - started
# The same three, the way `grade` publishes: from the rank record the last publish left (each
# current run's id and what it holds), so that only the rows that changed are written and no
# search runs. One pass first leaves a record for this store, as the last grade run would have.
from pipeline.reporting import ui
from pipeline.reporting.publish import RECORD_FILE, RankRecord, publish_track_ranks, rank_rows

store = {"uri": uri, "experiment_id": experiment.experiment_id, "created": experiment.creation_time}
record_path = Path("results") / track / RECORD_FILE


def publish_as_grade(table):
    publish_track_ranks(client, experiment.experiment_id, rank_rows(table), RankRecord(record_path, store), {})
    ui.install_view(client, experiment.experiment_id, reveal)


publish_as_grade(ranked)
for label, table in (("record_full_rerank", reversed_ranks), ("record_restore", ranked), ("record_unchanged", ranked)):
    started = time.perf_counter()
    publish_as_grade(table)
    timings[label] = time.perf_counter() - started
print("COHORT_PUBLISH " + json.dumps({"runs": len(every_run), "current_runs": len(current),
      "ranked_rows": len(ranked), "open_seconds": opened, "search_all_seconds": search_all,
      "search_current_seconds": search_current, **{k + "_seconds": v for k, v in timings.items()}}))
'''


def measure_publish(ws: Path, uri: str, env: dict) -> dict:
    script = ws / "bench_publish.py"
    script.write_text(PUBLISH_SCRIPT)
    timed = run([sys.executable, str(script), uri, TRACK], ws, env)
    line = next(line for line in timed.output.splitlines() if line.startswith("COHORT_PUBLISH "))
    return {**json.loads(line[len("COHORT_PUBLISH "):]), "process_seconds": timed.seconds}


def start_mlflow_server(ws: Path, env: dict) -> tuple[subprocess.Popen, str]:
    """A local `mlflow server` on the workspace's sqlite store, our child in its own process group."""
    port = free_port()
    log_file = open(ws / "mlflow-server.log", "wb")
    process = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--backend-store-uri",
                                f"sqlite:///{ws / 'mlflow.db'}", "--default-artifact-root", (ws / "mlruns").as_uri(),
                                "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                               cwd=ws, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"mlflow server exited: {(ws / 'mlflow-server.log').read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=5) as response:
                if response.status == 200:
                    return process, base
        except OSError:
            time.sleep(0.5)
    stop_mlflow_server(process)
    raise RuntimeError("mlflow server did not come up within 120 s")


def stop_mlflow_server(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


def edit_one(ws: Path, plan: dict, repeat: int) -> str:
    """Give one student a new width (a real change: the model differs, so it re-trains).

    The next width after the one in the file now, not one fixed by `repeat`: a fixed choice made
    every later measurement of the same workspace re-train a model it had already graded, whose
    score and rank did not move, and moving ranks is part of what one change costs."""
    name = sorted(plan)[repeat % len(plan)]
    student = plan[name]
    header = (ws / "submissions" / name / "model.py").read_text().split("\n", 1)[0]
    current = int(header.split(", width ")[1].split(",")[0]) if ", width " in header else student["widths"][-1]
    width = WIDTHS[(WIDTHS.index(current) + 1) % len(WIDTHS)]
    (ws / "submissions" / name / "model.py").write_text(
        model_source(student["architecture"], width, 100 + repeat) + f"# bench edit {time.time()}\n")
    return name


def mlflow_runs_written(output: str) -> Optional[int]:
    """From grade's "(leaderboard order and flags written to K run(s))"; None if not printed."""
    found = re.search(r"order and flags written to (\d+) run", output)
    return int(found.group(1)) if found else None


def count_lines(path: Path) -> int:
    """Data rows of a CSV file (0 when it does not exist)."""
    if not path.is_file():
        return 0
    with open(path, "rb") as handle:
        return max(0, sum(1 for _ in handle) - 1)


def leaderboard_ranks(ws: Path) -> dict[str, str]:
    """Each submission's rank on the track's leaderboard (results/leaderboard.csv), as written."""
    path = ws / "results" / "leaderboard.csv"
    if not path.is_file():
        return {}
    with open(path, newline="") as handle:
        return {row["submission"]: row["rank"] for row in csv.DictReader(handle) if row["track"] == TRACK}


def moved_ranks(before: dict[str, str], after: dict[str, str]) -> int:
    return sum(before.get(submission) != rank for submission, rank in after.items())


# The site renders every student's feedback page only with a key, as a course runs it.
SITE_KEY = "cohort-bench-site-key-0123456789abcdef"


def measure(args, students: int, report_rows: dict) -> dict:
    env = environment({"GRADEBENCH_SITE_KEY": SITE_KEY, **({"GRADEBENCH_MIRROR": args.mirror} if args.mirror else {})})
    started = time.perf_counter()
    ws, built = build_cohort(args, students, env)
    plan = json.loads((ws / "cohort_plan.json").read_text())
    figures: dict = {"students": students, "built": built, "build_or_refresh_seconds": time.perf_counter() - started}
    # Publishing code is outside the grader key, so refreshing the workspace does not re-run grade:
    # a new publishing format (MLflow's rank record) would do its one full pass inside the first
    # timed change. It does it here, once, as an upgraded course does on its first grade run.
    settle = [run(["dvc", "repro", "--single-item", "--force", f"grade@{TRACK}"], ws, env).seconds,
              run(["dvc", "repro"], ws, env).seconds]
    figures["settle_seconds"] = settle
    log(f"cohort N={students}: settled today's publishing code in {sum(settle):.1f} s")

    # 1 no-op dvc repro
    noop = [run(["dvc", "repro"], ws, env).seconds for _ in range(max(2, args.repeats))]
    figures["noop_seconds"] = median(noop)
    figures["noop_runs"] = noop
    log(f"cohort N={students}: no-op dvc repro {figures['noop_seconds']:.2f} s")

    # 2 one changed submission, through dvc repro: everything but its own sandboxed training; and
    # how many rows it adds to the track's history file (changes, not N: issue 29)
    changes = []
    history_file = ws / "results" / "history" / f"{TRACK}.csv"
    for repeat in range(args.repeats):
        name = edit_one(ws, plan, repeat)
        rows_before = count_lines(history_file)
        ranks_before = leaderboard_ranks(ws)
        timed = run(["dvc", "repro"], ws, env)
        result = read_result(ws, TRACK, name)
        changes.append({"submission": name, "dvc_seconds": timed.seconds, "sandbox_seconds": result["wall_seconds"],
                        "train_seconds": result.get("train_seconds"), "stage_seconds": timed.stage_seconds(),
                        "outside_sandbox_seconds": timed.seconds - result["wall_seconds"],
                        "history_rows_added": count_lines(history_file) - rows_before,
                        # ranks that moved, and the MLflow runs the grade stage wrote for them
                        "ranks_moved": moved_ranks(ranks_before, leaderboard_ranks(ws)),
                        "mlflow_runs_written": mlflow_runs_written(timed.output)})
        log(f"cohort N={students}: one change: dvc repro {timed.seconds:.1f} s, its sandbox "
            f"{result['wall_seconds']:.1f} s; stages " + ", ".join(f"{stage} {seconds:.2f} s" for stage, seconds
                                                                  in timed.stage_seconds().items()))
    figures["one_change"] = changes
    figures["history_rows"] = count_lines(history_file)
    # What DVC hashes of the grade stage's output on every run (issue 29: results only, no feedback).
    figures["results_files"] = sum(1 for path in (ws / "results" / TRACK).rglob("*") if path.is_file())
    figures["one_change_outside_sandbox_seconds"] = median([c["outside_sandbox_seconds"] for c in changes])

    # 5 grading parent peak RSS (and 6b: the whole grade command minus fit), one change, graded directly
    direct = []
    for repeat in range(args.repeats):
        name = edit_one(ws, plan, 50 + repeat)
        timed = run(pipeline_cmd("grade", TRACK), ws, env, poll_rss=True)
        result = read_result(ws, TRACK, name)
        direct.append({"submission": name, "seconds": timed.seconds, "parent_peak_rss_mb": timed.peak_rss_mb,
                       "wall_seconds": result["wall_seconds"], "train_seconds": result.get("train_seconds"),
                       "command_minus_fit_seconds": timed.seconds - (result.get("train_seconds") or 0)})
    run(["dvc", "repro"], ws, env)  # bring DVC's record up to date again
    figures["direct_grade"] = direct
    figures["parent_peak_rss_mb"] = max(d["parent_peak_rss_mb"] for d in direct)
    figures["grade_command_minus_fit_seconds"] = median([d["command_minus_fit_seconds"] for d in direct])

    # 6 per-submission fixed cost in the sandbox, over every current result of the cohort
    results = [json.loads(p.read_text()) for p in sorted((ws / "results" / TRACK).glob("*.json"))]
    ok = [r for r in results if r.get("status") == "ok" and r.get("train_seconds") is not None]
    figures["results_ok"], figures["results"] = len(ok), len(results)
    figures["sandbox_minus_fit_seconds"] = median([r["wall_seconds"] - r["train_seconds"] for r in ok])
    figures["fit_seconds_tiny"] = median([r["train_seconds"] for r in ok])

    # 4 leaderboard stage
    board = [run(pipeline_cmd("leaderboard"), ws, env).seconds for _ in range(max(2, args.repeats))]
    figures["leaderboard_seconds"] = median(board)
    sites = [run(pipeline_cmd("site"), ws, env, check=False) for _ in range(max(2, args.repeats))]
    figures["site_seconds"] = median([site.seconds for site in sites]) if all(s.returncode == 0 for s in sites) else None

    # 3 rank publishing: sqlite, then a local mlflow server on the same store
    figures["publish_sqlite"] = measure_publish(ws, f"sqlite:///{ws / 'mlflow.db'}", env)
    log(f"cohort N={students}: publish (sqlite) {figures['publish_sqlite']}")
    server = None
    try:
        server, base = start_mlflow_server(ws, env)
        figures["publish_server"] = measure_publish(ws, base, env)
        log(f"cohort N={students}: publish (server) {figures['publish_server']}")
    except RuntimeError as error:
        figures["publish_server"] = {"error": str(error)[-2000:]}
    finally:
        if server is not None:
            stop_mlflow_server(server)

    # 7 throughput of a full round (with today's code when the refresh re-graded every submission),
    # and the projection
    complete = [r for r in built["rounds"] if r["revision"] == 0 and r["graded"] == r.get("submissions", r["graded"])]
    first = built.get("refresh_round") or (complete[0] if complete else max(built["rounds"], key=lambda r: r["graded"]))
    per_hour = first["graded"] / first["seconds"] * 3600
    figures["throughput"] = projection(per_hour, figures, args.cohort_workers, report_rows, args.seconds_per_epoch)
    return figures


def projection(per_hour_tiny: float, figures: dict, workers: int, report: dict,
               seconds_per_epoch: float | None = None) -> dict:
    """Submissions/hour of the tiny round, and the real-schedule projection for 1,000 x 2 tracks.

    One grading on the real schedule costs the fixed part measured here (the round's seconds per
    submission and worker, minus the tiny fit) plus a real fit, taken from the overhead section's
    bare Keras seconds per epoch x 30 epochs when that section ran in the same invocation
    (`--only overhead,cohort`) or from --seconds-per-epoch; scaling the tiny fit instead would be
    wrong (it is mostly Keras' first-step tracing). Without either: no projection."""
    slots = min(max(1, workers), CORES)
    # What a grading really costs beyond fit, from the round itself: each of the `slots` workers
    # spends slots x 3600 / per_hour seconds per submission. (The sandbox's own wall time minus fit
    # leaves out the imports a spare sandbox did ahead and the grading parent's work.)
    fixed = slots * 3600 / per_hour_tiny - figures["fit_seconds_tiny"]
    over = (report.get("overhead") or {}).get("rows") or {}
    per_epoch = median([r.get("bare_seconds_per_epoch") for r in over.values()]) or seconds_per_epoch
    out = {"per_hour_tiny": per_hour_tiny, "workers": workers, "fixed_seconds": fixed,
           "seconds_per_epoch_from": "overhead section" if over else "--seconds-per-epoch"}
    if per_epoch is None:
        out["note"] = ("no projection: run `--only overhead,cohort`, or give --seconds-per-epoch from an "
                       "earlier overhead run, for the real fit time")
        return out
    fit_real = per_epoch * REAL_EPOCHS
    per_grading_real = fixed + fit_real
    gradings = PROJECTED_STUDENTS * PROJECTED_TRACKS
    one_machine_hours = gradings * per_grading_real / slots / 3600
    ray = (report.get("throughput") or {}).get("ray") or {}
    local_rows = (report.get("throughput") or {}).get("rows") or {}
    efficiency = RAY_EFFICIENCY_DEFAULT
    if "per_hour" in ray and local_rows:
        efficiency = ray["per_hour"] / max(r["per_hour"] for r in local_rows.values())
    return {**out, "fit_seconds_real": fit_real, "per_grading_real_seconds": per_grading_real,
            "projected_gradings": gradings, "one_machine_hours": one_machine_hours, "ray_efficiency": efficiency,
            "ray_hours": {str(k): one_machine_hours / (k * efficiency) for k in (2, 4, 8, 16)}}


def section(args, root: Path, report: dict) -> None:
    rows = {}
    for students in args.cohort_sizes:
        started = time.perf_counter()
        try:
            rows[students] = measure(args, students, report)
        except RuntimeError as error:
            log(f"cohort N={students} FAILED: {error}")
            rows[students] = {"students": students, "error": str(error)[-3000:]}
        rows[students]["section_seconds"] = time.perf_counter() - started
        report["cohort"] = {"subset": COHORT_SUBSET, "workers": args.cohort_workers, "rows": rows}


def rows(report: dict) -> list[tuple]:
    cohort = report.get("cohort")
    if not cohort:
        return []
    table = []
    for students, fig in cohort["rows"].items():
        n = f"N={students}"
        if "error" in fig:
            table.append((f"C cohort {n}", fig["error"].strip().splitlines()[-1][:80], "-", "-", "FAILED"))
            continue
        built = fig["built"]
        partial = "" if built.get("complete", True) else (
            f"; PARTIAL: rounds 0-{max(r['revision'] for r in built['rounds'])} of 0-{MAX_RESUBMISSIONS}, "
            f"{built['planned_resubmissions']} resubmissions planned")
        table.append((f"C cohort {n}: gradings to build (resubmissions{partial})",
                      f"{built['gradings']} ({built['resubmissions']})", "-", "-", "-"))
        table.append(row(f"C1 no-op dvc repro {n}", f"{fig['noop_seconds']:.2f} s", "<= 5 s",
                         fig["noop_seconds"] / NOOP_TARGET))
        table.append(row(f"C2 one change {n}: dvc repro - its sandbox",
                         f"{fig['one_change_outside_sandbox_seconds']:.2f} s", "<= 5 s",
                         fig["one_change_outside_sandbox_seconds"] / CHANGE_TARGET))
        stages: dict[str, list[float]] = {}
        for change in fig["one_change"]:
            for stage, seconds in (change.get("stage_seconds") or {}).items():
                stages.setdefault(stage, []).append(seconds)
        if stages:
            table.append(row(f"  C2 by stage (median; grade includes its sandbox, "
                             f"{median([c['sandbox_seconds'] for c in fig['one_change']]):.2f} s)",
                             ", ".join(f"{stage} {median(values):.2f} s" for stage, values in stages.items()), "-", None))
        added = [c["history_rows_added"] for c in fig["one_change"] if "history_rows_added" in c]
        moved = [c["ranks_moved"] for c in fig["one_change"] if "ranks_moved" in c]
        written = [c.get("mlflow_runs_written") for c in fig["one_change"]]
        if moved:
            table.append(row(f"  C2 ranks each change moved {n}; MLflow runs it wrote",
                             ", ".join(map(str, moved)) + "; " + ", ".join("?" if w is None else str(w) for w in written),
                             "-", None))
        if added:
            table.append(row(f"  C2 history rows added by one change {n} (file: {fig['history_rows']} rows; "
                             f"results/{TRACK}/: {fig['results_files']} files)", ", ".join(map(str, added)),
                             "O(changes)", None))
        for store in ("sqlite", "server"):
            pub = fig.get(f"publish_{store}") or {}
            if "full_rerank_seconds" in pub:
                table.append(row(f"C3 full re-rank to MLflow {n} ({store}, {pub['current_runs']} current of "
                                 f"{pub['runs']} runs)", f"{pub['full_rerank_seconds']:.2f} s "
                                 f"(no change {pub['unchanged_seconds']:.2f} s)", "<= 30 s",
                                 pub["full_rerank_seconds"] / PUBLISH_TARGET))
            if "record_full_rerank_seconds" in pub:
                table.append(row(f"  the same as grade publishes it (from its rank record, no search; {store})",
                                 f"{pub['record_full_rerank_seconds']:.2f} s "
                                 f"(no change {pub['record_unchanged_seconds']:.2f} s)", "-", None))
            elif "error" in pub:
                table.append((f"C3 re-rank {n} ({store})", pub["error"].strip().splitlines()[-1][:80], "<= 30 s",
                              "-", "FAILED"))
        table.append(row(f"C4 leaderboard stage {n}", f"{fig['leaderboard_seconds']:.2f} s", "<= 15 s",
                         fig["leaderboard_seconds"] / LEADERBOARD_TARGET))
        if fig.get("site_seconds") is not None:
            table.append(row(f"  site stage {n} (info)", f"{fig['site_seconds']:.2f} s", "-", None))
        table.append(row(f"C5 grading parent peak RSS {n}", f"{fig['parent_peak_rss_mb']:.0f} MB", "<= 500 MB",
                         fig["parent_peak_rss_mb"] / RSS_TARGET))
        table.append(row(f"C6 fixed cost per submission {n}: sandbox - fit", f"{fig['sandbox_minus_fit_seconds']:.2f} s "
                         f"(fit {fig['fit_seconds_tiny']:.2f} s)", "half of today's", None))
        table.append(row(f"  grade command - fit, one change {n}", f"{fig['grade_command_minus_fit_seconds']:.2f} s",
                         "-", None))
        thr = fig["throughput"]
        table.append(row(f"C7 full round {n} ({thr['workers']} workers, tiny)", f"{thr['per_hour_tiny']:.0f}/h", "-",
                         None))
        if "one_machine_hours" in thr:
            table.append(row(f"  projection {PROJECTED_STUDENTS} x {PROJECTED_TRACKS} tracks, real schedule",
                             f"{thr['one_machine_hours']:.0f} h on 1 machine; Ray x4 {thr['ray_hours']['4']:.1f} h, "
                             f"x16 {thr['ray_hours']['16']:.1f} h", "-", None))
        else:
            table.append(row("  projection", thr["note"], "-", None))
    return table


def default_cache() -> Path:
    return BENCH / "results" / "cohort"
