"""`ui`: the MLflow UI on the project's store, and each track's leaderboard link."""

from __future__ import annotations

from pipeline.commands import EXIT_OK
from pipeline.config import Settings, tracking_uri


def main(*, settings: Settings, host: str, port: int) -> int:
    from pipeline.reporting import ui
    from pipeline.reporting.publish import local_artifact_root
    from pipeline.reporting.store_uri import is_server
    from pipeline.reporting.tracking_store import make_client

    params = settings.params
    uri = tracking_uri(params, settings.paths.root)
    server = None
    if is_server(uri):
        base_url = uri.rstrip("/")  # a tracking server already serves its UI
    else:
        base_url = f"http://{host}:{port}"
        artifact_root = local_artifact_root(uri, settings.paths.mlruns)
        server = ui.start_server(uri, artifact_root.resolve().as_uri() if artifact_root else None, host, port)
    try:
        ui.wait_until_up(base_url, server)
        links = ui.track_links(make_client(uri), base_url, list(params.tracks),
                               params.leaderboard.reveal_private)
        ranked_by = "private" if params.leaderboard.reveal_private else "public"
        print(f"MLflow UI for {uri} at {base_url}")
        print(f"leaderboards (runs tables in rank order: {ranked_by} accuracy, then fewer parameters, "
              f"then earlier submission):")
        for track_name, link in links.items():
            print(f"  {track_name}: {link or 'nothing graded yet (run dvc repro)'}", flush=True)
        if server is None:
            return EXIT_OK
        print("press Ctrl-C to stop the UI", flush=True)
        return server.wait()
    finally:
        if server is not None:
            ui.stop_server(server)
