"""pipeline.download against a real HTTP server on 127.0.0.1 (no mocks of requests)."""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import socket
import tarfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pipeline.data import download
from pipeline.config import Dataset, DownloadSettings, RemoteFile
from pipeline.paths import Paths
from pipeline.data.download import DownloadError, content_digest, fetch_dataset

NOTMNIST = Path("/work/shared/data/notmnist/notMNIST_small.tar.gz")
NOTMNIST_CONTENT_SHA256 = "500d74cfb131cea91add2f956a4e9d6c97c8a03f3a0c10d015b8ae81c0ab34fd"
FAST = DownloadSettings(retries=3, backoff_seconds=0, timeout_seconds=5)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class FileServer:
    """What the test HTTP server serves, how it misbehaves, and what it was asked."""

    base_url: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    drop_first: set[str] = field(default_factory=set)  # first GET sends half the body, then closes
    ignore_range: set[str] = field(default_factory=set)  # always answers 200 with the whole body
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range header)

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def hits(self, path: str) -> list[str | None]:
        return [rng for p, rng in self.requests if p == "/" + path.lstrip("/")]


def _handler_for(state: FileServer):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            range_header = self.headers.get("Range")
            first_request = not state.hits(self.path)
            state.requests.append((self.path, range_header))
            body = state.files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            start = 0
            if range_header and self.path not in state.ignore_range:
                start = int(range_header.removeprefix("bytes=").split("-")[0])
                if start >= len(body):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            payload = body[start:]
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.path in state.drop_first and first_request:
                self.wfile.write(payload[: len(payload) // 2])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)  # the client sees a short body
                return
            self.wfile.write(payload)

        def log_message(self, *args):
            pass  # keep pytest output clean

    return Handler


@pytest.fixture
def server():
    state = FileServer()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(state))
    httpd.daemon_threads = True
    state.base_url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def payload() -> bytes:
    return os.urandom(300_000)


@pytest.fixture
def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/gone.bin"  # nothing listens there: connection refused


def one_file(name: str, data: bytes, urls: list[str], content_sha256: str | None = None) -> Dataset:
    remote = RemoteFile(name=name, sha256=sha256(data), content_sha256=content_sha256, urls=urls)
    return Dataset(files=[remote])


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --- HTTP ---------------------------------------------------------------------------------------


def test_happy_path_downloads_verifies_and_skips_second_time(server, payload, tmp_path):
    server.files["/data.bin"] = payload
    dataset = one_file("data.bin", payload, [server.url("data.bin")])

    paths = fetch_dataset("toy", dataset, tmp_path, FAST, progress=True)

    assert paths == [tmp_path / "data.bin"]
    assert paths[0].read_bytes() == payload
    assert leftovers(tmp_path) == ["data.bin"]  # no .part left behind
    assert server.hits("data.bin") == [None]

    fetch_dataset("toy", dataset, tmp_path, FAST)
    assert len(server.requests) == 1  # already present: no second download


def test_dropped_connection_resumes_with_range(server, payload, tmp_path):
    server.files["/data.bin"] = payload
    server.drop_first.add("/data.bin")
    dataset = one_file("data.bin", payload, [server.url("data.bin")])

    (path,) = fetch_dataset("toy", dataset, tmp_path, FAST)

    half = len(payload) // 2
    assert server.hits("data.bin") == [None, f"bytes={half}-"]
    assert path.read_bytes() == payload
    assert leftovers(tmp_path) == ["data.bin"]


def test_corrupt_first_url_is_rejected_and_second_used(server, payload, tmp_path):
    server.files["/bad/data.bin"] = os.urandom(len(payload))
    server.files["/good/data.bin"] = payload
    urls = [server.url("bad/data.bin"), server.url("good/data.bin")]
    dataset = one_file("data.bin", payload, urls)

    (path,) = fetch_dataset("toy", dataset, tmp_path, FAST)

    assert path.read_bytes() == payload
    assert leftovers(tmp_path) == ["data.bin"]
    assert len(server.hits("bad/data.bin")) == 1  # a wrong file is not fetched again and again


def test_all_sources_failing_raises_one_clear_error(server, payload, closed_port_url, tmp_path):
    server.files["/bad/data.bin"] = os.urandom(len(payload))
    bad_url = server.url("bad/data.bin")
    dataset = one_file("data.bin", payload, [closed_port_url, bad_url])

    with pytest.raises(DownloadError) as caught:
        fetch_dataset("toy", dataset, tmp_path, FAST)

    message = str(caught.value)
    assert "data.bin" in message
    assert f"{closed_port_url}: connection refused after 3 attempts" in message
    assert f"{bad_url}: sha256 mismatch: expected {sha256(payload)}" in message
    assert "GRADEBENCH_MIRROR" in message and "toy/data.bin" in message
    assert "Traceback" not in message
    assert leftovers(tmp_path) == []  # neither a final file nor a poisoned partial


def test_backoff_doubles_between_attempts(closed_port_url, tmp_path, monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr(download.time, "sleep", waits.append)
    settings = DownloadSettings(retries=4, backoff_seconds=0.5, timeout_seconds=5)
    dataset = one_file("x.bin", b"x", [closed_port_url])

    with pytest.raises(DownloadError):
        fetch_dataset("toy", dataset, tmp_path, settings)

    assert waits == [0.5, 1.0, 2.0]  # 4 attempts, 3 waits


def test_http_404_is_not_retried(server, payload, tmp_path):
    server.files["/good/data.bin"] = payload
    urls = [server.url("missing/data.bin"), server.url("good/data.bin")]
    dataset = one_file("data.bin", payload, urls)

    fetch_dataset("toy", dataset, tmp_path, FAST)

    assert len(server.hits("missing/data.bin")) == 1


def test_read_timeout_is_reported(tmp_path):
    # A server that accepts the connection but never answers.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/slow.bin"
        settings = DownloadSettings(retries=1, backoff_seconds=0, timeout_seconds=0.2)
        with pytest.raises(DownloadError, match="timed out"):
            fetch_dataset("toy", one_file("slow.bin", b"x", [url]), tmp_path, settings)


# --- partial files ------------------------------------------------------------------------------


def test_server_ignoring_range_restarts_from_zero(server, payload, tmp_path):
    server.files["/data.bin"] = payload
    server.ignore_range.add("/data.bin")
    (tmp_path / "data.bin.part").write_bytes(b"junk" * 1000)  # left by an earlier run
    dataset = one_file("data.bin", payload, [server.url("data.bin")])

    (path,) = fetch_dataset("toy", dataset, tmp_path, FAST)

    assert server.hits("data.bin") == ["bytes=4000-"]  # asked to resume, got the whole file
    assert path.read_bytes() == payload
    assert leftovers(tmp_path) == ["data.bin"]


def test_partial_longer_than_file_gets_416_and_restarts(server, payload, tmp_path):
    server.files["/data.bin"] = payload
    (tmp_path / "data.bin.part").write_bytes(os.urandom(len(payload) + 10))
    dataset = one_file("data.bin", payload, [server.url("data.bin")])

    (path,) = fetch_dataset("toy", dataset, tmp_path, FAST)

    assert server.hits("data.bin") == [f"bytes={len(payload) + 10}-", None]
    assert path.read_bytes() == payload


def test_corrupt_partial_is_not_resumed_forever(server, payload, tmp_path):
    server.files["/data.bin"] = payload
    (tmp_path / "data.bin.part").write_bytes(os.urandom(1000))  # wrong prefix
    dataset = one_file("data.bin", payload, [server.url("data.bin")])

    (path,) = fetch_dataset("toy", dataset, tmp_path, FAST)

    # The resumed result fails verification, is deleted, and the retry starts from byte 0.
    assert server.hits("data.bin") == ["bytes=1000-", None]
    assert path.read_bytes() == payload


def test_existing_corrupt_final_file_is_replaced(server, payload, tmp_path):
    server.files["/data.bin"] = payload
    (tmp_path / "data.bin").write_bytes(b"not it")
    dataset = one_file("data.bin", payload, [server.url("data.bin")])

    (path,) = fetch_dataset("toy", dataset, tmp_path, FAST)

    assert path.read_bytes() == payload


# --- local mirror -------------------------------------------------------------------------------


def test_local_mirror_is_used_before_http(server, payload, tmp_path):
    server.files["/data.bin"] = payload
    mirror = tmp_path / "mirror"
    (mirror / "toy").mkdir(parents=True)
    (mirror / "toy" / "data.bin").write_bytes(payload)
    dest = tmp_path / "dest"

    dataset = one_file("data.bin", payload, [server.url("data.bin")])
    (path,) = fetch_dataset("toy", dataset, dest, FAST, mirror_root=mirror)

    assert path.read_bytes() == payload
    assert server.requests == []
    assert leftovers(dest) == ["data.bin"]


def test_corrupt_mirror_file_falls_through_to_http(server, payload, tmp_path):
    server.files["/data.bin"] = payload
    mirror = tmp_path / "mirror"
    (mirror / "toy").mkdir(parents=True)
    (mirror / "toy" / "data.bin").write_bytes(b"corrupt")
    dest = tmp_path / "dest"

    dataset = one_file("data.bin", payload, [server.url("data.bin")])
    (path,) = fetch_dataset("toy", dataset, dest, FAST, mirror_root=mirror)

    assert path.read_bytes() == payload
    assert len(server.requests) == 1
    assert (mirror / "toy" / "data.bin").read_bytes() == b"corrupt"  # the mirror is left alone


def test_missing_mirror_file_is_named_in_error(closed_port_url, tmp_path):
    mirror = tmp_path / "mirror"
    settings = DownloadSettings(retries=1, backoff_seconds=0, timeout_seconds=5)
    with pytest.raises(DownloadError) as caught:
        dataset = one_file("x.bin", b"x", [closed_port_url])
        fetch_dataset("toy", dataset, tmp_path / "dest", settings, mirror_root=mirror)
    assert f"local mirror {mirror / 'toy' / 'x.bin'}: not found" in str(caught.value)


def test_the_mirror_is_resolved_once_from_the_environment(tmp_path):
    assert Paths.from_environment(environ={}).mirror is None
    assert Paths.from_environment(environ={"GRADEBENCH_MIRROR": " "}).mirror is None
    assert Paths.from_environment(environ={"GRADEBENCH_MIRROR": str(tmp_path)}).mirror == tmp_path


# --- archive content digest ---------------------------------------------------------------------

MEMBERS = {"pack/A/one.png": b"first", "pack/B/two.png": b"second" * 100, "pack/B/empty.png": b""}


def make_tar_gz(members: dict[str, bytes], order: list[str], mtime: int, prefix: str = "") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1 if mtime % 2 else 9) as archive:
        for name in order:
            info = tarfile.TarInfo(prefix + name)
            info.size, info.mtime = len(members[name]), mtime
            archive.addfile(info, io.BytesIO(members[name]))
    return buffer.getvalue()


def test_content_digest_line_format(tmp_path):
    archive = tmp_path / "a.tar.gz"
    archive.write_bytes(make_tar_gz(MEMBERS, list(MEMBERS), mtime=0))
    # What `find * -type f | LC_ALL=C sort | xargs sha256sum | sha256sum` hashes.
    listing = "".join(f"{sha256(MEMBERS[n])}  {n}\n" for n in sorted(MEMBERS))
    assert content_digest(archive) == sha256(listing.encode())


def test_repacked_archive_verifies_by_content(server, tmp_path):
    original = make_tar_gz(MEMBERS, list(MEMBERS), mtime=1_000_000)
    repacked = make_tar_gz(MEMBERS, list(reversed(MEMBERS)), mtime=1_700_000_001, prefix="./")
    assert original != repacked
    (tmp_path / "original.tar.gz").write_bytes(original)
    expected_content = content_digest(tmp_path / "original.tar.gz")
    server.files["/pack.tar.gz"] = repacked
    dataset = one_file("pack.tar.gz", original, [server.url("pack.tar.gz")], expected_content)

    (path,) = fetch_dataset("toy", dataset, tmp_path / "dest", FAST)

    assert path.read_bytes() == repacked


def test_archive_with_changed_member_is_rejected(server, tmp_path):
    original = make_tar_gz(MEMBERS, list(MEMBERS), mtime=0)
    (tmp_path / "original.tar.gz").write_bytes(original)
    changed = make_tar_gz({**MEMBERS, "pack/B/empty.png": b"!"}, list(MEMBERS), mtime=0)
    server.files["/pack.tar.gz"] = changed
    expected_content = content_digest(tmp_path / "original.tar.gz")
    dataset = one_file("pack.tar.gz", original, [server.url("pack.tar.gz")], expected_content)

    with pytest.raises(DownloadError, match="content digest mismatch"):
        fetch_dataset("toy", dataset, tmp_path / "dest", FAST)
    assert leftovers(tmp_path / "dest") == []


@pytest.mark.skipif(not NOTMNIST.exists(), reason="shared notMNIST archive not available")
def test_content_digest_of_real_notmnist_archive():
    assert content_digest(NOTMNIST) == NOTMNIST_CONTENT_SHA256
