"""`download <dataset>`: fetch a dataset's upstream files, sha256-verified."""

from __future__ import annotations

from pipeline.commands import EXIT_OK
from pipeline.config import Settings


def main(*, settings: Settings, dataset: str) -> int:
    from pipeline.data import download

    target = settings.paths.data_raw / dataset
    paths = download.fetch_dataset(dataset, settings.params.dataset(dataset), target, settings.params.download,
                                   mirror_root=settings.paths.mirror)
    print(f"{dataset}: {len(paths)} file(s) verified in {target}/")
    return EXIT_OK
