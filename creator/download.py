"""Download stage: fetch one file (http(s), ``file://`` or a plain path), check its md5, keep it.

* The file is written to a temporary file next to ``dest`` (``.{name}.part.{pid}``), fsync'd,
  its md5 checked and only then renamed onto ``dest`` (``os.replace``: atomic), so ``dest`` is
  never a partial or unverified file.
* A sidecar ``dest + '.md5'`` holds the hex digest of the verified file, and ``dest +
  '.source.json'`` where it came from and its size and mtime when verified (``url``, ``size``,
  ``mtime_ns``); a verified file is never fetched again. :func:`verify_copy` re-verifies a copy
  when a rule reads it: size and mtime first, the full md5 only when they changed.
* An empty file (0 bytes) is never accepted; stale ``.{name}.part.*`` files of a killed download
  are removed when the file is fetched again.
* Transient failures (connection errors, timeouts, HTTP 5xx and 429, bodies shorter than their
  Content-Length) are retried with exponential backoff; other HTTP 4xx are final.
* A broken HTTP transfer is resumed where it stopped: the partial file is kept between the
  attempts of one :func:`fetch` and the next request asks for the rest (``Range: bytes=N-``, with
  ``If-Range`` when the server gave an ETag or Last-Modified). A ``206`` whose ``Content-Range``
  starts at N is appended; a server that ignores Range (``200``) or answers another range starts
  the file over. The md5 is that of the whole file, as without resuming.
* Before the body is written, the free space of the destination's file system is checked against
  the bytes still to come (``Content-Length``); too little is a final error naming the sizes.
* Files of ``progress_bytes`` (100 MB) or more log their progress every 10 % or 30 s.
* Redirects (e.g. ENCODE's ``@@download`` 307 to its file store) are followed, Range included.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import logging
import os
import re
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Callable, IO

from creator.config import add_config_argument, section_defaults, stage_settings
from creator.errors import DownloadError, InputError

log = logging.getLogger(__name__)

CHUNK = 1 << 20  # 1 MiB
USER_AGENT = "creator-workflow-download/0.1"
_MD5_RE = re.compile(r"^[0-9a-f]{32}$")
PROGRESS_BYTES = 100 * 10**6  # files this large log their progress
PROGRESS_EVERY_S = 30.0
_CONTENT_RANGE_RE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)
_MD5_FIX = ("check the md5 in the sample sheet / config, or the source file is corrupt or "
            "truncated (fetch it again or from another mirror)")


class _Transient(Exception):
    """A failure worth retrying (internal)."""


def md5sum(path: str | Path, chunk: int = CHUNK) -> str:
    """Hex md5 of a file, read in chunks."""
    h = hashlib.md5()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def normalize_md5(md5: str | None) -> str | None:
    """Lower-case ``md5`` and check it is 32 hex characters (None passes through)."""
    if md5 is None:
        return None
    value = str(md5).strip().lower()
    if not _MD5_RE.match(value):
        raise DownloadError(
            f"invalid md5 {md5!r}: expected 32 hexadecimal characters. "
            "Fix: correct the md5 in the sample sheet / config (or leave it empty)")
    return value


def _sidecar(dest: Path) -> Path:
    return dest.with_name(dest.name + ".md5")


def _read_sidecar(dest: Path) -> str | None:
    return _read_record(dest)[0]


def _source_sidecar(dest: Path) -> Path:
    return dest.with_name(dest.name + ".source.json")


def _read_record(dest: Path) -> tuple[str | None, dict]:
    """(recorded md5, {url, size, mtime_ns}) from the sidecars; (None, {}) without them."""
    try:
        text = _sidecar(dest).read_text().split()
    except OSError:
        return None, {}
    md5 = text[0].lower() if text else None
    try:
        meta = json.loads(_source_sidecar(dest).read_text())
    except (OSError, ValueError):
        meta = {}
    return md5, meta if isinstance(meta, dict) else {}


def _write_sidecar(dest: Path, md5: str, url: str | None) -> None:
    """Record ``dest``'s md5, source and current size and mtime (the cheap check of verify_copy)."""
    st = dest.stat()
    meta = dict(url=url, size=st.st_size, mtime_ns=st.st_mtime_ns)
    _write_atomic_text(_source_sidecar(dest), json.dumps(meta) + "\n")
    _write_atomic_text(_sidecar(dest), md5 + "\n")


def verify_copy(path: str | Path, *, adopt: bool = False) -> bool:
    """Re-verify a downloaded copy against the md5 recorded when it was fetched.

    Cheap: when its size and mtime are those recorded, it is taken as unchanged; otherwise its
    md5 is computed (and, when it still matches, the new mtime recorded). Returns False for a file
    the download rule did not make (no sidecar), True when verified; raises :class:`InputError`
    (naming the configured source and the fix) when the copy changed. A copy fetched before sizes
    were recorded (an ``.md5`` without ``.source.json``) is skipped, or with ``adopt`` (for the
    download directory's own files) taken as it is and recorded from now on."""
    path = Path(path)
    md5, meta = _read_record(path)
    if md5 is None or not path.is_file():
        return False
    st = path.stat()
    url = meta.get("url")
    if "size" not in meta:  # recorded before sizes were: trust it once, check from now on
        if adopt:
            _try_write_sidecar(path, md5, url)
        return adopt
    if meta.get("size") == st.st_size and meta.get("mtime_ns") == st.st_mtime_ns:
        return True
    actual = md5sum(path)
    if actual == md5:
        _try_write_sidecar(path, md5, url)
        return True
    where = f" from {url}" if url else ""
    raise InputError(
        f"changed since it was downloaded: md5 {actual}, recorded {md5} ({st.st_size} bytes, "
        f"{meta.get('size')} when downloaded)", path=path,
        fix=f"delete the copy (rm {path}); it is fetched again{where}, and checked, when a rule next needs it")


def _try_write_sidecar(path: Path, md5: str, url: str | None) -> None:
    try:
        _write_sidecar(path, md5, url)
    except OSError as exc:  # a read-only data directory: the check is only less cheap next time
        log.debug("cannot update %s: %s", _sidecar(path), exc)


def _write_atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.part.{os.getpid()}")
    try:
        with open(tmp, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _verified(dest: Path, md5: str | None, url: str) -> bool:
    """True when ``dest`` exists, is not empty and matches ``md5`` (or, without md5, its sidecar)."""
    if not dest.is_file() or dest.stat().st_size == 0:
        return False
    recorded, meta = _read_record(dest)
    expected = md5 if md5 is not None else recorded
    if expected is None or md5sum(dest) != expected:
        return False
    if recorded != expected or meta.get("url") != url or "size" not in meta:
        _write_sidecar(dest, expected, url)
    return True


def _local_path(url: str) -> Path | None:
    """The filesystem path for a ``file://`` URL or a plain path; None for a network URL."""
    parsed = urllib.parse.urlsplit(url)
    scheme = parsed.scheme.lower()
    if scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise DownloadError(f"{url}: file:// URL with a remote host {parsed.netloc!r} is not "
                                "supported. Fix: use file:///absolute/path")
        return Path(urllib.request.url2pathname(parsed.path))
    if scheme in ("http", "https"):
        return None
    if scheme == "" or (len(scheme) == 1 and os.name == "nt"):
        return Path(url).expanduser()
    raise DownloadError(f"{url}: unsupported URL scheme {scheme!r}. "
                        "Fix: use http://, https://, file:// or a filesystem path")


def _copy_stream(src: IO[bytes], out: IO[bytes], h) -> int:
    n = 0
    while block := src.read(CHUNK):
        out.write(block)
        h.update(block)
        n += len(block)
    return n


def _fetch_local(src: Path, out: IO[bytes], h) -> None:
    if not src.exists():
        raise DownloadError(f"{src}: input file not found. Fix: check the path in the sample "
                            "sheet / config (relative paths are relative to the working directory)")
    if not src.is_file():
        raise DownloadError(f"{src}: not a regular file. Fix: point to a file, not a directory")
    try:
        with open(src, "rb") as fh:
            _copy_stream(fh, out, h)
    except OSError as exc:
        raise DownloadError(f"{src}: cannot read: {exc}") from exc


class _Part:
    """The temporary file of one fetch: open handle, md5 of what it holds, its size."""

    def __init__(self, path: Path, out: IO[bytes]):
        self.path = path
        self.out = out
        self.h = hashlib.md5()
        self.size = 0
        self.total: int | None = None  # the whole file's size, once a response said it
        self.validator: str | None = None  # ETag / Last-Modified of the first response (If-Range)
        self.ranges = True  # False once the server answered a Range request wrongly

    def restart(self) -> None:
        """Start the file over (the server sent the whole file, or a range we cannot use)."""
        self.out.seek(0)
        self.out.truncate()
        self.h = hashlib.md5()
        self.size = 0

    def sync(self) -> None:
        """Cut what a failed write may have left past the verified bytes."""
        self.out.seek(self.size)
        self.out.truncate()

    def write(self, block: bytes) -> None:
        try:
            self.out.write(block)
        except OSError as exc:  # disk full, quota, I/O error: not a network hiccup
            raise DownloadError(
                f"cannot write {self.path}: {exc}. Fix: free space on that file system or point "
                "download.dir in the config at one with room") from exc
        self.h.update(block)
        self.size += len(block)


class _Progress:
    """Log ``label``'s progress every 10 % or ``every_s`` seconds (files of ``min_bytes`` or more)."""

    def __init__(self, label: str, start: int, total: int | None, min_bytes: int,
                 every_s: float = PROGRESS_EVERY_S, clock: Callable[[], float] = time.monotonic):
        self.label, self.start, self.total = label, start, total
        self.on = total is not None and total >= min_bytes
        self.every_s, self.clock = every_s, clock
        self.t0 = self.last_t = clock()
        self.next_pct = 10 * (self._pct(start) // 10 + 1) if total else 0

    def _pct(self, done: int) -> int:
        return int(100 * done / self.total) if self.total else 0

    def update(self, done: int) -> None:
        if not self.on:
            return
        now = self.clock()
        pct = self._pct(done)
        if pct < self.next_pct and now - self.last_t < self.every_s:
            return
        self.next_pct = 10 * (pct // 10 + 1)
        self.last_t = now
        rate = (done - self.start) / 1e6 / max(now - self.t0, 1e-9)
        log.info("%s: %d of %d bytes (%.1f of %.1f MB, %d%%), %.1f MB/s", self.label, done,
                 self.total, done / 1e6, self.total / 1e6, pct, rate)


def _check_space(url: str, dest: Path, part: Path, need: int) -> None:
    """Fail (for good) when ``part``'s file system has less than ``need`` bytes free."""
    free = shutil.disk_usage(part.parent).free
    if need > free:
        raise DownloadError(
            f"{url}: not enough disk space for {dest}: {need} bytes ({need / 1e9:.2f} GB) still to "
            f"download, {free} bytes ({free / 1e9:.2f} GB) free in {part.parent}. Fix: free at least "
            f"{(need - free) / 1e9:.2f} GB there, or point download.dir in the config at a file "
            "system with room")


def _int_header(value: str | None) -> int | None:
    return int(value) if value is not None and value.strip().isdigit() else None


def _fetch_http(url: str, dest: Path, part: _Part, timeout_s: float, progress_bytes: int) -> None:
    """One request: the whole file, or (``part`` not empty) the rest of it via Range."""
    headers = {"User-Agent": USER_AGENT}
    offset = part.size if part.ranges else 0
    if offset:
        headers["Range"] = f"bytes={offset}-"
        if part.validator:
            headers["If-Range"] = part.validator
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as resp:
            length = _int_header(resp.headers.get("Content-Length"))
            if resp.status == 206:
                start, total = _content_range(resp.headers.get("Content-Range"))
                if start != offset or (part.total is not None and total not in (None, part.total)):
                    part.ranges = False
                    part.restart()
                    raise _Transient(f"asked for bytes {offset}- and got Content-Range "
                                     f"{resp.headers.get('Content-Range')!r}; starting over")
                log.info("%s: resuming at byte %d of %s", url, offset, total or part.total or "?")
                part.total = total or part.total
            else:  # 200: the whole file (a server that ignores Range included)
                if offset:
                    log.info("%s: the server sent the whole file, not bytes %d-; starting over",
                             url, offset)
                part.restart()
                part.total = length
                part.validator = _validator(resp.headers)
            part.sync()
            if length is not None:
                _check_space(url, dest, part.path, length)
            expected = part.total if part.total is not None else (
                None if length is None else part.size + length)  # the whole file's size
            progress = _Progress(str(dest), part.size, part.total or expected, progress_bytes)
            while block := resp.read(CHUNK):
                part.write(block)
                progress.update(part.size)
    except urllib.error.HTTPError as exc:
        exc.close()  # the error carries the open response
        if exc.code >= 500 or exc.code == 429:
            raise _Transient(f"HTTP {exc.code} {exc.reason}") from exc
        if exc.code == 416 and offset:  # our range is past the server's end: the file changed
            part.ranges = False
            part.restart()
            raise _Transient(f"HTTP 416 for bytes {offset}-; starting over") from exc
        raise DownloadError(f"HTTP {exc.code} {exc.reason} for {url}. Fix: check the URL "
                            "(and access rights) in the sample sheet / config") from exc
    except (OSError, http.client.HTTPException) as exc:  # URLError, timeouts, resets
        reason = getattr(exc, "reason", None) or exc
        raise _Transient(f"{type(exc).__name__}: {reason}") from exc
    if expected is not None and part.size != expected:
        raise _Transient(f"truncated body: got {part.size} of {expected} bytes")


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """(first byte, total size or None) of a ``Content-Range: bytes a-b/n``; (None, None) if unreadable."""
    m = _CONTENT_RANGE_RE.match(value or "")
    if not m:
        return None, None
    return int(m.group(1)), None if m.group(3) == "*" else int(m.group(3))


def _validator(headers) -> str | None:
    """What ``If-Range`` may name: a strong ETag, else Last-Modified."""
    etag = headers.get("ETag")
    if etag and not etag.startswith("W/"):
        return etag
    return headers.get("Last-Modified")


def _discard(dest: Path) -> None:
    """Nothing unverified may stay at ``dest`` (an older copy included), nor its sidecars."""
    dest.unlink(missing_ok=True)
    _sidecar(dest).unlink(missing_ok=True)
    _source_sidecar(dest).unlink(missing_ok=True)


def fetch(url: str, dest: str | Path, *, md5: str | None = None, retries: int = 4,
          backoff_s: float = 1.0, timeout_s: float = 60.0,
          sleep: Callable[[float], object] = time.sleep,
          progress_bytes: int = PROGRESS_BYTES) -> Path:
    """Fetch ``url`` to ``dest`` atomically, check ``md5``, write ``dest.md5``; return ``dest``.

    ``url`` is http://, https://, file:// or a plain path. A ``dest`` that already verifies
    (against ``md5``, or without it against its ``.md5`` sidecar) is returned untouched.
    Transient failures are retried ``retries`` times, sleeping ``backoff_s * 2**attempt``; an
    HTTP transfer that broke off is resumed from where it stopped (Range request). Files of
    ``progress_bytes`` or more log their progress. Raises :class:`DownloadError` for final
    failures (md5 mismatch, HTTP 4xx, too little disk space).
    """
    url = str(url)
    dest = Path(dest)
    md5 = normalize_md5(md5)
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}")

    if _verified(dest, md5, url):
        log.info("%s: already present and verified, not fetching %s", dest, url)
        return dest

    local = _local_path(url)
    dest.parent.mkdir(parents=True, exist_ok=True)
    for stale in dest.parent.glob(f".{dest.name}.part.*"):  # left by a killed download
        log.info("removing %s (left by an interrupted download)", stale)
        stale.unlink(missing_ok=True)
    tmp = dest.with_name(f".{dest.name}.part.{os.getpid()}")
    attempts = retries + 1 if local is None else 1
    try:
        with open(tmp, "wb") as out:
            part = _Part(tmp, out)
            for attempt in range(attempts):
                try:
                    if local is not None:
                        if local.is_file():
                            _check_space(url, dest, tmp, local.stat().st_size)
                        _fetch_local(local, out, part.h)
                    else:
                        _fetch_http(url, dest, part, timeout_s, progress_bytes)
                    out.flush()
                    os.fsync(out.fileno())
                    break
                except _Transient as exc:
                    if attempt + 1 >= attempts:
                        raise DownloadError(
                            f"{url}: giving up after {attempts} attempt(s); last error: {exc}. "
                            "Fix: check the network / server, or raise download.retries (now "
                            f"{retries}) or download.timeout_s (now {timeout_s:g}) in the config"
                        ) from exc
                    delay = backoff_s * 2 ** attempt
                    kept = f"; {part.size} bytes kept, resuming from there" if part.size and part.ranges else ""
                    log.warning("%s: attempt %d/%d failed (%s)%s; retrying in %.3g s",
                                url, attempt + 1, attempts, exc, kept, delay)
                    sleep(delay)

        actual = part.h.hexdigest()
        if tmp.stat().st_size == 0:
            _discard(dest)
            raise DownloadError(
                f"{url}: the file is empty (0 bytes). Fix: check the file or URL in the sample sheet / "
                "config (an empty file is never a valid input)")
        if md5 is not None and actual != md5:
            _discard(dest)  # nothing unverified may stay at dest (an older corrupt copy included)
            raise DownloadError(
                f"{url}: md5 mismatch: expected {md5}, got {actual}. Fix: {_MD5_FIX}")
        _sidecar(dest).unlink(missing_ok=True)  # never a stale sidecar next to the new file
        _source_sidecar(dest).unlink(missing_ok=True)
        os.replace(tmp, dest)
        _fsync_dir(dest.parent)
        _write_sidecar(dest, actual, url)
    except DownloadError:
        _discard(dest)  # it did not verify before this fetch: nothing unverified stays at dest
        raise
    finally:
        tmp.unlink(missing_ok=True)
    log.info("%s: fetched %s (md5 %s)", dest, url, actual)
    return dest


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _cli(args: argparse.Namespace) -> int:
    for flag, value, low in (("--retries", args.retries, 0), ("--backoff", args.backoff, 0)):
        if value is not None and value < low:
            raise InputError(f"{flag} must be >= {low}, got {value}", fix=f"give {flag} {low} or more")
    if args.timeout is not None and args.timeout <= 0:
        raise InputError(f"--timeout must be > 0, got {args.timeout}", fix="give a positive number of seconds")
    cfg = stage_settings(args.config, "download", {"retries": args.retries, "backoff_s": args.backoff,
                                                   "timeout_s": args.timeout})
    fetch(args.url, args.out, md5=args.md5, retries=cfg["retries"], backoff_s=cfg["backoff_s"],
          timeout_s=cfg["timeout_s"])
    return 0


def add_cli(sub) -> None:
    _D = section_defaults("download")  # the config schema's defaults
    p = sub.add_parser("download", help="fetch a file (http(s), file:// or path), check its md5",
                       description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True, help="http(s):// or file:// URL, or a filesystem path")
    p.add_argument("--out", required=True, help="destination file")
    p.add_argument("--md5", default=None, help="expected md5 (32 hex characters)")
    add_config_argument(p, "download")
    p.add_argument("--retries", type=int,
                   help=f"download.retries: retries on transient errors (default {_D['retries']})")
    p.add_argument("--backoff", type=float,
                   help=f"download.backoff_s: first retry delay in seconds, doubled each retry (default {_D['backoff_s']})")
    p.add_argument("--timeout", type=float,
                   help=f"download.timeout_s: socket timeout in seconds (default {_D['timeout_s']})")
    p.set_defaults(func=_cli)
