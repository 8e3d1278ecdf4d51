"""`rerun <run-id>`: re-grade one MLflow run and say whether its score reproduces bit for bit."""

from __future__ import annotations

from pipeline.commands import EXIT_OK, EXIT_VERDICT
from pipeline.config import Settings, resolve_grading, tracking_uri


def main(*, settings: Settings, run_id: str, unsafe_no_sandbox: bool = False) -> int:
    from pipeline.grading import rerun
    from pipeline.reporting.tracking_store import make_client

    client = make_client(tracking_uri(settings.params, settings.paths.root))
    isolation = resolve_grading(settings.params, unsafe_no_sandbox).isolation
    report = rerun.rerun(client, run_id, settings.paths.data_prepared, isolation)
    print("\n".join(report.lines))
    if report.reproduced:
        print(f"REPRODUCED: run {run_id} re-graded with a bit-identical score")
        return EXIT_OK
    print(f"NOT REPRODUCED: run {run_id} re-graded with a different result (see above)")
    return EXIT_VERDICT
