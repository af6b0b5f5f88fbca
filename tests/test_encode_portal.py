"""The resolver against the ENCODE portal's real record shapes.

The fixtures (tests/data/encode/*.json) must validate against faithful subsets of the portal's
published File and Experiment schemas (tests/data/encode/schemas, sources in their $comment); the
resolver must read every shape they use; a manifest URL must download through the portal's
``@@download`` redirect to the file store. All served on 127.0.0.1 by tests/encode_portal.py.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from datetime import datetime, timezone

import jsonschema
import pytest

from creator import download, encode
from creator.errors import DownloadError
from encode_portal import ANSWER, DATA, answer, body, records
from encode_portal import portal  # noqa: F401 (the fixture)

SCHEMAS = DATA / "schemas"


FORMATS = jsonschema.FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value) -> bool:
    """RFC 3339 date-time, as the portal writes it ("2020-10-02T21:55:02.394127+00:00"); jsonschema
    checks it only with an optional package, so it is checked here."""
    if not isinstance(value, str):
        return True
    return "T" in value and datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo is not None


def validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMAS / f"{name}.json").read_text())
    return jsonschema.Draft202012Validator(schema, format_checker=FORMATS)


def errors(v, obj) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in v.iter_errors(obj)]


# ----------------------------------------------------------------------------------------------
def test_schemas_name_their_sources():
    for name in ("file", "experiment"):
        schema = json.loads((SCHEMAS / f"{name}.json").read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        assert "github.com/ENCODE-DCC/encoded/blob/" in schema["$comment"]
        assert f"src/encoded/schemas/{name}.json" in schema["$comment"]
        assert schema["additionalProperties"] is False


def test_fixtures_validate_against_the_portal_schemas():
    files, experiments = validator("file"), validator("experiment")
    n_embedded = 0
    for name in ANSWER.values():
        raw = json.loads((DATA / name).read_text())
        prov = raw["_provenance"]
        for obj in answer(name)["@graph"]:
            assert not errors(files, obj), (name, obj["accession"], errors(files, obj))
            assert obj["accession"] in prov["records"], f"{name}: {obj['accession']} has no provenance note"
            if isinstance(obj["dataset"], dict):
                n_embedded += 1
                assert not errors(experiments, obj["dataset"]), errors(experiments, obj["dataset"])
    assert n_embedded >= 1  # the Experiment schema is exercised
    # the shapes the resolver must handle are all present in the fixtures
    recs = records()
    assert any(isinstance(r.get("target"), str) for r in recs)
    assert any(isinstance(r.get("biosample_ontology"), str) for r in recs)
    assert any("href" not in r for r in recs)
    assert any(len(r["date_created"]) == 10 for r in recs)
    assert {lvl for r in recs for lvl in r.get("audit", {})} == set(encode.AUDIT_LEVELS)


@pytest.mark.parametrize("change, message", [
    (lambda r: r.update(biological_replicates=["1", "2"]), "is not of type 'integer'"),
    (lambda r: r.update(accession="ENCFF12ABC"), "does not match"),
    (lambda r: r.update(output_type="fold-change over control"), "is not valid under any of the given schemas"),
    (lambda r: r.update(md5sum="1b25849571507eae"), "does not match"),
    (lambda r: r.update(biological_replicate=[1]), "Additional properties are not allowed"),
    (lambda r: r.update(status="current"), "is not one of"),
    (lambda r: r.update(assembly="hg38"), "is not one of"),
    (lambda r: r.update(date_created="02/10/2020"), "is not valid under any of the given schemas"),
    (lambda r: r.update(target={"label": 5}), "is not valid under any of the given schemas"),
    (lambda r: r.update(audit={"FATAL": []}), "Additional properties are not allowed"),
])
def test_a_drifted_fixture_fails_the_schema(change, message):
    """The schema check is not a formality: each of these plausible drifts is caught."""
    rec = copy.deepcopy(next(r for r in records() if r["accession"] == "ENCFF101AAA"))
    assert not errors(validator("file"), rec)
    change(rec)
    found = errors(validator("file"), rec)
    assert any(message in e for e in found), found


def test_a_drifted_embedded_experiment_fails_its_schema():
    exp = copy.deepcopy(next(r for r in records() if r["accession"] == "ENCFF101AAA")["dataset"])
    assert not errors(validator("experiment"), exp)
    exp["accession"] = "ENCFF101AAA"  # a file accession where the experiment's belongs
    assert any("does not match" in e for e in errors(validator("experiment"), exp))


# ----------------------------------------------------------------------------------------------
def by_accession(acc: str) -> encode.PortalFile:
    return encode.PortalFile.from_json(next(r for r in records() if r["accession"] == acc))


def test_every_shape_is_read():
    f = by_accession("ENCFF101AAA")                      # dataset: an embedded Experiment
    assert f.experiment == "ENCSR000AKP" and f.dataset == "/experiments/ENCSR000AKP/"
    assert f.biological_replicates == (1, 2) and f.audits == {"INTERNAL_ACTION"}
    assert by_accession("ENCFF102AAC").target == "CTCF"  # target: an @id string
    f = by_accession("ENCFF103AAB")                      # fully embedded biosample type, upper-case md5
    assert f.biosample == "K562" and f.md5sum == f.md5sum.lower() and len(f.md5sum) == 32
    assert f.preferred_default is False
    f = by_accession("ENCFF121AAA")                      # no href: the portal's download path
    assert f.href == "/files/ENCFF121AAA/@@download/ENCFF121AAA.tsv"
    f = by_accession("ENCFF111AAB")                      # a date-only date_created
    assert f.created == datetime(2016, 8, 1, tzinfo=timezone.utc).timestamp()
    assert by_accession("ENCFF106AAA").biosample == ""   # a bare biosample link: unattributable
    assert encode._target_label("/targets/POLR2AphosphoS5-human/") == "POLR2AphosphoS5"
    assert encode._target_label("/targets/eGFP-CTCF-human/") == "eGFP-CTCF"
    assert encode._replicates([2, "1", True, "x", None]) == (2, 1)
    assert encode._replicates(None) == ()
    # an embedded dataset that carries only its accession still names the experiment
    bare = dict(next(r for r in records() if r["accession"] == "ENCFF101AAA"), dataset={"accession": "ENCSR000AKP"})
    assert encode.PortalFile.from_json(bare).experiment == "ENCSR000AKP"


def test_unattributable_files_are_skipped_and_counted(caplog):
    caplog.set_level(logging.WARNING, logger="creator.encode")
    files = encode.parse_search(answer("chip.json"), source="chip answer")
    assert "ENCFF106AAA" not in {f.accession for f in files}
    assert len(files) == len(answer("chip.json")["@graph"]) - 1
    assert any("chip answer: 1 file(s) skipped" in r.message and "ENCFF106AAA" in r.message for r in caplog.records)


# ----------------------------------------------------------------------------------------------
def test_manifest_url_downloads_through_the_redirect(portal, tmp_path):
    """The resolved URL is the portal's @@download path; it answers 307 to the file store, and the
    download follows it and checks the md5 the portal published."""
    section = {"portal": portal.url, "retries": 0, "rnaseq_annotation": "V29",
               "cell_types": [{"name": "K562", "role": "test"}]}
    rows, _, _ = encode.resolve(encode.settings_from_config({"encode": section}))
    row = next(r for r in rows if r["assay"] == "H3K27ac")
    assert row["url"] == f"{portal.url}/files/ENCFF101AAA/@@download/ENCFF101AAA.bigWig"
    expected = body("ENCFF101AAA.bigWig")
    assert row["md5"] == hashlib.md5(expected).hexdigest()  # golden: the fixture's md5sum is that of the body
    dest = download.fetch(row["url"], tmp_path / "K562" / "H3K27ac.bigWig", md5=row["md5"], retries=0)
    assert dest.read_bytes() == expected
    assert portal.paths[-2:] == ["/files/ENCFF101AAA/@@download/ENCFF101AAA.bigWig",
                                 "/encode-public/2020/10/02/7f3c2a1e-0000-4000-8000-000000101aaa/ENCFF101AAA.bigWig"]
    # the RNA-seq row had no href in the answer: the built path downloads too
    rna = next(r for r in rows if r["assay"] == "rnaseq")
    assert rna["url"].endswith("/files/ENCFF121AAA/@@download/ENCFF121AAA.tsv")
    assert download.fetch(rna["url"], tmp_path / "K562" / "rnaseq.tsv", retries=0).read_bytes() == body("ENCFF121AAA.tsv")


def test_a_wrong_download_name_is_a_clear_error(portal, tmp_path):
    url = f"{portal.url}/files/ENCFF101AAA/@@download/ENCFF101AAB.bigWig"  # the portal's view: 404
    with pytest.raises(DownloadError, match="HTTP 404"):
        download.fetch(url, tmp_path / "x.bigWig", retries=0)
    assert not (tmp_path / "x.bigWig").exists()
