"""Tests for creator.download: a local HTTP server on 127.0.0.1 whose behaviour per path is set."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from creator import cli
from creator.download import fetch, md5sum
from creator.errors import DownloadError

BODY = b"chr22\t100\t600\tEH38E0000001\n" * 5000  # ~140 kB: several reads
BODY_MD5 = hashlib.md5(BODY).hexdigest()
WRONG_MD5 = "0" * 32


@dataclass
class Route:
    body: bytes = BODY
    status: int | None = None  # a final error status (e.g. 404), every time
    fail: int = 0  # fail this many times with fail_code before serving the body
    fail_code: int = 503
    truncate: int = 0  # send half the body (or range) under its full Content-Length this many times
    delay: int = 0  # wait delay_s before answering this many times
    delay_s: float = 0.0
    ranges: bool = False  # honour "Range: bytes=N-" with a 206 (otherwise send the whole file)
    range_shift: int = 0  # answer a Range request with a range starting this many bytes later
    etag: bool = False  # send a strong ETag (the body's md5) and honour If-Range
    later_body: bytes | None = None  # the file changes to this after the first request
    redirect: str | None = None  # answer 307 to this path


class Server:
    def __init__(self):
        self.routes: dict[str, Route] = {}
        self.hits: Counter[str] = Counter()
        self.sent: Counter[str] = Counter()  # body bytes written per path
        self.requests: list[tuple[str, dict[str, str]]] = []  # (path, headers) in order
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):
                with server.lock:
                    server.hits[self.path] += 1
                    server.requests.append((self.path, dict(self.headers.items())))
                    route = server.routes.get(self.path)
                    action = "serve"
                    if route is None:
                        action = "missing"
                    elif route.redirect is not None:
                        action = "redirect"
                    elif route.status is not None:
                        action = "status"
                    elif route.fail > 0:
                        route.fail -= 1
                        action = "fail"
                    elif route.truncate > 0:
                        route.truncate -= 1
                        action = "truncate"
                    elif route.delay > 0:
                        route.delay -= 1
                        action = "delay"
                try:
                    if action == "missing":
                        self.send_error(404)
                    elif action == "status":
                        self.send_error(route.status)
                    elif action == "fail":
                        self.send_error(route.fail_code)
                    elif action == "redirect":
                        self.send_response(307)
                        self.send_header("Location", route.redirect)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                    else:
                        if action == "delay":
                            time.sleep(route.delay_s)
                        body, start = route.body, self.range_start(route)
                        if start is not None and start >= len(body):
                            self.send_error(416)
                            return
                        if start is not None:
                            self.send_response(206)
                            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                            body = body[start:]
                        else:
                            self.send_response(200)
                        self.send_header("Content-Length", str(len(body)))
                        self.send_header("Content-Type", "application/octet-stream")
                        self.etag(route)
                        self.end_headers()
                        if action == "truncate":  # half of what was announced, then hang up
                            self.send_body(body[: len(body) // 2])
                            self.close_connection = True
                        else:
                            self.send_body(body)
                except (BrokenPipeError, ConnectionResetError):  # client gave up (timeout)
                    pass
                if route is not None and route.later_body is not None:
                    route.body, route.later_body = route.later_body, None

            def range_start(self, route):
                """The first byte to send for a Range request this route honours, else None."""
                m = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
                if not (route.ranges and m):
                    return None
                if_range = self.headers.get("If-Range")
                if if_range is not None and if_range != f'"{hashlib.md5(route.body).hexdigest()}"':
                    return None  # the file changed since the client's copy: send it whole
                return int(m.group(1)) + route.range_shift

            def etag(self, route):
                if route.etag:
                    self.send_header("ETag", f'"{hashlib.md5(route.body).hexdigest()}"')

            def send_body(self, data):
                self.wfile.write(data)
                self.wfile.flush()
                with server.lock:
                    server.sent[self.path] += len(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.01}, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def add(self, path: str, **kwargs) -> str:
        self.routes[path] = Route(**kwargs)
        return self.url(path)


@pytest.fixture
def server(monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    srv = Server()
    srv.thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()
    srv.thread.join(timeout=5)


@pytest.fixture
def sleeps():
    recorded: list[float] = []
    return recorded


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".part" in p.name)


# --- good, corrupt, md5 handling -------------------------------------------------------------


def test_good_file(server, tmp_path):
    url = server.add("/data/ccres.bed")
    dest = tmp_path / "sub" / "ccres.bed"
    out = fetch(url, dest, md5=BODY_MD5, sleep=pytest.fail)
    assert out == dest
    assert dest.read_bytes() == BODY
    assert Path(str(dest) + ".md5").read_text().strip() == BODY_MD5
    assert server.hits["/data/ccres.bed"] == 1
    assert leftovers(dest.parent) == []


def test_good_file_without_md5_writes_sidecar(server, tmp_path):
    url = server.add("/x.bin", body=b"abc")
    dest = tmp_path / "x.bin"
    fetch(url, dest)
    assert dest.read_bytes() == b"abc"
    assert (tmp_path / "x.bin.md5").read_text().strip() == hashlib.md5(b"abc").hexdigest()


def test_uppercase_md5_accepted(server, tmp_path):
    url = server.add("/x.bin")
    dest = tmp_path / "x.bin"
    fetch(url, dest, md5=BODY_MD5.upper())
    assert (tmp_path / "x.bin.md5").read_text().strip() == BODY_MD5


@pytest.mark.parametrize("bad", ["abc", "g" * 32, BODY_MD5 + "0", ""])
def test_invalid_md5_rejected_before_fetching(server, tmp_path, bad):
    url = server.add("/x.bin")
    with pytest.raises(DownloadError, match="invalid md5"):
        fetch(url, tmp_path / "x.bin", md5=bad)
    assert sum(server.hits.values()) == 0


def test_md5_mismatch(server, tmp_path, sleeps):
    url = server.add("/corrupt.bin", body=BODY[:-1] + b"X")
    dest = tmp_path / "corrupt.bin"
    with pytest.raises(DownloadError) as info:
        fetch(url, dest, md5=BODY_MD5, sleep=sleeps.append)
    msg = str(info.value)
    assert url in msg
    assert BODY_MD5 in msg
    assert hashlib.md5(BODY[:-1] + b"X").hexdigest() in msg
    assert "sample sheet" in msg and "Fix" in msg
    assert not dest.exists()
    assert not (tmp_path / "corrupt.bin.md5").exists()
    assert list(tmp_path.iterdir()) == []
    assert server.hits["/corrupt.bin"] == 1 and sleeps == []  # a mismatch is not retried


def test_md5sum_helper(tmp_path):
    p = tmp_path / "f"
    p.write_bytes(BODY)
    assert md5sum(p) == BODY_MD5
    assert md5sum(p, chunk=7) == BODY_MD5


# --- retries ---------------------------------------------------------------------------------


def test_fails_twice_then_succeeds(server, tmp_path, sleeps, caplog):
    url = server.add("/flaky", fail=2)
    dest = tmp_path / "flaky"
    with caplog.at_level(logging.WARNING, logger="creator.download"):
        fetch(url, dest, md5=BODY_MD5, backoff_s=0.5, sleep=sleeps.append)
    assert dest.read_bytes() == BODY
    assert server.hits["/flaky"] == 3
    assert sleeps == [0.5, 1.0]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2 and "503" in warnings[0].getMessage()
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("code", [500, 502, 429])
def test_5xx_and_429_retried(server, tmp_path, sleeps, code):
    url = server.add("/busy", fail=1, fail_code=code)
    fetch(url, tmp_path / "busy", md5=BODY_MD5, sleep=sleeps.append)
    assert server.hits["/busy"] == 2 and sleeps == [1.0]


def test_gives_up_after_retries(server, tmp_path, sleeps):
    url = server.add("/down", fail=100)
    dest = tmp_path / "down"
    with pytest.raises(DownloadError, match="giving up after 4 attempt") as info:
        fetch(url, dest, retries=3, backoff_s=0.25, sleep=sleeps.append)
    assert "503" in str(info.value) and url in str(info.value)
    assert server.hits["/down"] == 4
    assert sleeps == [0.25, 0.5, 1.0]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("code", [404, 403, 400])
def test_4xx_not_retried(server, tmp_path, sleeps, code):
    url = server.add("/gone", status=code)
    dest = tmp_path / "gone"
    with pytest.raises(DownloadError) as info:
        fetch(url, dest, sleep=sleeps.append)
    assert str(code) in str(info.value) and url in str(info.value)
    assert server.hits["/gone"] == 1 and sleeps == []
    assert list(tmp_path.iterdir()) == []


def test_truncated_body_retried(server, tmp_path, sleeps):
    url = server.add("/short", truncate=1)
    dest = tmp_path / "short"
    fetch(url, dest, sleep=sleeps.append)  # no md5: the Content-Length check alone catches it
    assert dest.read_bytes() == BODY
    assert server.hits["/short"] == 2 and sleeps == [1.0]
    assert leftovers(tmp_path) == []


def test_truncated_every_time_fails(server, tmp_path, sleeps):
    url = server.add("/short", truncate=100)
    dest = tmp_path / "short"
    with pytest.raises(DownloadError, match="truncated"):
        fetch(url, dest, retries=2, backoff_s=0, sleep=sleeps.append)
    assert server.hits["/short"] == 3
    assert list(tmp_path.iterdir()) == []


def test_timeout_retried(server, tmp_path, sleeps):
    url = server.add("/slow", delay=1, delay_s=1.0)
    dest = tmp_path / "slow"
    fetch(url, dest, md5=BODY_MD5, timeout_s=0.2, sleep=sleeps.append)
    assert dest.read_bytes() == BODY
    assert server.hits["/slow"] == 2 and sleeps == [1.0]


def test_connection_refused_retried(tmp_path, sleeps):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError, match="giving up after 2 attempt"):
        fetch(f"http://127.0.0.1:{port}/x", tmp_path / "x", retries=1, sleep=sleeps.append)
    assert sleeps == [1.0]
    assert list(tmp_path.iterdir()) == []


# --- local sources ---------------------------------------------------------------------------


def test_file_url(tmp_path):
    src = tmp_path / "src dir" / "in.bed"
    src.parent.mkdir()
    src.write_bytes(BODY)
    dest = tmp_path / "out" / "in.bed"
    fetch(src.as_uri(), dest, md5=BODY_MD5)
    assert dest.read_bytes() == BODY
    assert Path(str(dest) + ".md5").read_text().strip() == BODY_MD5


def test_plain_paths_absolute_and_relative(tmp_path, monkeypatch):
    src = tmp_path / "in.bed"
    src.write_bytes(BODY)
    fetch(str(src), tmp_path / "a.bed", md5=BODY_MD5)
    assert (tmp_path / "a.bed").read_bytes() == BODY
    monkeypatch.chdir(tmp_path)
    fetch("in.bed", "b.bed", md5=BODY_MD5)
    assert (tmp_path / "b.bed").read_bytes() == BODY


def test_local_md5_mismatch(tmp_path):
    src = tmp_path / "in.bed"
    src.write_bytes(b"other")
    dest = tmp_path / "out" / "in.bed"
    with pytest.raises(DownloadError, match="md5 mismatch"):
        fetch(src, dest, md5=BODY_MD5)
    assert list(dest.parent.iterdir()) == []


def test_missing_local_file(tmp_path, sleeps):
    missing = tmp_path / "nope.bed"
    for url in (str(missing), missing.as_uri()):
        with pytest.raises(DownloadError, match="not found") as info:
            fetch(url, tmp_path / "out.bed", sleep=sleeps.append)
        assert str(missing) in str(info.value)
    assert sleeps == []
    assert not (tmp_path / "out.bed").exists()


def test_unsupported_scheme(tmp_path):
    with pytest.raises(DownloadError, match="unsupported URL scheme"):
        fetch("gopher://127.0.0.1/x", tmp_path / "x")


# --- never fetch a verified file twice -------------------------------------------------------


def test_second_fetch_of_verified_file_makes_no_request(server, tmp_path):
    url = server.add("/once")
    dest = tmp_path / "once"
    fetch(url, dest, md5=BODY_MD5)
    mtime = dest.stat().st_mtime_ns
    fetch(url, dest, md5=BODY_MD5, sleep=pytest.fail)
    fetch(url, dest, sleep=pytest.fail)  # without md5: the sidecar vouches for it
    assert server.hits["/once"] == 1
    assert dest.stat().st_mtime_ns == mtime


def test_verified_without_sidecar_gets_one(server, tmp_path):
    url = server.add("/once")
    dest = tmp_path / "once"
    dest.write_bytes(BODY)  # e.g. put there by hand
    fetch(url, dest, md5=BODY_MD5)
    assert server.hits["/once"] == 0
    assert (tmp_path / "once.md5").read_text().strip() == BODY_MD5


def test_corrupt_dest_is_refetched(server, tmp_path):
    url = server.add("/file")
    dest = tmp_path / "file"
    dest.write_bytes(BODY[:100])  # an earlier, broken copy
    fetch(url, dest, md5=BODY_MD5)
    assert dest.read_bytes() == BODY
    assert server.hits["/file"] == 1


def test_corrupt_dest_with_sidecar_is_refetched_without_md5(server, tmp_path):
    url = server.add("/file")
    dest = tmp_path / "file"
    fetch(url, dest)
    dest.write_bytes(b"bit rot")  # the file changed after it was verified
    fetch(url, dest)
    assert dest.read_bytes() == BODY
    assert server.hits["/file"] == 2


def test_dest_without_sidecar_and_without_md5_is_refetched(server, tmp_path):
    url = server.add("/file")
    dest = tmp_path / "file"
    dest.write_bytes(BODY)
    fetch(url, dest)
    assert server.hits["/file"] == 1
    assert (tmp_path / "file.md5").read_text().strip() == BODY_MD5


def test_failed_refetch_leaves_nothing_at_dest(server, tmp_path):
    url = server.add("/file", body=b"still wrong")
    dest = tmp_path / "file"
    dest.write_bytes(b"old and wrong")
    with pytest.raises(DownloadError, match="md5 mismatch"):
        fetch(url, dest, md5=BODY_MD5)
    assert list(tmp_path.iterdir()) == []


# --- command line ----------------------------------------------------------------------------


def test_cli_ok(server, tmp_path):
    url = server.add("/cli")
    dest = tmp_path / "cli.bin"
    rc = cli.main(["download", "--url", url, "--out", str(dest), "--md5", BODY_MD5,
                   "--retries", "2", "--backoff", "0", "--timeout", "5"])
    assert rc == 0
    assert dest.read_bytes() == BODY


def test_cli_settings_from_the_config_section(server, tmp_path, capsys):
    """The download section of --config (what the rule passes) sets retries, backoff and timeout; a flag wins."""
    url = server.add("/down", fail=100)
    cfg = json.dumps({"download": {"retries": 1, "backoff_s": 0.0, "timeout_s": 5}})
    rc = cli.main(["download", "--url", url, "--out", str(tmp_path / "a"), "--config", cfg])
    err = capsys.readouterr().err
    assert rc == 2 and server.hits["/down"] == 2
    assert "giving up after 2 attempt(s)" in err and "download.retries (now 1) or download.timeout_s (now 5)" in err
    rc = cli.main(["download", "--url", url, "--out", str(tmp_path / "b"), "--config", cfg, "--retries", "2"])
    assert rc == 2 and server.hits["/down"] == 5 and "giving up after 3 attempt(s)" in capsys.readouterr().err
    # no config: the schema's defaults (retries 4, timeout 60)
    rc = cli.main(["download", "--url", url, "--out", str(tmp_path / "c"), "--backoff", "0"])
    assert rc == 2 and server.hits["/down"] == 10
    assert "download.retries (now 4) or download.timeout_s (now 60)" in capsys.readouterr().err
    rc = cli.main(["download", "--url", url, "--out", str(tmp_path / "d"), "--config", cfg, "--retries", "-1"])
    assert rc == 2 and "--retries must be >= 0" in capsys.readouterr().err and server.hits["/down"] == 10
    rc = cli.main(["download", "--url", url, "--out", str(tmp_path / "e"), "--config", '{"download": {"retry": 1}}'])
    assert rc == 2 and "config key 'download.retry'" in capsys.readouterr().err


def test_cli_md5_mismatch_returns_2(server, tmp_path, capsys):
    url = server.add("/cli")
    dest = tmp_path / "cli.bin"
    rc = cli.main(["download", "--url", url, "--out", str(dest), "--md5", WRONG_MD5])
    assert rc == 2
    assert "md5 mismatch" in capsys.readouterr().err
    assert not dest.exists()


def test_cli_invalid_md5_returns_2(tmp_path, capsys):
    rc = cli.main(["download", "--url", str(tmp_path / "x"), "--out", str(tmp_path / "y"),
                   "--md5", "not-an-md5"])
    assert rc == 2
    assert "invalid md5" in capsys.readouterr().err


# --- very large files: resume with Range, disk space, progress, redirects --------------------

HALF = len(BODY) // 2  # where the "truncate" route cuts the connection


def test_cut_transfer_resumes_with_range(server, tmp_path, sleeps, caplog):
    url = server.add("/big", truncate=1, ranges=True)
    dest = tmp_path / "big"
    with caplog.at_level(logging.INFO, logger="creator.download"):
        fetch(url, dest, md5=BODY_MD5, sleep=sleeps.append)
    assert dest.read_bytes() == BODY and md5sum(dest) == BODY_MD5
    (_, first), (_, second) = server.requests
    assert "Range" not in first and second["Range"] == f"bytes={HALF}-"
    assert server.sent["/big"] == len(BODY) < 2 * len(BODY)  # each byte sent once
    assert sleeps == [1.0] and leftovers(tmp_path) == []
    warning = next(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert f"truncated body: got {HALF} of {len(BODY)} bytes" in warning
    assert f"{HALF} bytes kept, resuming from there" in warning
    assert f"resuming at byte {HALF} of {len(BODY)}" in caplog.text


def test_cut_twice_resumes_twice(server, tmp_path, sleeps):
    """Cut again half-way through the resumed part: the third request asks for what is still missing."""
    url = server.add("/big", truncate=2, ranges=True)
    dest = tmp_path / "big"
    fetch(url, dest, md5=BODY_MD5, sleep=sleeps.append)
    assert dest.read_bytes() == BODY
    second = HALF + (len(BODY) - HALF) // 2
    assert [h.get("Range") for _, h in server.requests] == [None, f"bytes={HALF}-", f"bytes={second}-"]
    assert server.sent["/big"] == len(BODY)
    assert sleeps == [1.0, 2.0]


def test_server_ignoring_range_restarts_from_zero(server, tmp_path, sleeps, caplog):
    url = server.add("/big", truncate=1)  # ranges=False: answers a Range request with 200 and all
    dest = tmp_path / "big"
    with caplog.at_level(logging.INFO, logger="creator.download"):
        fetch(url, dest, md5=BODY_MD5, sleep=sleeps.append)
    assert dest.read_bytes() == BODY  # not the first half twice
    assert server.requests[1][1]["Range"] == f"bytes={HALF}-"
    assert server.sent["/big"] == HALF + len(BODY)
    assert f"the server sent the whole file, not bytes {HALF}-; starting over" in caplog.text
    assert leftovers(tmp_path) == []


def test_wrong_content_range_restarts_without_range(server, tmp_path, sleeps):
    """A 206 that does not start where asked is not appended; the next request asks for the whole file."""
    url = server.add("/big", truncate=1, ranges=True, range_shift=7)
    dest = tmp_path / "big"
    fetch(url, dest, md5=BODY_MD5, sleep=sleeps.append)
    assert dest.read_bytes() == BODY
    assert [h.get("Range") for _, h in server.requests] == [None, f"bytes={HALF}-", None]
    assert sleeps == [1.0, 2.0]


def test_file_changed_between_attempts_is_not_spliced(server, tmp_path, sleeps):
    """If-Range carries the first response's ETag: a file changed on the server comes whole."""
    new = BODY.replace(b"chr22", b"chr21")
    url = server.add("/big", truncate=1, ranges=True, etag=True, later_body=new)
    dest = tmp_path / "big"
    fetch(url, dest, sleep=sleeps.append)  # no md5 given: only If-Range keeps the halves apart
    assert dest.read_bytes() == new
    second = server.requests[1][1]
    assert second["Range"] == f"bytes={HALF}-" and second["If-Range"] == f'"{BODY_MD5}"'
    assert server.sent["/big"] == HALF + len(new)


def test_resumed_file_with_wrong_md5_is_rejected(server, tmp_path, sleeps):
    """The md5 covers the whole file, resumed or not."""
    url = server.add("/big", body=BODY[:-1] + b"X", truncate=1, ranges=True)
    dest = tmp_path / "big"
    with pytest.raises(DownloadError, match="md5 mismatch"):
        fetch(url, dest, md5=BODY_MD5, sleep=sleeps.append)
    assert server.requests[1][1]["Range"] == f"bytes={HALF}-"
    assert list(tmp_path.iterdir()) == []


def test_redirect_is_followed(server, tmp_path):
    """ENCODE's /files/X/@@download/X.bigWig answers 307 to its file store."""
    server.add("/store/ENCFF000AAA.bigWig")
    url = server.add("/files/ENCFF000AAA/@@download/ENCFF000AAA.bigWig", redirect="/store/ENCFF000AAA.bigWig")
    dest = tmp_path / "ENCFF000AAA.bigWig"
    fetch(url, dest, md5=BODY_MD5, sleep=pytest.fail)
    assert dest.read_bytes() == BODY
    assert [p for p, _ in server.requests] == ["/files/ENCFF000AAA/@@download/ENCFF000AAA.bigWig",
                                               "/store/ENCFF000AAA.bigWig"]
    assert json.loads((tmp_path / "ENCFF000AAA.bigWig.source.json").read_text())["url"] == url


def test_redirect_keeps_range_when_resuming(server, tmp_path, sleeps):
    server.add("/store/x", truncate=1, ranges=True)
    url = server.add("/files/x/@@download/x", redirect="/store/x")
    dest = tmp_path / "x"
    fetch(url, dest, md5=BODY_MD5, sleep=sleeps.append)
    assert dest.read_bytes() == BODY
    assert [(p, h.get("Range")) for p, h in server.requests] == [
        ("/files/x/@@download/x", None), ("/store/x", None),
        ("/files/x/@@download/x", f"bytes={HALF}-"), ("/store/x", f"bytes={HALF}-")]
    assert server.sent["/store/x"] == len(BODY)


def _free(values):
    """A stand-in for shutil.disk_usage whose free space is ``values`` in turn (the last one repeats)."""
    seen = []

    def disk_usage(path):
        seen.append(Path(path))
        free = values[min(len(seen), len(values)) - 1]
        return shutil._ntuple_diskusage(10**12, 10**12 - free, free)
    disk_usage.seen = seen
    return disk_usage


def test_too_little_disk_space_fails_before_writing(server, tmp_path, sleeps, monkeypatch):
    usage = _free([1000])
    monkeypatch.setattr(shutil, "disk_usage", usage)
    url = server.add("/big")
    dest = tmp_path / "sub" / "big"
    with pytest.raises(DownloadError) as info:
        fetch(url, dest, md5=BODY_MD5, sleep=sleeps.append)
    msg = str(info.value)
    assert msg.startswith(f"{url}: not enough disk space for {dest}: {len(BODY)} bytes (0.00 GB) still "
                          f"to download, 1000 bytes (0.00 GB) free in {dest.parent}. Fix: ")
    assert "download.dir" in msg
    assert usage.seen == [dest.parent]
    assert sleeps == [] and server.hits["/big"] == 1  # final: not retried
    assert list(dest.parent.iterdir()) == []  # nothing at the output path, no .part


def test_too_little_disk_space_removes_an_older_copy(server, tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "disk_usage", _free([10]))
    url = server.add("/big")
    dest = tmp_path / "big"
    dest.write_bytes(b"an older, broken copy")
    with pytest.raises(DownloadError, match="not enough disk space"):
        fetch(url, dest, md5=BODY_MD5)
    assert list(tmp_path.iterdir()) == []


def test_disk_space_on_resume_counts_only_the_rest(server, tmp_path, sleeps, monkeypatch):
    """Resuming needs room for the missing bytes only: exactly that much free is enough."""
    usage = _free([10**12, len(BODY) - HALF])
    monkeypatch.setattr(shutil, "disk_usage", usage)
    url = server.add("/big", truncate=1, ranges=True)
    dest = tmp_path / "big"
    fetch(url, dest, md5=BODY_MD5, sleep=sleeps.append)
    assert dest.read_bytes() == BODY and len(usage.seen) == 2
    # one byte less and the resumed request is refused
    monkeypatch.setattr(shutil, "disk_usage", _free([10**12, len(BODY) - HALF - 1]))
    server.add("/big2", truncate=1, ranges=True)
    with pytest.raises(DownloadError, match=f"{len(BODY) - HALF} bytes .* still to download"):
        fetch(server.url("/big2"), tmp_path / "big2", md5=BODY_MD5, sleep=sleeps.append)
    assert not (tmp_path / "big2").exists() and leftovers(tmp_path) == []


def test_disk_space_checked_for_local_copies(tmp_path, monkeypatch):
    src = tmp_path / "in.bed"
    src.write_bytes(BODY)
    monkeypatch.setattr(shutil, "disk_usage", _free([len(BODY) - 1]))
    dest = tmp_path / "out" / "in.bed"
    with pytest.raises(DownloadError, match=f"{len(BODY)} bytes .* still to download, {len(BODY) - 1} bytes"):
        fetch(src.as_uri(), dest, md5=BODY_MD5)
    assert list(dest.parent.iterdir()) == []


def progress_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "MB/s" in r.getMessage()]


def test_progress_logged_for_large_files(server, tmp_path, caplog, monkeypatch):
    monkeypatch.setattr("creator.download.CHUNK", 4096)  # ~34 reads of the 140 kB body
    url = server.add("/big")
    dest = tmp_path / "big"
    with caplog.at_level(logging.INFO, logger="creator.download"):
        fetch(url, dest, md5=BODY_MD5, progress_bytes=len(BODY))  # the threshold: "large" from here
    lines = progress_lines(caplog)
    pcts = [int(re.search(r"(\d+)%\)", ln).group(1)) for ln in lines]
    # every 10 % (each 4 kB read is ~3 %): one line per tenth, the last at 100 %
    assert [p // 10 for p in pcts] == list(range(1, 11)), lines
    assert lines[-1].startswith(f"{dest}: {len(BODY)} of {len(BODY)} bytes (0.1 of 0.1 MB, 100%), ")
    assert all(re.search(r"\), \d+\.\d MB/s$", ln) for ln in lines)


def test_no_progress_below_the_threshold(server, tmp_path, caplog, monkeypatch):
    monkeypatch.setattr("creator.download.CHUNK", 4096)
    url = server.add("/small")
    with caplog.at_level(logging.INFO, logger="creator.download"):
        fetch(url, tmp_path / "small", progress_bytes=len(BODY) + 1)
    assert progress_lines(caplog) == []


def test_progress_of_a_resumed_transfer_counts_from_the_whole_file(server, tmp_path, caplog, monkeypatch,
                                                                     sleeps):
    monkeypatch.setattr("creator.download.CHUNK", 4096)
    url = server.add("/big", truncate=1, ranges=True)
    with caplog.at_level(logging.INFO, logger="creator.download"):
        fetch(url, tmp_path / "big", md5=BODY_MD5, progress_bytes=1, sleep=sleeps.append)
    pcts = [int(re.search(r"(\d+)%\)", ln).group(1)) for ln in progress_lines(caplog)]
    # first request: 10..40 % (half the file); resumed request: 50..100 %, not 0 % again
    assert [p // 10 for p in pcts] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], pcts


def test_range_past_the_end_416_restarts(server, tmp_path, sleeps):
    """The file shrank on the server (no ETag to tell): 416 for the range, then the whole new file."""
    url = server.add("/big", truncate=1, ranges=True, later_body=BODY[:1000])
    dest = tmp_path / "big"
    fetch(url, dest, sleep=sleeps.append)
    assert dest.read_bytes() == BODY[:1000]
    assert [h.get("Range") for _, h in server.requests] == [None, f"bytes={HALF}-", None]
    assert sleeps == [1.0, 2.0]
