"""`python -m pipeline ui`: the MLflow UI on the project's store, with one link per track that
opens the runs table as the leaderboard.

MLflow 3 opens an experiment on its GenAI overview, and the runs table shows no metric columns
until someone picks them. The link therefore points at the runs table (`#/experiments/<id>/runs`)
with a *saved view* (`?viewStateShareKey=<key>`, the UI's own "share view" mechanism): the
experiment tag `mlflow.sharedViewState.<key>` holds the view, and the UI applies it on opening:
only current runs (`tags.current = 'true'`, superseded re-grades hidden), sorted by
`leaderboard_order` ascending (the leaderboard's order with all its tie-breaks: rank_publish.py),
with the key columns selected.
The view is written by the grade stage and again here, so it follows `reveal_private`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Optional

from mlflow.tracking import MlflowClient

from pipeline.reporting.rank_publish import ORDER_METRIC
from pipeline.reporting.run_search import CURRENT_FILTER
from pipeline.reporting.tracking_store import experiment_name

VIEW_KEY = "gradebench-leaderboard"
VIEW_TAG = f"mlflow.sharedViewState.{VIEW_KEY}"
VIEW_NAME = "Leaderboard (gradebench)"


def column(kind: str, name: str) -> str:
    """The MLflow UI's canonical column key, e.g. metrics.`public_accuracy`."""
    return f"{kind}.`{name}`"


def view_state(reveal_private: bool) -> dict:
    """The saved view: search facets (filter, sort) and the selected columns."""
    accuracies = ["public_accuracy", "public_accuracy_std"]
    if reveal_private:
        accuracies = ["private_accuracy", "private_accuracy_std", *accuracies]
    metrics = [ORDER_METRIC, *accuracies, "total_params", "trainable_params", "mflops_per_image",
               "train_seconds"]
    tags = ["status", "review", "baseline", "pareto", "pareto_compute", "duplicate", "submitted_at"]
    selected = [column("metrics", name) for name in metrics] + [column("tags", name) for name in tags]
    return {
        "searchFilter": CURRENT_FILTER,
        "orderByKey": column("metrics", ORDER_METRIC),
        "orderByAsc": True,
        "startTime": "ALL",
        "lifecycleFilter": "Active",
        "datasetsFilter": [],
        "modelVersionFilter": "All Runs",
        "selectedColumns": selected,
        "runsHiddenMode": "SHOW_ALL",
    }


def install_view(client: MlflowClient, experiment_id: str, reveal_private: bool) -> None:
    now = int(time.time() * 1000)
    envelope = {"name": VIEW_NAME, "createdAt": now, "updatedAt": now,
                "state": json.dumps(view_state(reveal_private))}
    client.set_experiment_tag(experiment_id, VIEW_TAG, json.dumps(envelope))


def runs_table_url(base_url: str, experiment_id: str) -> str:
    return f"{base_url.rstrip('/')}/#/experiments/{experiment_id}/runs?viewStateShareKey={VIEW_KEY}"


def track_links(client: MlflowClient, base_url: str, track_names: list[str], reveal_private: bool) -> dict[str, Optional[str]]:
    """{track: link, or None if the track has no experiment yet}; installs the view on each."""
    links: dict[str, Optional[str]] = {}
    for track_name in track_names:
        experiment = client.get_experiment_by_name(experiment_name(track_name))
        if experiment is None:
            links[track_name] = None
            continue
        install_view(client, experiment.experiment_id, reveal_private)
        links[track_name] = runs_table_url(base_url, experiment.experiment_id)
    return links


def start_server(store_uri: str, artifact_root: Optional[str], host: str, port: int) -> subprocess.Popen:
    """`mlflow ui` on the store, as a child process (it ends with us)."""
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", store_uri,
               "--host", host, "--port", str(port), "--workers", "1"]
    if artifact_root:
        command += ["--default-artifact-root", artifact_root]
    # Its own process group: `mlflow ui` starts uvicorn as a child, and stopping must stop both.
    return subprocess.Popen(command, start_new_session=True)


def stop_server(process: subprocess.Popen, timeout: float = 20) -> None:
    """Stop the server and everything it started (its process group)."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass
    try:
        os.killpg(process.pid, signal.SIGKILL)  # a child that outlived its parent
    except ProcessLookupError:
        pass


def raise_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit, so `finally` blocks stop the server on `kill` too."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def wait_until_up(base_url: str, process: Optional[subprocess.Popen], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise OSError(f"mlflow ui exited with code {process.returncode} before serving {base_url} "
                          "(is the port already in use? try --port)")
        try:
            with urllib.request.urlopen(f"{base_url}/health", timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise OSError(f"mlflow ui did not answer at {base_url} within {timeout:.0f} s")
