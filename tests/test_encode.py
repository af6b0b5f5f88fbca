"""creator.encode against portal-shaped answers (tests/encode_portal.py) served on 127.0.0.1; the encode_manifest
rule; the genome-wide config planning offline from its pinned manifest."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from conftest import REPO, copy_workflow
from encode_portal import portal  # noqa: F401 (the fixture)
from creator import encode
from creator.config import cell_types, read_samples
from creator.errors import DownloadError, InputError
from creator.formats import RNASEQ, TRACKS


def settings(portal_url: str, **over) -> dict:
    section = {"portal": portal_url, "assembly": "GRCh38", "rnaseq_annotation": "V29", "retries": 0,
               "cell_types": [{"name": "K562", "role": "test"}, {"name": "GM12878", "role": "train"},
                              {"name": "HepG2", "role": "predict"}]}
    section.update(over)
    return encode.settings_from_config({"encode": section})


def by_key(rows):
    return {(r["cell_type"], r["assay"]): r for r in rows}


# ----------------------------------------------------------------------------------------------
def test_queries_ask_for_what_the_selection_needs():
    s = settings("https://www.encodeproject.org")
    queries = {q.kind: dict_of_lists(q.params) for q in encode.build_queries(s)}
    assert set(queries) == {"chip", "dnase", "rnaseq"}
    for q in queries.values():
        assert q["type"] == ["File"] and q["status"] == ["released"] and q["assembly"] == ["GRCh38"]
        assert q["biosample_ontology.term_name"] == ["K562", "GM12878", "HepG2"]
        assert q["format"] == ["json"] and q["limit"] == ["all"]
        assert {"accession", "href", "md5sum", "preferred_default", "audit", "target.label"} <= set(q["field"])
    assert queries["chip"]["output_type"] == ["fold change over control"]
    assert queries["chip"]["file_format"] == ["bigWig"]
    assert sorted(queries["chip"]["target.label"]) == sorted(t for t in TRACKS if t != "DNase")
    assert queries["dnase"]["output_type"] == ["fold change over control", "read-depth normalized signal"]
    assert queries["rnaseq"]["output_type"] == ["gene quantifications"] and queries["rnaseq"]["file_format"] == ["tsv"]
    url = encode.build_queries(s)[0].url("https://www.encodeproject.org/")
    assert url.startswith("https://www.encodeproject.org/search/?type=File&") and "fold+change+over+control" in url
    only = settings("https://x.org", assays=["H3K27ac"])
    assert [q.kind for q in encode.build_queries(only)] == ["chip"]


def dict_of_lists(params):
    out: dict[str, list[str]] = {}
    for k, v in params:
        out.setdefault(k, []).append(v)
    return out


def test_selection_rules(portal):
    rows, notes, urls = encode.resolve(settings(portal.url))
    got = by_key(rows)
    acc = {k: r["accession"] for k, r in got.items()}
    assert acc[("K562", "H3K27ac")] == "ENCFF101AAA"  # preferred default, pooled (not hg19, not revoked)
    assert acc[("K562", "CTCF")] == "ENCFF102AAC"     # ERROR audit excluded, NOT_COMPLIANT avoided
    assert acc[("K562", "H3K4me3")] == "ENCFF103AAB"  # the most recent
    assert acc[("K562", "DNase")] == "ENCFF111AAB"    # fold change before read-depth normalized signal
    assert got[("K562", "DNase")]["output_type"] == "fold change over control"
    assert acc[("GM12878", "DNase")] == "ENCFF211AAA"  # read-depth normalized signal when no fold change
    assert got[("GM12878", "DNase")]["output_type"] == "read-depth normalized signal"
    assert acc[("HepG2", "DNase")] == "ENCFF311AAA"   # not the archived one
    assert acc[("K562", RNASEQ)] == "ENCFF121AAA"     # GENCODE V29 before a newer V24
    assert ("HepG2", RNASEQ) not in got               # a predict cell needs no RNA-seq
    assert not any(r["accession"] in ("ENCFF104AAA", "ENCFF105AAA") for r in rows)  # other target, biosample
    r = got[("K562", "H3K27ac")]
    assert r["url"] == f"{portal.url}/files/ENCFF101AAA/@@download/ENCFF101AAA.bigWig"
    assert len(r["md5"]) == 32 and r["role"] == "test" and r["target"] == "H3K27ac" and r["assembly"] == "GRCh38"
    assert r["biosample"] == "K562" and r["experiment"] == "ENCSR000AKP"
    # rows: cell types in config order, assays in track order
    assert [k for k in got] == sorted(got, key=lambda k: (["K562", "GM12878", "HepG2"].index(k[0]),
                                                          [*TRACKS, RNASEQ].index(k[1])))
    assert any(n.startswith("K562: no file for") and "EP300" in n for n in notes)
    assert len(urls) == 3 and all(u.startswith(portal.url + "/search/?") for u in urls)
    assert all(q["assembly"] == ["GRCh38"] for q in portal.requests)


def test_manifest_is_a_sample_sheet_and_atomic(portal, tmp_path, monkeypatch):
    out = tmp_path / "manifest.tsv"
    rc = run_cli(["--config", inline(portal.url), "--out", str(out)])
    assert rc == 0
    text = out.read_text()
    assert text.startswith("# ENCODE manifest: resolved by `creator encode-manifest` from " + portal.url)
    assert "# Query: " + portal.url + "/search/?" in text and "# Missing: HepG2" in text
    header = next(ln for ln in text.splitlines() if not ln.startswith("#")).split("\t")
    assert tuple(header) == encode.MANIFEST_COLUMNS
    samples = read_samples(out)  # the provenance columns are ignored by the sample sheet reader
    assert cell_types(samples) == ["K562", "GM12878", "HepG2"]
    assert {s.role for s in samples if s.cell_type == "GM12878"} == {"train"}
    assert all(s.md5 and len(s.md5) == 32 for s in samples)
    rows = encode.read_manifest(out)
    assert rows and all(r["source"] == f"ENCODE portal JSON {portal.url}/files/{r['accession']}/?format=json"
                        for r in rows)
    assert encode.pinned_problems(rows) == []  # a resolved manifest is a real run's
    # a failed refresh leaves the earlier manifest untouched (and no temporary file behind)
    monkeypatch.setattr(encode, "fetch_json", lambda *a, **k: (_ for _ in ()).throw(DownloadError("offline")))
    with pytest.raises(DownloadError):
        run_cli(["--config", inline(portal.url), "--out", str(out)])
    assert out.read_text() == text
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.tsv"]


def inline(portal_url: str, **over) -> str:
    section = {"portal": portal_url, "rnaseq_annotation": "V29", "retries": 0,
               "cell_types": [{"name": "K562", "role": "test"}, {"name": "GM12878", "role": "train"},
                              {"name": "HepG2", "role": "predict"}], **over}
    return json.dumps({"encode": section})


def run_cli(args):
    from creator.cli import build_parser

    parsed = build_parser("encode-manifest").parse_args(["encode-manifest", *args])
    return parsed.func(parsed)


def test_compare_with_the_pinned_manifest(portal, tmp_path, caplog):
    pinned = tmp_path / "pinned.tsv"
    assert run_cli(["--config", inline(portal.url), "--out", str(pinned)]) == 0
    rows = encode.read_manifest(pinned)
    rows[0]["url"] = "https://example.org/old.bigWig"  # what a portal update looks like
    encode.write_manifest(rows[:-1], pinned)
    caplog.set_level("INFO", logger="creator.encode")
    assert run_cli(["--config", inline(portal.url), "--out", str(tmp_path / "new.tsv"),
                    "--pinned", str(pinned)]) == 0
    changes = [r.message for r in caplog.records if r.message.startswith(f"vs {pinned}:")]
    assert any("changed K562 CTCF" in m for m in changes) and any("added" in m for m in changes)
    assert changes[-1].endswith("2 change(s)")


def test_empty_search_answers_404_and_is_empty(portal):
    answer = encode.fetch_json(f"{portal.url}/search/?type=File&assay_term_name=DNase-seq"
                               "&biosample_ontology.term_name=NoSuchCell", retries=0)
    assert answer["@graph"] == [] and answer["notification"] == "No results found"
    with pytest.raises(InputError, match="no released GRCh38 signal file .*'NoSuchCell'"):
        encode.resolve(settings(portal.url, cell_types=[{"name": "X", "biosample": "NoSuchCell", "role": "train"}]))


def test_train_cell_without_rnaseq_is_an_error(portal):
    cells = [{"name": "K562", "role": "train"}, {"name": "HepG2", "role": "train"}]
    with pytest.raises(InputError, match="HepG2 has role train but .* RNA-seq.*make HepG2's role predict"):
        encode.resolve(settings(portal.url, cell_types=cells))


def test_transient_errors_are_retried_and_final_ones_named(portal):
    portal.fail_first = 2
    slept = []
    url = f"{portal.url}/search/?type=File&assay_term_name=RNA-seq&biosample_ontology.term_name=K562"
    answer = encode.fetch_json(url, retries=2, backoff_s=0.5, sleep=slept.append)
    assert [f["accession"] for f in answer["@graph"]][:1] == ["ENCFF121AAA"] and slept == [0.5, 1.0]
    portal.fail_first = 5
    with pytest.raises(DownloadError, match="giving up after 2 attempt"):
        encode.fetch_json(url, retries=1, backoff_s=0, sleep=slept.append)
    portal.fail_first = 0
    with pytest.raises(DownloadError, match="HTTP 400"):  # a final 4xx is not retried
        encode.fetch_json(f"{portal.url}/other/", retries=3, sleep=slept.append)


def test_not_a_portal_answer_and_bad_settings_are_clear():
    with pytest.raises(InputError, match="not an ENCODE search answer"):
        encode.parse_search({"hello": 1})
    with pytest.raises(InputError, match="encode.cell_types.0.role"):
        encode.settings_from_config({"encode": {"cell_types": [{"name": "K562", "role": "teach"}]}})
    with pytest.raises(InputError, match="K562 listed twice"):
        encode.settings_from_config({"encode": {"cell_types": [{"name": "K562", "role": "test"}] * 2}})
    with pytest.raises(InputError, match="no 'encode' section"):
        encode.settings_from_config({"outdir": "x"})


# ----------------------------------------------------------------------------------------------
# The workflow
# ----------------------------------------------------------------------------------------------
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def snakemake(args, cwd):
    return subprocess.run(SNAKEMAKE + args, cwd=cwd, capture_output=True, text=True, timeout=600)


def test_genome_wide_config_plans_offline_from_the_pinned_manifest():
    """`snakemake -n --configfile config/encode_hg38.yaml` plans the whole genome-wide DAG with no
    network: the sample sheet is the committed manifest; the manifest rule is not part of the run."""
    p = snakemake(["-n", "--forceall", "--configfile", "config/encode_hg38.yaml"], REPO)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out[-4000:]
    cfg = yaml.safe_load((REPO / "config/encode_hg38.yaml").read_text())
    cells = [c["name"] for c in cfg["encode"]["cell_types"]]
    stats = dict(line.split() for line in out.split("Job stats:")[1].split("total")[0].splitlines()[3:] if line.strip())
    assert int(stats["features"]) == len(cells) and int(stats["predict"]) == len(cells)
    assert int(stats["targets"]) == sum(c["role"] != "predict" for c in cfg["encode"]["cell_types"])
    assert int(stats["train"]) == 1 and int(stats["download"]) > 16 * len(cells)
    assert "encode_manifest" not in stats
    assert "resources/encode_hg38/K562/H3K27ac.bigWig" in out
    # planning names what keeps the pinned manifest from a real run (none once it is pinned)
    problems = encode.pinned_problems(encode.read_manifest(REPO / cfg["samples"]))
    assert ("problem(s) in" in out) == bool(problems)


def test_pinned_problems_and_missing_tracks():
    good = {"cell_type": "K562", "assay": "DNase", "accession": "ENCFF123ABC", "assembly": "GRCh38",
            "url": "https://www.encodeproject.org/files/ENCFF123ABC/@@download/ENCFF123ABC.bigWig",
            "source": "ENCODE-DCC/some-repo/path.tsv"}
    assert encode.pinned_problems([good]) == []
    bad = [dict(good, accession="TSTFF001001", url=good["url"].replace("ENCFF123ABC", "TSTFF001001")),
           dict(good, accession="ENCFF12ABC"), dict(good, url="https://example.org/x.bigWig"),
           dict(good, source=" "), dict(good, assembly="hg19")]
    problems = encode.pinned_problems(bad)
    assert problems == ["row 1 (K562 DNase): placeholder accession TSTFF001001 (the portal's test-object pattern)",
                        "row 2 (K562 DNase): accession ENCFF12ABC is not ENCFF + 3 digits + 3 letters",
                        "row 3 (K562 DNase): url does not name ENCFF123ABC",
                        "row 4 (K562 DNase): no source (where the accession was read)",
                        "row 5 (K562 DNase): assembly hg19 is not GRCh38"]
    rows = [good, dict(good, assay="rnaseq"), *(dict(good, cell_type="HepG2", assay=t) for t in TRACKS)]
    assert encode.missing_tracks(rows) == {"K562": [t for t in TRACKS if t != "DNase"]}


def test_pinned_manifest_is_a_real_runs():
    """Every row a real, sourced ENCODE file (issue 16 item 1: the hand-pinned manifest)."""
    cfg = yaml.safe_load((REPO / "config/encode_hg38.yaml").read_text())
    rows = encode.read_manifest(REPO / cfg["samples"])
    assert rows and encode.pinned_problems(rows, assembly=cfg["encode"]["assembly"]) == []


def test_absent_rows_plan_and_are_named(tmp_path):
    """A manifest without some tracks still plans: those features are zeros, and planning says so."""
    cfg = yaml.safe_load((REPO / "config/encode_hg38.yaml").read_text())
    text = (REPO / cfg["samples"]).read_text().splitlines()
    drop = {("K562", "EP300"), ("H1", "H3K9me3"), ("H1", "H4K20me1")}  # two cell types with all 16 tracks
    kept = [ln for ln in text if ln.startswith("#") or tuple(ln.split("\t")[:3:2]) not in drop]
    assert len(kept) == len(text) - len(drop)
    sheet = tmp_path / "manifest.tsv"
    sheet.write_text("\n".join(kept) + "\n")
    full = snakemake(["-n", "--forceall", "--configfile", "config/encode_hg38.yaml"], REPO)
    part = snakemake(["-n", "--forceall", "--configfile", "config/encode_hg38.yaml", "--config", f"samples={sheet}"],
                     REPO)
    out = part.stdout + part.stderr
    assert part.returncode == 0, out[-4000:]
    assert f"{sheet}: K562 has no file for EP300: these features are zeros" in out
    assert f"{sheet}: H1 has no file for H3K9me3, H4K20me1: these features are zeros" in out
    assert job_count(part, "download") == job_count(full, "download") - len(drop)
    assert job_count(part, "features") == job_count(full, "features") == len(cfg["encode"]["cell_types"])


def job_count(p, rule: str) -> int:
    out = p.stdout + p.stderr
    stats = dict(line.split() for line in out.split("Job stats:")[1].split("total")[0].splitlines()[3:] if line.strip())
    return int(stats[rule])


def test_pinned_manifest_agrees_with_the_config():
    cfg = yaml.safe_load((REPO / "config/encode_hg38.yaml").read_text())
    assert cfg["samples"] == "config/encode_manifest.tsv"
    samples = read_samples(REPO / cfg["samples"])
    want = {c["name"]: c["role"] for c in cfg["encode"]["cell_types"]}
    assert cell_types(samples) == list(want)
    assert all(s.role == want[s.cell_type] for s in samples)
    rows = encode.read_manifest(REPO / cfg["samples"])
    assert all(r["assembly"] == cfg["encode"]["assembly"] for r in rows)
    assert all(r["accession"] in r["url"] for r in rows)


def test_manifest_rule_only_where_the_config_asks(portal, tmp_path):
    for args in ([], ["--configfile", "config/synthetic.yaml"]):
        p = snakemake(["--list-rules", *args], REPO)
        assert p.returncode == 0 and "encode_manifest" not in p.stdout, p.stderr[-2000:]
    wd = copy_workflow(tmp_path / "wf")
    cfg = yaml.safe_load((wd / "config/encode_hg38.yaml").read_text())
    cfg["encode"].update(portal=portal.url, retries=0,
                         cell_types=[{"name": "K562", "role": "test"}, {"name": "GM12878", "role": "train"}])
    (wd / "config/encode_test.yaml").write_text(yaml.safe_dump(cfg))
    p = snakemake(["encode_manifest", "-c1", "--configfile", "config/encode_test.yaml"], wd)
    assert p.returncode == 0, (p.stdout + p.stderr)[-4000:]
    manifest = wd / "results/encode_hg38/encode/manifest.tsv"
    rows = encode.read_manifest(manifest)
    assert {(r["cell_type"], r["assay"]) for r in rows} >= {("K562", "H3K27ac"), ("GM12878", RNASEQ)}
    log = (wd / "results/encode_hg38/logs/encode_manifest.log").read_text()
    assert "vs config/encode_manifest.tsv:" in log  # compared with the pinned manifest
    assert {q["assay_term_name"][0] for q in portal.requests} == {"ChIP-seq", "DNase-seq", "RNA-seq"}
