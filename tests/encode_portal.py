"""A stand-in for the ENCODE portal on 127.0.0.1, serving the fixtures in tests/data/encode.

It answers the way ENCODE-DCC/encoded does (src/encoded/types/file.py, snovault search):

* ``GET /search/?type=File&...`` with ``Accept: application/json``: the fixture answer of the
  query's ``assay_term_name``, filtered by ``biosample_ontology.term_name`` and ``target.label``
  (a repeated parameter is OR). The portal filters on the linked objects' properties whatever
  frame the answer shows them in, so a record whose link is a bare ``@id`` string is matched
  through :data:`BIOSAMPLE_TERMS` / the label in the target's ``@id``. No hit: HTTP 404 with the
  portal's empty answer (``no_results.json``).
* ``GET /files/{accession}/@@download/{accession}{ext}``: HTTP 307 to a file-store path
  ``/encode-public/{date}/{uuid}/{accession}{ext}`` (the portal redirects to a signed S3 URL of
  that form); a file name that is not the accession's answers 404, like the portal's view.
* ``GET /encode-public/...``: the file's bytes, :func:`body` of its accession.

Fixture keys starting with ``_`` (provenance notes) are not served.
"""

from __future__ import annotations

import pytest

import http.server
import json
import threading
import urllib.parse
from pathlib import Path

DATA = Path(__file__).parent / "data" / "encode"
ANSWER = {"ChIP-seq": "chip.json", "DNase-seq": "dnase.json", "RNA-seq": "rnaseq.json"}
#: The portal's biosample-type links of the fixtures' cell types (its ids: {classification}_{ontology id}).
BIOSAMPLE_TERMS = {"/biosample-types/cell_line_EFO_0002067/": "K562",
                   "/biosample-types/cell_line_EFO_0002784/": "GM12878",
                   "/biosample-types/cell_line_EFO_0001187/": "HepG2"}


def body(filename: str) -> bytes:
    """The bytes the file store serves for ``filename`` (deterministic, 128 KiB)."""
    return (f"{filename} fixture body\n" * 4096).encode()[: 32 * 4096]


def answer(name: str) -> dict:
    """A fixture answer without its ``_`` provenance keys."""
    data = json.loads((DATA / name).read_text())
    return {k: v for k, v in data.items() if not k.startswith("_")}


def records() -> list[dict]:
    """Every File record of the fixture answers."""
    return [obj for name in ANSWER.values() for obj in answer(name)["@graph"]]


def _term(obj: dict) -> str:
    bio = obj.get("biosample_ontology")
    return bio.get("term_name", "") if isinstance(bio, dict) else BIOSAMPLE_TERMS.get(bio, "")


def _label(obj: dict) -> str | None:
    target = obj.get("target")
    if isinstance(target, dict):
        return target.get("label")
    if isinstance(target, str):
        return target.strip("/").split("/")[-1].rsplit("-", 1)[0]
    return None


class FakePortal(http.server.ThreadingHTTPServer):
    """``fail_first`` answers 503 to that many requests first; ``requests`` records the queries."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict[str, list[str]]] = []
        self.paths: list[str] = []
        self.fail_first = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _send(self, code: int, body: bytes, ctype: str = "application/json", headers: dict | None = None):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, code: int, obj: dict):
        self._send(code, json.dumps(obj).encode())

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        self.server.paths.append(url.path)
        if self.server.fail_first > 0:
            self.server.fail_first -= 1
            return self._json(503, {"status": "error"})
        parts = url.path.strip("/").split("/")
        if len(parts) == 4 and parts[0] == "files" and parts[2] == "@@download":
            return self._download(parts[1], parts[3])
        if parts[0] == "encode-public":
            return self._send(200, body(parts[-1]), "application/octet-stream")
        query = urllib.parse.parse_qs(url.query)
        self.server.requests.append(query)
        if url.path != "/search/" or self.headers.get("Accept") != "application/json":
            return self._json(400, {"status": "error", "detail": "bad request"})
        data = answer(ANSWER[query["assay_term_name"][0]])
        keep = [obj for obj in data["@graph"]
                if _term(obj) in query.get("biosample_ontology.term_name", [])
                and ("target.label" not in query or _label(obj) in query["target.label"])]
        if not keep:
            return self._json(404, answer("no_results.json"))
        self._json(200, {**data, "@graph": keep, "total": len(keep)})

    def _download(self, accession: str, filename: str):
        rec = next((r for r in records() if r["accession"] == accession), None)
        ext = {"bigWig": ".bigWig", "tsv": ".tsv"}.get(rec["file_format"]) if rec else None
        if rec is None or filename != accession + ext:
            return self._json(404, {"@type": ["HTTPNotFound", "Error"], "status": "error", "code": 404,
                                    "title": "Not Found", "description": filename})
        day = str(rec["date_created"])[:10].replace("-", "/")
        location = f"/encode-public/{day}/7f3c2a1e-0000-4000-8000-{accession[5:].lower():0>12}/{filename}"
        self._send(307, b"", "text/plain", {"Location": location})


def start() -> FakePortal:
    server = FakePortal()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def portal():
    """The portal on 127.0.0.1 for one test (its ``url`` attribute: the base URL)."""
    server = start()
    yield server
    server.shutdown()
    server.server_close()
