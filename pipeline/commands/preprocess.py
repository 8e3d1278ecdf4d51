"""`preprocess <dataset>`: decode and split a dataset into public and hidden parts."""

from __future__ import annotations

import json

from pipeline.commands import EXIT_OK
from pipeline.config import Settings


def main(*, settings: Settings, dataset: str) -> int:
    from pipeline.data import preprocess

    split = settings.params.dataset(dataset).split
    data, report = preprocess.prepare(dataset, settings.paths.data_raw / dataset, split)
    target = settings.paths.data_prepared / dataset
    meta = preprocess.write_prepared(data, target, report)
    if report:
        shown = {key: value for key, value in report.items() if not isinstance(value, list)}
        print(json.dumps(shown, indent=2))
        for skipped in report.get("unreadable_files", []):
            print(f"skipped unreadable file {skipped['file']}: {skipped['reason']}")
    counts = meta["counts"]
    print(f"{dataset}: train {counts['train']}, validation {counts['validation']}, "
          f"hidden {counts['hidden']} -> {target}/")
    return EXIT_OK


def ensure_prepared(settings: Settings, dataset: str):
    """The prepared arrays a check needs; built once with the pipeline's own stages if missing."""
    from pipeline.commands import download
    from pipeline.data.layout import is_prepared

    prepared_dir = settings.paths.data_prepared / dataset
    if not is_prepared(prepared_dir):
        print(f"preparing {dataset} first (once): download and preprocess")
        download.main(settings=settings, dataset=dataset)
        main(settings=settings, dataset=dataset)
    return prepared_dir
