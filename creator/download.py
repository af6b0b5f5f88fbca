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
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import logging
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Callable, IO

from creator.config import section_defaults
from creator.errors import DownloadError, InputError

log = logging.getLogger(__name__)

CHUNK = 1 << 20  # 1 MiB
USER_AGENT = "creator-workflow-download/0.1"
_MD5_RE = re.compile(r"^[0-9a-f]{32}$")
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


def _fetch_http(url: str, out: IO[bytes], h, timeout_s: float) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as resp:
            length = resp.headers.get("Content-Length")
            expected = int(length) if length is not None and length.strip().isdigit() else None
            n = _copy_stream(resp, out, h)
    except urllib.error.HTTPError as exc:
        exc.close()  # the error carries the open response
        if exc.code >= 500 or exc.code == 429:
            raise _Transient(f"HTTP {exc.code} {exc.reason}") from exc
        raise DownloadError(f"HTTP {exc.code} {exc.reason} for {url}. Fix: check the URL "
                            "(and access rights) in the sample sheet / config") from exc
    except (OSError, http.client.HTTPException) as exc:  # URLError, timeouts, resets
        reason = getattr(exc, "reason", None) or exc
        raise _Transient(f"{type(exc).__name__}: {reason}") from exc
    if expected is not None and n != expected:
        raise _Transient(f"truncated body: got {n} of {expected} bytes")


def fetch(url: str, dest: str | Path, *, md5: str | None = None, retries: int = 4,
          backoff_s: float = 1.0, timeout_s: float = 60.0,
          sleep: Callable[[float], object] = time.sleep) -> Path:
    """Fetch ``url`` to ``dest`` atomically, check ``md5``, write ``dest.md5``; return ``dest``.

    ``url`` is http://, https://, file:// or a plain path. A ``dest`` that already verifies
    (against ``md5``, or without it against its ``.md5`` sidecar) is returned untouched.
    Transient failures are retried ``retries`` times, sleeping ``backoff_s * 2**attempt``.
    Raises :class:`DownloadError` for final failures and md5 mismatches.
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
        for attempt in range(attempts):
            h = hashlib.md5()
            try:
                with open(tmp, "wb") as out:
                    if local is not None:
                        _fetch_local(local, out, h)
                    else:
                        _fetch_http(url, out, h, timeout_s)
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
                log.warning("%s: attempt %d/%d failed (%s); retrying in %.3g s",
                            url, attempt + 1, attempts, exc, delay)
                sleep(delay)

        actual = h.hexdigest()
        if tmp.stat().st_size == 0:
            dest.unlink(missing_ok=True)
            _sidecar(dest).unlink(missing_ok=True)
            _source_sidecar(dest).unlink(missing_ok=True)
            raise DownloadError(
                f"{url}: the file is empty (0 bytes). Fix: check the file or URL in the sample sheet / "
                "config (an empty file is never a valid input)")
        if md5 is not None and actual != md5:
            # nothing unverified may stay at dest (an older corrupt copy included)
            dest.unlink(missing_ok=True)
            _sidecar(dest).unlink(missing_ok=True)
            _source_sidecar(dest).unlink(missing_ok=True)
            raise DownloadError(
                f"{url}: md5 mismatch: expected {md5}, got {actual}. Fix: {_MD5_FIX}")
        _sidecar(dest).unlink(missing_ok=True)  # never a stale sidecar next to the new file
        _source_sidecar(dest).unlink(missing_ok=True)
        os.replace(tmp, dest)
        _fsync_dir(dest.parent)
        _write_sidecar(dest, actual, url)
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
    fetch(args.url, args.out, md5=args.md5, retries=args.retries, backoff_s=args.backoff,
          timeout_s=args.timeout)
    return 0


def add_cli(sub) -> None:
    _D = section_defaults("download")  # the config schema's defaults
    p = sub.add_parser("download", help="fetch a file (http(s), file:// or path), check its md5",
                       description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True, help="http(s):// or file:// URL, or a filesystem path")
    p.add_argument("--out", required=True, help="destination file")
    p.add_argument("--md5", default=None, help="expected md5 (32 hex characters)")
    p.add_argument("--retries", type=int, default=_D["retries"], help="retries on transient errors (%(default)s)")
    p.add_argument("--backoff", type=float, default=_D["backoff_s"],
                   help="first retry delay in seconds, doubled each retry (%(default)s)")
    p.add_argument("--timeout", type=float, default=_D["timeout_s"], help="socket timeout in seconds (%(default)s)")
    p.set_defaults(func=_cli)
