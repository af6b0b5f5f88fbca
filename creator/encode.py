"""ENCODE portal resolver: the files of a genome-wide run, found with the portal's search API and
written as a manifest TSV that is also the run's sample sheet (pin it by committing it).

Rather than hard-coding hundreds of accessions, ``creator encode-manifest`` (rule
``encode_manifest``) asks the portal, for the configured cell types, for the newest released file of
each of CREaTor's 16 tracks and of RNA-seq, and writes one row per (cell type, assay). A run then
reads only the pinned manifest: planning the DAG needs no network.

The portal's search API (https://www.encodeproject.org/help/rest-api/)
--------------------------------------------------------------------------
``GET {portal}/search/?type=File&<field>=<value>&...&format=json&limit=all`` with the header
``Accept: application/json`` returns a JSON object whose ``@graph`` is the list of matching
objects; a repeated parameter means OR (``target.label=CTCF&target.label=H3K27ac``), different
parameters AND; ``field=`` restricts each object to the named properties (plus ``@id``/``@type``).
A search with no hit answers HTTP 404 with the same JSON shape (``"@graph": []`` and a
``notification`` such as "No results found"): that is an empty answer, not an error. The File
properties read here (schema: ENCODE-DCC/encoded ``src/encoded/schemas/file.json``; embedded
objects come nested, as in ``"target": {"label": "CTCF"}``)::

    accession            "ENCFF123ABC"
    href                 "/files/ENCFF123ABC/@@download/ENCFF123ABC.bigWig"  (relative to the portal)
    md5sum               32 hex characters
    file_size            bytes
    assembly             "GRCh38", "hg19", ...
    file_format          "bigWig", "tsv", ...
    output_type          "fold change over control", "read-depth normalized signal",
                         "gene quantifications", ...
    status               "released", "archived", "revoked", ...
    preferred_default    true on the file the portal shows by default (absent otherwise)
    date_created         ISO 8601 with time zone, "2020-10-02T21:55:02.123456+00:00"
    dataset              "/experiments/ENCSR000AKC/", or the embedded Experiment {"@id": ..., "accession": ...}
    biological_replicates  [1, 2] (a pooled file lists every replicate; integers)
    assay_term_name      "ChIP-seq", "DNase-seq", "RNA-seq"
    genome_annotation    "V29" (RNA-seq quantifications: the GENCODE version)
    biosample_ontology   {"term_name": "K562", ...}, or only its link "/biosample-types/cell_line_EFO_0002067/"
    target               {"label": "H3K27ac", ...}, or only its link "/targets/H3K27ac-human/" (ChIP-seq only)
    audit                {"ERROR": [...], "NOT_COMPLIANT": [...], "WARNING": [...], ...}: lists of
                         {"category", "detail", "level", "level_name"}; absent when clean

Linked objects come embedded (the default frame, and ``field=`` selections) or as ``@id`` strings
(``frame=object``); both are read. A target link names its label ("/targets/CTCF-human/" -> CTCF);
a biosample-type link does not name the term, so such a file cannot be attributed to a cell type:
it is skipped and counted in a warning. Without ``href`` the download path is built the way the
portal builds it (``/files/{accession}/@@download/{accession}{extension}``).
``GET {portal}{href}`` answers HTTP 307 to a signed file-store URL (ENCODE-DCC/encoded
``types/file.py``, view ``download``): the download follows the redirect.
tests/test_encode_portal.py checks all of this against fixtures validated by the portal's schemas.

Three queries cover a run (every configured biosample in each; status released, the configured
assembly):

* ChIP-seq, every configured target label: ``file_format=bigWig``,
  ``output_type=fold change over control``.
* DNase-seq: ``file_format=bigWig``, ``output_type`` fold change over control *or* read-depth
  normalized signal. The ENCODE DNase-seq pipeline has no control and publishes read-depth
  normalized signal; a fold-change file is preferred where one exists, otherwise the read-depth
  normalized signal is used (its scale differs from the ChIP tracks': features are transformed per
  track, and the model sees the same kind of file in every cell type).
* RNA-seq: ``file_format=tsv``, ``output_type=gene quantifications`` (RSEM tables with
  ``gene_id ... TPM``, what creator.targets reads).

Selection, per (cell type, assay), among the files that answer
-----------------------------------------------------------------
1. Kept: status released, the configured assembly, the expected format and output type, an md5
   and a download path, and no audit at a level in ``exclude_audits`` (default ERROR).
2. Ranked, the first wins: the preferred output type (DNase: fold change before read-depth
   normalized signal); ``preferred_default`` true; no audit at a level in ``avoid_audits`` (default
   NOT_COMPLIANT); for RNA-seq the genome annotation named by ``rnaseq_annotation``; more
   biological replicates (a pooled file before a single replicate); the most recent
   ``date_created``; then the accession, so that the same answer always gives the same manifest.
3. A track without a file is left out of the manifest (features are zeros for it) and named in the
   manifest's header; a train or test cell type without RNA-seq is an error (make it predict).

The manifest
------------
A TSV with ``#`` header lines (where and when it was resolved, the queries, what is missing) and
the columns :data:`MANIFEST_COLUMNS`: the sample sheet's ``cell_type role assay url md5`` and, for
provenance, ``accession assembly biosample target output_type experiment source`` (the sample sheet
reader ignores these; ``source`` says where the accession was read: the portal's JSON of the file
for a resolved manifest, a repository file or a paper's table for a hand-pinned row).
:func:`pinned_problems` lists what keeps a pinned manifest from being a real run's (placeholder or
malformed accessions, rows without a source); :func:`missing_tracks` what each cell type lacks. It is written atomically: a failed or interrupted query leaves any earlier
manifest untouched.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

import jsonschema
import yaml

from creator.errors import DownloadError, InputError
from creator.formats import RNASEQ, TRACKS

log = logging.getLogger(__name__)

PORTAL = "https://www.encodeproject.org"
USER_AGENT = "creator-workflow-encode/0.1"
FC = "fold change over control"
RDN = "read-depth normalized signal"
GENE_QUANT = "gene quantifications"
#: Output types each assay accepts, the preferred first.
OUTPUT_TYPES = {"DNase": (FC, RDN), RNASEQ: (GENE_QUANT,)}
CHIP_OUTPUT_TYPES = (FC,)
FILE_FORMAT = {RNASEQ: "tsv"}  # every track: bigWig
#: Download extension of each format read here (file.json ``file_format_file_extension``).
FILE_EXTENSION = {"bigWig": ".bigWig", "tsv": ".tsv"}
#: Portal target label of each ChIP-seq track (CREaTor's track names are the portal's labels).
TARGET_LABEL = {t: t for t in TRACKS if t != "DNase"}
AUDIT_LEVELS = ("ERROR", "NOT_COMPLIANT", "WARNING", "INTERNAL_ACTION")
FIELDS = ("accession", "href", "md5sum", "file_size", "assembly", "file_format", "output_type", "status",
          "preferred_default", "date_created", "dataset", "biological_replicates", "assay_term_name",
          "genome_annotation", "biosample_ontology.term_name", "target.label", "audit")
MANIFEST_COLUMNS = ("cell_type", "role", "assay", "url", "md5", "accession", "assembly", "biosample", "target",
                    "output_type", "experiment", "source")
#: The portal's File accession (file.json: ``^(ENCFF\\d{3}[A-Z]{3})$|^(TSTFF\\d{6})$``); TSTFF is its
#: pattern for test objects, never a released file.
ACCESSION = re.compile(r"^ENCFF\d{3}[A-Z]{3}$")

DEFAULTS: dict[str, Any] = {
    "portal": PORTAL,
    "assembly": "GRCh38",
    "assays": [*TRACKS, RNASEQ],
    "rnaseq_annotation": None,
    "exclude_audits": ["ERROR"],
    "avoid_audits": ["NOT_COMPLIANT"],
    "timeout_s": 60.0,
    "retries": 4,
}


# ----------------------------------------------------------------------------------------------
# Settings: the config's `encode` section
# ----------------------------------------------------------------------------------------------
def settings_from_config(config: dict, *, source: str = "config") -> dict:
    """The ``encode`` section of a config, validated against the config schema, with defaults."""
    from creator.config import _explain, load_schema

    section = (config or {}).get("encode")
    if not section:
        raise InputError("the config has no 'encode' section", path=source,
                         fix="add encode: {cell_types: [...]} (see config/encode_hg38.yaml)")
    schema = load_schema("config")["properties"]["encode"]
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(section),
                    key=lambda e: list(e.absolute_path))
    if errors:
        best = jsonschema.exceptions.best_match(errors)
        key, fix = _explain(best)
        raise InputError(f"config key 'encode.{key}': {best.message}", path=source, fix=fix)
    out = {**DEFAULTS, **section}
    out["cell_types"] = [{"biosample": c["name"], **c} for c in section["cell_types"]]
    names = [c["name"] for c in out["cell_types"]]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputError(f"config key 'encode.cell_types': {', '.join(dup)} listed twice", path=source,
                         fix="give each cell type one entry")
    return out


def load_settings(text_or_path: str) -> dict:
    """Settings from a config file or inline JSON/YAML (what the rule passes: ``{"encode": {...}}``)."""
    text = str(text_or_path)
    if text.lstrip().startswith("{"):
        return settings_from_config(yaml.safe_load(text) or {}, source="--config (inline)")
    with open(text) as fh:
        return settings_from_config(yaml.safe_load(fh) or {}, source=text)


# ----------------------------------------------------------------------------------------------
# Queries
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Query:
    """One search of the portal: ``kind`` is chip, dnase or rnaseq."""

    kind: str
    params: tuple[tuple[str, str], ...]

    def url(self, portal: str) -> str:
        return portal.rstrip("/") + "/search/?" + urllib.parse.urlencode(self.params)


def build_queries(settings: dict) -> list[Query]:
    """The searches for the configured cell types and assays (one per kind of assay present)."""
    common = [("type", "File"), ("status", "released"), ("assembly", settings["assembly"])]
    common += [("biosample_ontology.term_name", b)
               for b in dict.fromkeys(c["biosample"] for c in settings["cell_types"])]
    tail = [("field", f) for f in FIELDS] + [("format", "json"), ("limit", "all")]
    assays = settings["assays"]
    queries = []
    targets = [TARGET_LABEL[a] for a in assays if a in TARGET_LABEL]
    if targets:
        queries.append(Query("chip", tuple(
            [*common, ("assay_term_name", "ChIP-seq"), ("file_format", "bigWig")]
            + [("output_type", o) for o in CHIP_OUTPUT_TYPES] + [("target.label", t) for t in targets] + tail)))
    if "DNase" in assays:
        queries.append(Query("dnase", tuple(
            [*common, ("assay_term_name", "DNase-seq"), ("file_format", "bigWig")]
            + [("output_type", o) for o in OUTPUT_TYPES["DNase"]] + tail)))
    if RNASEQ in assays:
        queries.append(Query("rnaseq", tuple(
            [*common, ("assay_term_name", "RNA-seq"), ("file_format", FILE_FORMAT[RNASEQ]),
             ("output_type", GENE_QUANT)] + tail)))
    return queries


def fetch_json(url: str, *, timeout_s: float = 60.0, retries: int = 4, backoff_s: float = 1.0,
               sleep: Callable[[float], object] = time.sleep) -> dict:
    """GET ``url`` as JSON. A 404 whose body is a portal answer is an empty search; connection
    errors, timeouts, 5xx and 429 are retried ``retries`` times with exponential backoff."""
    request = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": USER_AGENT})
    for attempt in range(retries + 1):
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as resp:
                return json.loads(resp.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            body = exc.read()
            exc.close()
            if exc.code == 404:
                try:
                    answer = json.loads(body.decode("utf-8"))
                except ValueError:
                    answer = None
                if isinstance(answer, dict) and "@graph" in answer:
                    return answer  # no result
            if exc.code < 500 and exc.code != 429:
                raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}. Fix: check encode.portal and the "
                                    "encode settings (cell type names are the portal's biosample term names)")
            problem = f"HTTP {exc.code} {exc.reason}"
        except (OSError, ValueError) as exc:  # URLError, timeouts, resets, a truncated JSON body
            problem = f"{type(exc).__name__}: {getattr(exc, 'reason', None) or exc}"
        if attempt < retries:
            delay = backoff_s * 2 ** attempt
            log.warning("%s: attempt %d/%d failed (%s); retrying in %.3g s", url, attempt + 1, retries + 1,
                        problem, delay)
            sleep(delay)
    raise DownloadError(f"{url}: giving up after {retries + 1} attempt(s); last error: {problem}. Fix: check "
                        "the network (or keep using the pinned manifest: planning and running need no portal)")


# ----------------------------------------------------------------------------------------------
# Answers
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PortalFile:
    """The properties of one File object that the selection reads."""

    accession: str
    href: str
    md5sum: str
    assembly: str
    file_format: str
    output_type: str
    status: str
    assay: str
    biosample: str
    target: str = ""
    dataset: str = ""
    preferred_default: bool = False
    date_created: str = ""
    biological_replicates: tuple[int, ...] = ()
    genome_annotation: str = ""
    audits: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_json(cls, obj: dict) -> "PortalFile":
        audit = obj.get("audit") or {}
        levels = frozenset(level for level, items in audit.items() if items) if isinstance(audit, dict) else frozenset()
        accession = str(obj.get("accession") or "")
        file_format = str(obj.get("file_format") or "")
        href = str(obj.get("href") or "")
        if not href and accession and file_format in FILE_EXTENSION:
            href = f"/files/{accession}/@@download/{accession}{FILE_EXTENSION[file_format]}"
        biosample = _linked(obj.get("biosample_ontology"), "term_name")
        if not biosample and isinstance(obj.get("biosample_term_name"), str):  # older answers name it flat
            biosample = obj["biosample_term_name"]
        return cls(
            accession=accession,
            href=href,
            md5sum=str(obj.get("md5sum") or "").lower(),
            assembly=str(obj.get("assembly") or ""),
            file_format=file_format,
            output_type=str(obj.get("output_type") or ""),
            status=str(obj.get("status") or ""),
            assay=str(obj.get("assay_term_name") or ""),
            biosample=biosample,
            target=_linked(obj.get("target"), "label", link=_target_label),
            dataset=_linked(obj.get("dataset"), "@id") or _linked(obj.get("dataset"), "accession"),
            preferred_default=obj.get("preferred_default") is True,
            date_created=str(obj.get("date_created") or ""),
            biological_replicates=_replicates(obj.get("biological_replicates")),
            genome_annotation=str(obj.get("genome_annotation") or ""),
            audits=levels,
        )

    @property
    def experiment(self) -> str:
        return self.dataset.strip("/").split("/")[-1] if self.dataset else ""

    @property
    def created(self) -> float:
        try:
            when = datetime.fromisoformat(self.date_created)
        except ValueError:
            return 0.0
        return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()


def _linked(value: Any, key: str, *, link: Callable[[str], str] | None = None) -> str:
    """A property of a linked object: embedded (``{key: ...}``) or an ``@id`` string (read by ``link``)."""
    if isinstance(value, dict):
        got = value.get(key)
        if isinstance(got, str) and got:
            return got
        value = value.get("@id")
    if isinstance(value, str):
        return value if link is None and key == "@id" else (link(value) if link else "")
    return ""


def _target_label(at_id: str) -> str:
    """The label in a target link: "/targets/CTCF-human/" -> "CTCF" (the organism follows the last dash)."""
    name = at_id.strip("/").split("/")[-1] if at_id.startswith("/targets/") else ""
    return name.rsplit("-", 1)[0] if "-" in name else name


def _replicates(value: Any) -> tuple[int, ...]:
    """``biological_replicates`` as integers (the portal's type); anything else is ignored."""
    out = []
    for r in value if isinstance(value, list) else ():
        if isinstance(r, bool):
            continue
        if isinstance(r, int) or (isinstance(r, str) and r.isdigit()):
            out.append(int(r))
    return tuple(out)


def parse_search(answer: Any, *, source: str = "portal answer") -> list[PortalFile]:
    """The File objects of a search answer (a JSON object with ``@graph``)."""
    if not isinstance(answer, dict) or not isinstance(answer.get("@graph"), list):
        raise InputError("not an ENCODE search answer (no '@graph' list)", path=source,
                         fix="check encode.portal: it must be the portal's base URL")
    files, unattributed = [], []
    for obj in answer["@graph"]:
        types = obj.get("@type", ["File"]) if isinstance(obj, dict) else []
        if not isinstance(obj, dict) or not ("File" in types or ("accession" in obj and "@type" not in obj)):
            continue
        f = PortalFile.from_json(obj)
        if not f.biosample:
            unattributed.append(f.accession or str(obj.get("@id")))
            continue
        files.append(f)
    if unattributed:
        log.warning("%s: %d file(s) skipped: their biosample_ontology is a bare link, not its term_name (%s); "
                    "the queries ask for field=biosample_ontology.term_name, so the portal's answer changed shape",
                    source, len(unattributed), ", ".join(unattributed[:5]))
    return files


def assay_of(f: PortalFile) -> str | None:
    """The manifest assay (one of the 16 tracks or rnaseq) a portal file stands for."""
    if f.assay == "DNase-seq":
        return "DNase"
    if f.assay == "RNA-seq":
        return RNASEQ
    if f.assay == "ChIP-seq":
        return next((t for t, label in TARGET_LABEL.items() if label == f.target), None)
    return None


def rejection(f: PortalFile, assay: str, settings: dict) -> str | None:
    """Why ``f`` may not stand for ``assay`` (None when it may)."""
    if f.status != "released":
        return f"status {f.status}"
    if f.assembly != settings["assembly"]:
        return f"assembly {f.assembly or '(none)'}"
    if f.file_format != FILE_FORMAT.get(assay, "bigWig"):
        return f"format {f.file_format}"
    if f.output_type not in OUTPUT_TYPES.get(assay, CHIP_OUTPUT_TYPES):
        return f"output type {f.output_type}"
    if len(f.md5sum) != 32 or not f.href or not f.accession:
        return "no md5, download path or accession"
    bad = sorted(f.audits & set(settings["exclude_audits"]))
    if bad:
        return f"audit {', '.join(bad)}"
    return None


def rank(f: PortalFile, assay: str, settings: dict) -> tuple:
    """Sort key: the first file wins (see the module docstring)."""
    want = settings.get("rnaseq_annotation")
    return (OUTPUT_TYPES.get(assay, CHIP_OUTPUT_TYPES).index(f.output_type),
            not f.preferred_default,
            bool(f.audits & set(settings["avoid_audits"])),
            assay == RNASEQ and bool(want) and f.genome_annotation != want,
            -len(f.biological_replicates),
            -f.created,
            f.accession)


def select(files: Iterable[PortalFile], settings: dict) -> tuple[list[dict], list[str]]:
    """Manifest rows (cell types in config order, assays in track order) and notes on what is missing."""
    by_biosample: dict[str, list[dict]] = {}
    for cell in settings["cell_types"]:
        by_biosample.setdefault(cell["biosample"], []).append(cell)
    candidates: dict[tuple[str, str], list[PortalFile]] = {}
    for f in files:
        assay = assay_of(f)
        if assay is None or assay not in settings["assays"] or f.biosample not in by_biosample:
            continue
        why = rejection(f, assay, settings)
        if why:
            log.debug("%s (%s %s): skipped: %s", f.accession, f.biosample, assay, why)
            continue
        for cell in by_biosample[f.biosample]:
            candidates.setdefault((cell["name"], assay), []).append(f)
    portal = settings["portal"].rstrip("/")
    rows, notes = [], []
    for cell in settings["cell_types"]:
        name, role = cell["name"], cell["role"]
        missing = []
        for assay in [a for a in (*TRACKS, RNASEQ) if a in settings["assays"]]:
            found = sorted(candidates.get((name, assay), []), key=lambda f: rank(f, assay, settings))
            if not found:
                missing.append(assay)
                continue
            f = found[0]
            if len(found) > 1:
                log.info("%s %s: %s of %d candidates (%s, %s)", name, assay, f.accession, len(found),
                         f.output_type, f.experiment)
            url = f.href if "://" in f.href else portal + f.href
            rows.append(dict(cell_type=name, role=role, assay=assay, url=url, md5=f.md5sum, accession=f.accession,
                             assembly=f.assembly, biosample=f.biosample, target=f.target,
                             output_type=f.output_type, experiment=f.experiment,
                             source=f"ENCODE portal JSON {portal}/files/{f.accession}/?format=json"))
        tracks = [r for r in rows if r["cell_type"] == name and r["assay"] != RNASEQ]
        if not tracks:
            raise InputError(f"no released {settings['assembly']} signal file on the portal for cell type {name} "
                             f"(biosample '{cell['biosample']}')", path="encode.cell_types",
                             fix="check the biosample term name on the portal, or remove the cell type")
        if RNASEQ in missing and role in ("train", "test") and RNASEQ in settings["assays"]:
            raise InputError(f"cell type {name} has role {role} but the portal has no released "
                             f"{settings['assembly']} RNA-seq gene quantifications for '{cell['biosample']}'",
                             path="encode.cell_types", fix=f"make {name}'s role predict, or remove it")
        if missing:
            notes.append(f"{name}: no file for {', '.join(missing)}"
                         + (" (features are zeros for these tracks)" if set(missing) - {RNASEQ} else ""))
    return rows, notes


# ----------------------------------------------------------------------------------------------
# Resolve and write
# ----------------------------------------------------------------------------------------------
def resolve(settings: dict, *, fetch: Callable[..., dict] | None = None) -> tuple[list[dict], list[str], list[str]]:
    """Query the portal (with ``fetch``, default :func:`fetch_json`); return (manifest rows, notes, query URLs)."""
    fetch = fetch or fetch_json
    urls, files = [], []
    for query in build_queries(settings):
        url = query.url(settings["portal"])
        answer = fetch(url, timeout_s=settings["timeout_s"], retries=settings["retries"])
        found = parse_search(answer, source=url)
        log.info("%s query: %d files (%s)", query.kind, len(found), url)
        urls.append(url)
        files += found
    rows, notes = select(files, settings)
    return rows, notes, urls


def write_manifest(rows: list[dict], dest: str | Path, *, header: Iterable[str] = ()) -> None:
    """Write the manifest TSV atomically (``#`` header lines, then the columns)."""
    from creator.io import atomic_path

    with atomic_path(dest) as tmp:
        with open(tmp, "w", newline="") as fh:
            for line in header:
                fh.write(f"# {line}\n")
            fh.write("\t".join(MANIFEST_COLUMNS) + "\n")
            for row in rows:
                fh.write("\t".join(str(row.get(c) or "") for c in MANIFEST_COLUMNS) + "\n")


def read_manifest(path: str | Path) -> list[dict]:
    """Rows of a manifest (or any sample sheet) as dicts; ``#`` lines skipped."""
    with open(path) as fh:
        lines = [ln.rstrip("\n") for ln in fh if ln.strip() and not ln.startswith("#")]
    if not lines:
        return []
    columns = lines[0].split("\t")
    return [dict(zip(columns, ln.split("\t"))) for ln in lines[1:]]


def pinned_problems(rows: list[dict], *, assembly: str = "GRCh38") -> list[str]:
    """What keeps a pinned manifest from being a real run's, one line per problem (empty: none).

    Every row needs a released-file accession of the portal's form (``ENCFF`` + 3 digits + 3
    letters; ``TSTFF`` accessions are the portal's test objects), a URL naming it, the run's
    assembly and a ``source`` saying where the accession was read."""
    out = []
    for i, r in enumerate(rows, start=1):
        where = f"row {i} ({r.get('cell_type', '?')} {r.get('assay', '?')})"
        acc = (r.get("accession") or "").strip()
        if acc.startswith("TSTFF"):
            out.append(f"{where}: placeholder accession {acc} (the portal's test-object pattern)")
        elif not ACCESSION.match(acc):
            out.append(f"{where}: accession {acc or '(none)'} is not ENCFF + 3 digits + 3 letters")
        elif acc not in (r.get("url") or ""):
            out.append(f"{where}: url does not name {acc}")
        if not (r.get("source") or "").strip():
            out.append(f"{where}: no source (where the accession was read)")
        if (r.get("assembly") or assembly) != assembly:
            out.append(f"{where}: assembly {r.get('assembly')} is not {assembly}")
    return out


def missing_tracks(rows: list[dict]) -> dict[str, list[str]]:
    """Per cell type of the manifest, the tracks it has no row for (their features are zeros)."""
    have: dict[str, set[str]] = {}
    for r in rows:
        have.setdefault(r.get("cell_type", ""), set()).add(r.get("assay", ""))
    return {cell: [t for t in TRACKS if t not in assays] for cell, assays in have.items()
            if any(t not in assays for t in TRACKS)}


def compare(old: list[dict], new: list[dict]) -> list[str]:
    """What changed between a pinned manifest and a fresh one, one line per (cell type, assay)."""
    key = lambda r: (r.get("cell_type", ""), r.get("assay", ""))  # noqa: E731
    before, after = {key(r): r for r in old}, {key(r): r for r in new}
    out = []
    for k in sorted(before.keys() | after.keys()):
        a, b = before.get(k), after.get(k)
        if a is None:
            out.append(f"added   {k[0]} {k[1]}: {b.get('accession') or b['url']}")
        elif b is None:
            out.append(f"removed {k[0]} {k[1]}: {a.get('accession') or a['url']}")
        elif (a.get("url"), a.get("md5")) != (b.get("url"), b.get("md5")):
            out.append(f"changed {k[0]} {k[1]}: {a.get('accession') or a['url']} -> {b.get('accession') or b['url']}")
    return out


def _cli(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    if args.portal:
        settings["portal"] = args.portal
    rows, notes, urls = resolve(settings)
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    cells = ", ".join(f"{c['name']} ({c['role']})" for c in settings["cell_types"])
    header = [f"ENCODE manifest: resolved by `creator encode-manifest` from {settings['portal']} on {now}.",
              "Pin it by committing it; it is the sample sheet of the run (config key 'samples').",
              f"Assembly {settings['assembly']}; cell types {cells}; {len(rows)} files.",
              *(f"Missing: {n}" for n in notes), *(f"Query: {u}" for u in urls)]
    write_manifest(rows, args.out, header=header)
    log.info("wrote %s: %d files for %d cell types", args.out, len(rows), len(settings["cell_types"]))
    for note in notes:
        log.warning("%s", note)
    if args.pinned and Path(args.pinned).exists():
        changes = compare(read_manifest(args.pinned), rows)
        for line in changes:
            log.info("vs %s: %s", args.pinned, line)
        log.info("vs %s: %s", args.pinned, f"{len(changes)} change(s)" if changes else "no change")
    return 0


def add_cli(sub) -> None:
    p = sub.add_parser("encode-manifest", help="resolve ENCODE files into a manifest / sample sheet (network)",
                       description=__doc__.splitlines()[0])
    p.add_argument("--config", required=True,
                   help="config file (or inline JSON/YAML) with an 'encode' section")
    p.add_argument("--out", required=True, help="manifest TSV to write")
    p.add_argument("--portal", default=None, help="portal base URL (default: encode.portal of the config)")
    p.add_argument("--pinned", default=None, help="a pinned manifest: log what changed against it")
    p.set_defaults(func=_cli)
