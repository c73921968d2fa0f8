"""The resolver's download (pooch) against a local HTTP server, reached through $UNISYNC_WEIGHTS_URL.

The server streams slowly, so that downloads started together overlap: concurrent jobs on an empty
cache must all succeed and leave only the checked file. Uses YuNet's real name, sha256 and bytes.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from helpers import YUNET, venv_env

from unisync_model.io import weights

CHUNKS = 16  # the body is sent in this many pieces ...
CHUNK_DELAY = 0.1  # ... this many seconds apart: a download takes about 1.6 s


class Mirror:
    """A local weights mirror: serves `files` by name and records each request's (path, start, end)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, float, float]] = []
        self.lock = threading.Lock()
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                start = time.monotonic()
                body = mirror.files.get(self.path.lstrip("/"))
                if body is None:
                    self.send_error(404)
                else:
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    step = -(-len(body) // CHUNKS)
                    for i in range(0, len(body), step):
                        time.sleep(CHUNK_DELAY)
                        self.wfile.write(body[i:i + step])
                        self.wfile.flush()
                with mirror.lock:
                    mirror.requests.append((self.path, start, time.monotonic()))

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"


@pytest.fixture
def mirror(monkeypatch, tmp_path):
    """A running Mirror, with this process's environment pointed at it and at an empty cache."""
    served = Mirror()
    thread = threading.Thread(target=served.server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.delenv("UNISYNC_OFFLINE", raising=False)
    monkeypatch.delenv("UNISYNC_WEIGHTS", raising=False)  # ../shared/weights would answer first
    monkeypatch.setenv("UNISYNC_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("UNISYNC_WEIGHTS_URL", served.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    yield served
    served.server.shutdown()
    served.server.server_close()
    thread.join(timeout=5)


def cache_listing() -> list[str]:
    cache = weights.cache_dir()
    return sorted(p.name for p in cache.iterdir()) if cache.is_dir() else []


def test_concurrent_downloads_share_an_empty_cache(mirror, yunet_weights):
    """Jobs starting at once each succeed; the cache ends with the one checked file, no temporary."""
    mirror.files[YUNET] = yunet_weights.read_bytes()
    env = venv_env()
    env.pop("UNISYNC_OFFLINE", None)
    env.pop("UNISYNC_WEIGHTS", None)
    # Each job imports first, says so, and resolves only on the go line: they start together.
    code = ("import sys; from unisync_model.io.weights import resolve; import pooch, requests; "
            "print('ready', flush=True); sys.stdin.readline(); "
            f"print(resolve({YUNET!r}), flush=True)")
    jobs = [subprocess.Popen([sys.executable, "-c", code], env=env, text=True, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    try:
        for job in jobs:
            assert job.stdout.readline().strip() == "ready", job.stderr.read()
        for job in jobs:
            job.stdin.write("go\n")
            job.stdin.flush()
        results = [job.communicate(timeout=60) for job in jobs]
    finally:
        for job in jobs:
            if job.poll() is None:
                job.kill()
    for job, (out, err) in zip(jobs, results):
        assert job.returncode == 0, f"a concurrent job failed:\n{err}"
    paths = {Path(out.strip().splitlines()[-1]) for out, _ in results}
    target = weights.cache_dir() / YUNET
    assert {p.resolve() for p in paths} == {target.resolve()}
    assert weights.sha256_of(target) == weights.KNOWN[YUNET].sha256
    assert cache_listing() == [YUNET], "a temporary or partial file was left in the cache"
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask, "readable as the umask allows, not only by its owner"
    (_, start_a, end_a), (_, start_b, end_b) = mirror.requests
    assert max(start_a, start_b) < min(end_a, end_b), "the two downloads did not overlap: no race tested"


def test_wrong_bytes_are_a_sha256_mismatch_and_leave_nothing(mirror):
    wrong = b"not the YuNet model\n" * 1000
    mirror.files[YUNET] = wrong
    with pytest.raises(weights.WeightsNotFound) as caught:
        weights.resolve(YUNET)
    message = str(caught.value)
    assert "sha256 mismatch" in message
    assert hashlib.sha256(wrong).hexdigest() in message
    assert weights.KNOWN[YUNET].sha256 in message
    assert f"{mirror.url}/{YUNET}" in message
    assert len(mirror.requests) == 1
    assert cache_listing() == [], "the bad download (or its temporary file) was left in the cache"


def test_offline_never_touches_the_network(mirror, monkeypatch):
    mirror.files[YUNET] = b"anything"
    monkeypatch.setenv("UNISYNC_OFFLINE", "1")
    with pytest.raises(weights.WeightsNotFound, match=YUNET):
        weights.resolve(YUNET)
    assert mirror.requests == []
    assert cache_listing() == []


def test_a_cached_file_is_used_without_a_request(mirror):
    cached = weights.cache_dir() / YUNET
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"already here")
    mirror.files[YUNET] = b"would be a download"
    assert weights.resolve(YUNET) == cached
    assert mirror.requests == []
    assert cached.read_bytes() == b"already here"


def test_a_missing_file_on_the_mirror_names_where_it_looked(mirror):
    with pytest.raises(weights.WeightsNotFound) as caught:
        weights.resolve(YUNET)
    message = str(caught.value)
    assert f"{mirror.url}/{YUNET}" in message and "404" in message
    assert str(weights.cache_dir() / YUNET) in message
    assert cache_listing() == []
