"""Every bad input gets a clear message on the console, and nothing is left half-written (issue 14).

Each case runs the workflow as a user does (``snakemake ... --configfile``) on a tiny workspace:
two 60 kb chromosomes, 58 cCREs, 10 genes, two bigWigs and an RNA-seq table, shared by every case
(each case has its own config, outdir and download directory). The assertions read Snakemake's
captured stderr, the console a user sees: the one-line reason with the file the user configured
and a fix (once), and that no partial output remains. Where the message offers a command, the
test runs it and checks that the workflow then goes through.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import SNAKEMAKE, copy_workflow, write, write_bigwig

SIZES = {"chr21": 60_000, "chr22": 60_000}
CELL = "X"


def _genes_bed(rename: dict[str, str] | None = None, only: int | None = None) -> str:
    """5 genes per chromosome; ``rename`` renames chromosomes of the first ``only`` rows of each."""
    lines = ["#chr\tstart\tend\tname\tscore\tstrand\tEnsembl_ID\tgene_type\n"]
    for c in SIZES:
        for i in range(5):
            chrom = (rename or {}).get(c, c) if only is None or i < only else c
            s = 5_000 + 11_000 * i
            strand = "+-"[i % 2]
            lines.append(f"{chrom}\t{s}\t{s + 2000}\tG{c[3:]}_{i}\t0\t{strand}\tENSG{c[3:]}{i:05d}\tprotein_coding\n")
    return "".join(lines)


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    """The workflow copy with tiny inputs under inputs/ and a config writer."""
    wd = copy_workflow(tmp_path_factory.mktemp("bad_inputs") / "wf")
    inp = wd / "inputs"
    write(inp / "chrom.sizes", "".join(f"{c}\t{n}\n" for c, n in SIZES.items()))
    write(inp / "ccres.bed", "".join(f"{c}\t{s}\t{s + 300}\n" for c in SIZES for s in range(1_000, 58_000, 2_000)))
    write(inp / "genes.bed", _genes_bed())
    rng = np.random.default_rng(0)
    vals = {c: rng.gamma(2.0, 2.0, n) for c, n in SIZES.items()}
    write_bigwig(inp / "dnase.bigWig", SIZES, vals)
    write_bigwig(inp / "h3k27ac.bigWig", SIZES, vals)
    write_bigwig(inp / "h3k27ac.chr22only.bigWig", {"chr22": SIZES["chr22"]}, {"chr22": vals["chr22"]})
    write(inp / "rna.tsv", "gene_id\tTPM\n" + "".join(
        f"ENSG{c[3:]}{i:05d}.3\t{2.0 ** i}\n" for c in SIZES for i in range(5)))
    return wd


def samples(wd: Path, name: str, **urls) -> str:
    """A sample sheet for cell X (DNase, H3K27ac, rnaseq); ``urls`` replace inputs, with md5s."""
    rows = {"DNase": "inputs/dnase.bigWig", "H3K27ac": "inputs/h3k27ac.bigWig", "rnaseq": "inputs/rna.tsv"}
    md5 = {}
    for assay, url in urls.items():
        rows[assay], md5[assay] = url if isinstance(url, tuple) else (url, "")
    path = f"config/{name}.samples.tsv"
    write(wd / path, "cell_type\trole\tassay\turl\tmd5\n" + "".join(
        f"{CELL}\ttrain\t{a}\t{u}\t{md5.get(a, '')}\n" for a, u in rows.items()))
    return path


def config(wd: Path, name: str, *, reference=None, features=None, download=None, **sample_urls) -> str:
    """Write config/<name>.yaml (outdir results/<name>, downloads under resources/<name>)."""
    cfg = {
        "outdir": f"results/{name}",
        "samples": samples(wd, name, **sample_urls),
        "reference": {"ccres": {"url": "inputs/ccres.bed"}, "genes": {"url": "inputs/genes.bed"},
                      "genes_format": "bed", "chrom_sizes": {"url": "inputs/chrom.sizes"},
                      "chromosomes": ["chr21", "chr22"], "element_bp": 500, "window_bp": 10_000},
        "features": {"resolution_bp": 50},
        "download": {"dir": f"resources/{name}", "retries": 1, "backoff_s": 0.0, "timeout_s": 5},
        "model_name": "tiny",
        "train": {"preset": "tiny"},
        "evaluate": {"crispr": None, "peers": [], "locus_gene": None},
    }
    cfg["reference"].update(reference or {})
    cfg["features"].update(features or {})
    cfg["download"].update(download or {})
    path = f"config/{name}.yaml"
    write(wd / path, yaml.safe_dump(cfg, sort_keys=False))
    return path


def snakemake(wd: Path, cfg: str, *targets: str, extra=()) -> subprocess.CompletedProcess:
    env = dict(os.environ, no_proxy="127.0.0.1,localhost")
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        env.pop(var, None)
    # targets before --configfile, which takes several values
    return subprocess.run(SNAKEMAKE + [*targets, "--cores", "1", *extra, "--configfile", cfg], cwd=wd,
                          capture_output=True, text=True, env=env)


def console_lines(p: subprocess.CompletedProcess, pattern: str) -> list[str]:
    """The console (stdout + stderr) lines that match ``pattern``."""
    return [ln for ln in (p.stdout + p.stderr).splitlines() if re.search(pattern, ln)]


def one_error(p: subprocess.CompletedProcess, command: str) -> str:
    """The one ``creator <command>: error:`` line of a failed run (an AssertionError otherwise)."""
    assert p.returncode != 0, p.stderr[-3000:]
    lines = console_lines(p, rf"^creator {command}: error: ")
    assert len(lines) == 1, p.stderr[-4000:]
    return lines[0]


def no_temporaries(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith(".tmp") or ".part." in p.name]


# --- 1. an empty RNA-seq table ------------------------------------------------------------------


def test_empty_rnaseq_table_is_refused_at_download(ws):
    write(ws / "inputs/empty.tsv", "")
    cfg = config(ws, "c1", rnaseq="inputs/empty.tsv")
    p = snakemake(ws, cfg, "results/c1/targets/X.parquet")
    msg = one_error(p, "download")
    assert "inputs/empty.tsv: the file is empty (0 bytes)" in msg and "Fix: check the file" in msg
    copy = ws / "resources/c1/X/rnaseq.tsv"
    assert not copy.exists() and not Path(f"{copy}.md5").exists()  # no md5 recorded for it
    assert not (ws / "results/c1/targets").exists()


def test_empty_rnaseq_table_at_targets(ws, tmp_path, capfd):
    """The targets step, handed an empty table (not through the download), says so: no traceback."""
    from creator import cli

    empty = write(tmp_path / "rna.tsv", "\n")
    header_only = write(tmp_path / "rna2.tsv", "gene_id\tTPM\n")
    import pandas as pd

    pd.DataFrame({"gene_id": ["G1"], "symbol": ["G1"], "ensembl_id": ["ENSG1"]}).to_parquet(tmp_path / "genes.parquet")
    for table, problem in ((empty, "the expression table is empty"),
                           (header_only, "the expression table has a header but no rows")):
        log = tmp_path / f"{table.name}.log"
        rc = cli.main(["--log", str(log), "targets", "--config", '{"targets": {}}', "--genes",
                       str(tmp_path / "genes.parquet"), "--expression", str(table),
                       "--out", str(tmp_path / "t.parquet")])
        err = capfd.readouterr().err
        assert rc == 2
        assert err.count(problem) == 1 and f"creator targets: error: {table}" in err, err
        assert log.read_text().count(problem) == 1 and "Traceback" not in log.read_text()
        assert not (tmp_path / "t.parquet").exists()


# --- 2. a float for an integer key, 4d. a size with a unit ---------------------------------------


@pytest.mark.parametrize("value, expect", [
    (500.0, "config key 'reference.element_bp': 500.0 is not of type 'integer'. Fix: write a whole number "
            "without a decimal point, e.g. element_bp: 500"),
    ("1Mb", "config key 'reference.window_bp': '1Mb' is not of type 'integer'. Fix: give a whole number "
            "(base pairs and counts are plain integers, no units or quotes), e.g. window_bp: 1000000"),
])
def test_config_type_errors_give_an_example(ws, value, expect):
    key = "element_bp" if value == 500.0 else "window_bp"
    name = f"c2_{key}"
    cfg = config(ws, name, reference={key: value})
    p = snakemake(ws, cfg, f"results/{name}/reference/genes.parquet", extra=["-n"])
    assert p.returncode != 0
    assert len(console_lines(p, re.escape(expect))) == 1, p.stderr[-3000:]
    assert not (ws / f"results/{name}").exists()


# --- 3. gene rows on '22' while the config says chr22 ---------------------------------------------


def _fix_command(msg: str) -> str:
    """The shell command a message's fix offers: `sed ... > file` inside the parentheses."""
    m = re.search(r"\(((?:zcat \S+ \| )?sed .*? > \S+?)[;,)]", msg)
    assert m, msg
    return m.group(1)


def test_gene_rows_on_other_chromosome_names_are_warned_and_fixed(ws):
    write(ws / "inputs/genes.mixed.bed", _genes_bed({"chr22": "22"}, only=2))
    cfg = config(ws, "c3", reference={"genes": {"url": "inputs/genes.mixed.bed"}})
    p = snakemake(ws, cfg, "results/c3/reference/genes.parquet")
    assert p.returncode == 0, p.stderr[-3000:]
    warned = console_lines(p, r"^creator reference: WARNING: ")
    assert len(warned) == 1, p.stderr[-3000:]
    assert ("inputs/genes.mixed.bed [downloaded copy resources/c3/reference/genes.bed]: 2 of 10 gene rows "
            "are dropped because their chromosome is named differently: 2 on '22' (the config names it "
            "'chr22')") in warned[0]
    import pandas as pd

    assert len(pd.read_parquet(ws / "results/c3/reference/genes.parquet")) == 8
    # the offered fix works: run it where the file is, point the config at its output
    cmd = _fix_command(warned[0])
    subprocess.run(cmd, shell=True, cwd=ws / "inputs", check=True)
    renamed = cmd.rsplit("> ", 1)[1]
    cfg = config(ws, "c3b", reference={"genes": {"url": f"inputs/{renamed}"}})
    p = snakemake(ws, cfg, "results/c3b/reference/genes.parquet")
    assert p.returncode == 0 and not console_lines(p, "WARNING"), p.stderr[-3000:]
    assert len(pd.read_parquet(ws / "results/c3b/reference/genes.parquet")) == 10


def test_all_gene_rows_on_other_names_is_an_error_naming_the_prefix_fix(ws):
    write(ws / "inputs/genes.ensembl.bed", _genes_bed({"chr21": "21", "chr22": "22"}))
    cfg = config(ws, "c3c", reference={"genes": {"url": "inputs/genes.ensembl.bed"}})
    p = snakemake(ws, cfg, "results/c3c/reference/genes.parquet")
    msg = one_error(p, "reference")
    assert ("no gene left on reference.chromosomes (chr21, chr22): the genes file names its chromosomes "
            "differently: 5 on '21' (the config names it 'chr21'), 5 on '22'") in msg
    assert "sed -E 's/^([0-9]+|X|Y|M)\\t/chr\\1\\t/' genes.ensembl.bed > genes.ensembl.renamed.bed" in msg
    assert not list((ws / "results/c3c").glob("reference/*"))
    subprocess.run(_fix_command(msg), shell=True, cwd=ws / "inputs", check=True)
    cfg = config(ws, "c3d", reference={"genes": {"url": "inputs/genes.ensembl.renamed.bed"}})
    assert snakemake(ws, cfg, "results/c3d/reference/genes.parquet").returncode == 0


# --- 4. fixes that apply -------------------------------------------------------------------------


def test_ccre_bed_chromosome_mismatch_offers_a_fix_for_the_bed(ws):
    text = (ws / "inputs/ccres.bed").read_text()
    write(ws / "inputs/ccres.nochr.bed", re.sub(r"(?m)^chr", "", text))
    cfg = config(ws, "c4a", reference={"ccres": {"url": "inputs/ccres.nochr.bed"}})
    p = snakemake(ws, cfg, "results/c4a/reference/ccres.parquet")
    msg = one_error(p, "reference")
    assert msg.startswith("creator reference: error: inputs/ccres.nochr.bed:1 [downloaded copy "
                          "resources/c4a/reference/ccres.bed]: chromosome '21' is not in the chrom.sizes")
    assert "map_chrom_names" not in msg  # a bigWig setting: no use for a BED
    subprocess.run(_fix_command(msg), shell=True, cwd=ws / "inputs", check=True)
    cfg = config(ws, "c4a2", reference={"ccres": {"url": "inputs/ccres.nochr.renamed.bed"}})
    assert snakemake(ws, cfg, "results/c4a2/reference/ccres.parquet").returncode == 0


def test_two_column_bed_line_says_it_needs_three_columns(ws):
    lines = (ws / "inputs/ccres.bed").read_text().splitlines(keepends=True)
    lines[2] = "chr21\t5000\n"
    write(ws / "inputs/ccres.2col.bed", "".join(lines))
    cfg = config(ws, "c4b", reference={"ccres": {"url": "inputs/ccres.2col.bed"}})
    p = snakemake(ws, cfg, "results/c4b/reference/ccres.parquet")
    msg = one_error(p, "reference")
    # 5. the file the user configured, the line, the copy in brackets; reason and fix, once
    assert msg == ("creator reference: error: inputs/ccres.2col.bed:3 [downloaded copy resources/c4b/reference/"
                   "ccres.bed]: cCRE BED line has 2 field(s), needs at least 3 (chrom start end). Fix: every line "
                   "needs at least 3 tab-separated columns: chromosome, start, end")
    log = (ws / "results/c4b/logs/reference.log").read_text()
    assert log.count("cCRE BED line has 2 field(s)") == 1  # the log has it once too
    assert not (ws / "results/c4b/reference").exists() or not any((ws / "results/c4b/reference").iterdir())


def test_zero_matching_genes_suggests_checking_identifiers(ws):
    write(ws / "inputs/rna.symbols.tsv", "symbol\tTPM\n" + "".join(f"OTHER{i}\t1.0\n" for i in range(10)))
    cfg = config(ws, "c4e", rnaseq="inputs/rna.symbols.tsv")
    p = snakemake(ws, cfg, "results/c4e/targets/X.parquet")
    msg = one_error(p, "targets")
    assert "only 0 of 10 genes (0%) match the expression table" in msg
    assert "Fix: check the gene identifiers (the table has symbol OTHER0, OTHER1, OTHER2; the genes file has " \
           "gene_id ENSG2100000, ENSG2100001, ENSG2100002" in msg
    assert "min_matched_fraction" not in msg
    assert not (ws / "results/c4e/targets/X.parquet").exists()


# --- 6. (and 4c) download failures: md5 mismatch, 404, give-up after retries ------------------------


def test_download_failures_are_not_retried_by_snakemake(ws):
    from test_download import Server

    srv = Server()
    srv.thread.start()
    try:
        srv.add("/missing.bigWig", status=404)
        srv.add("/flaky.tsv", status=503)
        cfg = config(ws, "c6", DNase=("inputs/dnase.bigWig", "0" * 32), H3K27ac=srv.url("/missing.bigWig"),
                     rnaseq=srv.url("/flaky.tsv"))
        p = snakemake(ws, cfg, "results/c6/features/X/signal.zarr", "results/c6/targets/X.parquet",
                      extra=["--keep-going"])
    finally:
        srv.httpd.shutdown()
        srv.httpd.server_close()
    assert p.returncode != 0
    errors = console_lines(p, r"^creator download: error: ")
    assert len(errors) == 3, p.stderr[-5000:]  # one per file: no second attempt
    text = "\n".join(errors)
    assert "inputs/dnase.bigWig: md5 mismatch: expected 00000000000000000000000000000000" in text
    assert f"HTTP 404 Not Found for {srv.url('/missing.bigWig')}" in text
    assert ("giving up after 2 attempt(s); last error: HTTP 503 Service Unavailable. Fix: check the network / "
            "server, or raise download.retries (now 1) or download.timeout_s (now 5) in the config") in text
    # the downloader retried the 503 itself (retries: 1), Snakemake retried nothing
    assert srv.hits["/flaky.tsv"] == 2 and srv.hits["/missing.bigWig"] == 1
    for copy in ("X/DNase.bigWig", "X/H3K27ac.bigWig", "X/rnaseq.tsv"):  # one job each
        assert len(console_lines(p, f"reason: Missing output files: resources/c6/{copy}$")) == 1, copy
    log = (ws / "results/c6/logs/download/X/DNase.bigWig.log").read_text()
    assert log.count("md5 mismatch") == 1
    assert not (ws / "resources/c6/X").exists() or not any((ws / "resources/c6/X").iterdir())
    assert not no_temporaries(ws / "resources/c6") if (ws / "resources/c6").exists() else True


# --- 7. a copy truncated after download; 8. what a killed job leaves ---------------------------------


def _kill9_inside_atomic_path(dest: Path) -> Path:
    """A process killed with SIGKILL while writing ``dest`` through atomic_path: what it leaves."""
    code = ("import os, signal, sys; from creator.io import atomic_path\n"
            "cm = atomic_path(sys.argv[1]); p = cm.__enter__(); p.mkdir(); (p / 'chunk').write_text('x')\n"
            "os.kill(os.getpid(), signal.SIGKILL)\n")
    p = subprocess.run([sys.executable, "-c", code, str(dest)], capture_output=True)
    assert p.returncode == -signal.SIGKILL
    left = [q for q in dest.parent.iterdir() if q.name.startswith(f".{dest.name}.") and q.name.endswith(".tmp")]
    assert len(left) == 1
    return left[0]


def test_truncated_copy_is_caught_before_features_and_killed_leftovers_go(ws):
    cfg = config(ws, "c7")
    out = ws / "results/c7/features/X/signal.zarr"
    p = snakemake(ws, cfg, str(out.relative_to(ws)))
    assert p.returncode == 0, p.stderr[-3000:]
    import zarr

    good = zarr.open_array(str(out), mode="r")[:]
    copy = ws / "resources/c7/X/DNase.bigWig"
    data = copy.read_bytes()
    copy.write_bytes(data[: len(data) // 2])  # truncated after the download
    p = snakemake(ws, cfg, str(out.relative_to(ws)))
    assert p.returncode != 0
    lines = console_lines(p, "changed since it was downloaded")
    assert len(lines) == 1, p.stderr[-3000:]
    assert ("inputs/dnase.bigWig [downloaded copy resources/c7/X/DNase.bigWig]: changed since it was "
            "downloaded: md5 ") in lines[0]
    assert "Fix: delete the copy (rm resources/c7/X/DNase.bigWig); it is fetched again from inputs/dnase.bigWig" \
        in lines[0]
    assert "rule features" not in p.stderr  # stopped before any job: the good output is kept
    np.testing.assert_array_equal(zarr.open_array(str(out), mode="r")[:], good)

    # 8. a features job killed with kill -9 leaves .signal.zarr.<random>.tmp; the rerun removes it
    stale = _kill9_inside_atomic_path(out)
    # the fix of the message works: without the copy the run goes on (the output made from the good
    # copy is kept) and the copy is fetched again when features next runs
    subprocess.run(shlex.split("rm resources/c7/X/DNase.bigWig"), cwd=ws, check=True)
    p = snakemake(ws, cfg, str(out.relative_to(ws)))
    assert p.returncode == 0 and "Nothing to be done" in p.stderr, p.stderr[-3000:]
    p = snakemake(ws, cfg, str(out.relative_to(ws)), extra=["--forcerun", "features"])
    assert p.returncode == 0, p.stderr[-3000:]
    assert console_lines(p, "reason: Missing output files: resources/c7/X/DNase.bigWig$")
    np.testing.assert_array_equal(zarr.open_array(str(out), mode="r")[:], good)
    assert not stale.exists() and not no_temporaries(ws / "results/c7")


def test_copy_changed_while_the_run_waits_is_caught_when_read(ws, tmp_path, capfd):
    """The job itself re-verifies its inputs (a copy may change after the DAG was built)."""
    from creator import cli
    from creator.download import fetch

    copy = fetch(ws / "inputs/dnase.bigWig", tmp_path / "DNase.bigWig")
    data = copy.read_bytes()
    copy.write_bytes(data[:100])
    rc = cli.main(["--log", str(tmp_path / "f.log"), "features", "--config", '{"features": {}}', "--reference",
                   str(tmp_path / "noref"), "--cell", "X", f"--track=DNase={copy}", "--out", str(tmp_path / "s.zarr")])
    err = capfd.readouterr().err
    assert rc == 2 and err.count("changed since it was downloaded") == 1, err
    assert f"inputs/dnase.bigWig [downloaded copy {copy}]" in err
    # an unchanged copy costs a stat, not an md5: a touched copy with the same bytes is accepted
    copy.write_bytes(data)
    from creator.download import verify_copy

    assert verify_copy(copy) and verify_copy(copy)
    assert not (tmp_path / "s.zarr").exists()
    # a user's own file with an md5 file next to it is not a download: not checked, nothing written
    own = write(tmp_path / "own" / "x.bigWig", "data")
    write(tmp_path / "own" / "x.bigWig.md5", "0" * 32 + "  x.bigWig\n")
    assert not verify_copy(own) and not (tmp_path / "own" / "x.bigWig.source.json").exists()


# --- 9. a bigWig without a cCRE chromosome ----------------------------------------------------------


def test_bigwig_lacking_a_chromosome_warns_once_and_is_not_present(ws):
    cfg = config(ws, "c9", H3K27ac="inputs/h3k27ac.chr22only.bigWig")
    out = ws / "results/c9/features/X/signal.zarr"
    p = snakemake(ws, cfg, str(out.relative_to(ws)))
    assert p.returncode == 0, p.stderr[-3000:]
    warned = console_lines(p, "has no chromosome")
    assert len(warned) == 1, p.stderr[-3000:]
    assert warned[0] == ("creator features: WARNING: X: H3K27ac bigWig inputs/h3k27ac.chr22only.bigWig [downloaded "
                         "copy resources/c9/X/H3K27ac.bigWig] has no chromosome 'chr21': 29 of 58 cCREs get zeros "
                         "for this track. Fix: if that is not expected, give a bigWig covering chr21 "
                         "(features.missing_chrom: error stops instead)")
    assert (ws / "results/c9/logs/features/X.log").read_text().count("has no chromosome") == 1
    import zarr

    attrs = zarr.open_array(str(out), mode="r").attrs
    assert attrs["present_tracks"] == ["DNase"] and attrs["zero_chromosomes"] == {"H3K27ac": ["chr21"]}


def test_killed_download_leftovers_are_removed_when_fetched_again(ws, tmp_path):
    """A download killed mid-way leaves ``.<name>.part.<pid>``; the next fetch of the file removes it."""
    from creator.download import fetch

    dest = tmp_path / "DNase.bigWig"
    code = ("import os, signal, sys\nfrom creator import download\n"
            "def copy(src, out, h):\n    out.write(src.read(1024)); out.flush(); os.kill(os.getpid(), signal.SIGKILL)\n"
            "download._copy_stream = copy\n"
            "download.fetch(sys.argv[1], sys.argv[2])\n")
    p = subprocess.run([sys.executable, "-c", code, str(ws / "inputs/dnase.bigWig"), str(dest)], capture_output=True)
    assert p.returncode == -signal.SIGKILL, p.stderr
    left = list(tmp_path.glob(".DNase.bigWig.part.*"))
    assert len(left) == 1 and left[0].stat().st_size == 1024 and not dest.exists()
    fetch(ws / "inputs/dnase.bigWig", dest)
    assert not list(tmp_path.glob(".DNase.bigWig.part.*"))
    assert dest.read_bytes() == (ws / "inputs/dnase.bigWig").read_bytes()


def test_unexpected_error_is_one_console_line_and_a_logged_traceback(tmp_path, capfd):
    """Whatever no check foresaw still gets one line on the console; the traceback is in the log."""
    from creator import cli

    log = tmp_path / "t.log"
    rc = cli.main(["--log", str(log), "targets", "--config", '{"targets": {}}', "--genes",
                   str(write(tmp_path / "genes.parquet", "not parquet")), "--expression", str(tmp_path / "x.tsv"),
                   "--out", str(tmp_path / "t.parquet")])
    err = capfd.readouterr().err
    assert rc == 1
    lines = [ln for ln in err.splitlines() if ln.startswith("creator targets: error: ")]
    assert len(lines) == 1 and f"(unexpected: the traceback is in {log})" in lines[0] and "Traceback" not in err
    assert "Traceback (most recent call last)" in log.read_text()
