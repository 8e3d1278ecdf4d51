"""Guards around importing model.py and calling its build function.

Students paste notebooks: model.py then downloads MNIST, fetches files or calls exit(). Grading
supplies the data and has no network, so these fail with Keras's raw "URL fetch failure" or
end the process without a result. While the guards are installed, each such call stops at
once and is reported at the student's line:

    model.py, line 5: loads data at import (mnist.load_data()); grading supplies the data and has no network: keep only build_model in model.py
    model.py, line 3: calls exit() at import: grading imports model.py to build the model; remove the exit() call

The guards are removed again before training, so Keras and TensorFlow run unpatched.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import sys
import urllib.request
from pathlib import Path
from typing import Iterator, Optional

from .errors import StudentFrame, StudentSource, stack_frame, student_frames

DATASETS = ("mnist", "fashion_mnist", "cifar10", "cifar100", "imdb", "reuters", "boston_housing",
            "california_housing")


class DataAccess(Exception):
    """Raised by a guard: student code reached for a dataset loader or the network."""

    def __init__(self, what: str, frame: Optional[StudentFrame]):
        super().__init__(f"{what}: grading supplies the data and has no network")
        self.what, self.frame = what, frame


class GuardState:
    """What the guards saw: the first data access (even if the student's code caught it)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.first: Optional[DataAccess] = None

    def trip(self, what: str):
        access = DataAccess(what, stack_frame(self.folder))
        self.first = self.first or access
        raise access


def _patch(patches: list, owner, name: str, replacement) -> None:
    if owner is not None and hasattr(owner, name):
        patches.append((owner, name, getattr(owner, name)))
        setattr(owner, name, replacement)


def _loaded(name: str):
    return sys.modules.get(name)


@contextlib.contextmanager
def guarded(folder: Path) -> Iterator[GuardState]:
    """Install the guards for student code in `folder`; yield what they saw; always restore."""
    import keras  # imported here: the guards patch Keras's own loaders

    state = GuardState(folder)
    patches: list = []

    def blocked(what: str):
        return lambda *args, **kwargs: state.trip(what)

    for dataset in DATASETS:
        module = getattr(keras.datasets, dataset, None)
        _patch(patches, module, "load_data", blocked(f"{dataset}.load_data()"))
        for alias in (f"keras.src.datasets.{dataset}", f"keras._tf_keras.keras.datasets.{dataset}",
                      f"tensorflow.keras.datasets.{dataset}"):
            _patch(patches, _loaded(alias), "load_data", blocked(f"{dataset}.load_data()"))
    for utils in (keras.utils, _loaded("keras._tf_keras.keras.utils"), _loaded("keras.src.utils.file_utils"),
                  _loaded("tensorflow.keras.utils")):
        _patch(patches, utils, "get_file", blocked("get_file(...)"))
    _patch(patches, urllib.request, "urlopen", blocked("urllib.request.urlopen(...)"))
    _patch(patches, urllib.request, "urlretrieve", blocked("urllib.request.urlretrieve(...)"))
    # requests, http.client and anything else end in a socket: block connecting and name lookups.
    _patch(patches, socket.socket, "connect", blocked("a network connection"))
    _patch(patches, socket.socket, "connect_ex", blocked("a network connection"))
    _patch(patches, socket, "create_connection", blocked("a network connection"))
    _patch(patches, socket, "getaddrinfo", blocked("a network name lookup"))
    # os._exit ends the process on the spot, without a result: turn it into a SystemExit here.
    _patch(patches, os, "_exit", lambda code=0: (_ for _ in ()).throw(SystemExit(code)))
    try:
        yield state
    finally:
        for owner, name, original in reversed(patches):
            setattr(owner, name, original)


def _in_chain(error: BaseException) -> Optional[DataAccess]:
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, DataAccess):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def explain(error: BaseException, state: Optional[GuardState], source: StudentSource, stage: str) -> Optional[str]:
    """The message for a guarded failure (data access, exit) at `stage` ("at import", "in build_model")."""
    access = _in_chain(error) or (state.first if state is not None else None)
    if access is not None:
        where = source.where(access.frame.lineno, access.frame.filename) if access.frame else source.display_name
        return (f"{where}: loads data {stage} ({access.what}); grading supplies the data and has no network: "
                f"keep only build_model in {source.display_name}")
    if isinstance(error, SystemExit):
        frames = student_frames(error, source.folder)
        frame = frames[-1] if frames else None
        line = source.line(frame.lineno, frame.filename) if frame else ""
        called = re.search(r"\b(sys\.exit|os\._exit|exit|quit)\s*\(", line)
        name = f"{called.group(1)}()" if called else "exit()"
        where = source.where(frame.lineno, frame.filename) if frame else source.display_name
        return (f"{where}: calls {name} {stage}: grading imports {source.display_name} to build the model; "
                f"remove the {name} call")
    return None
