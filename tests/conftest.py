"""Shared fixtures: tiny genomes, BEDs and bigWigs written on the fly."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "resources" / "demo" / "k562_chr22"
DEMO_BIGWIGS = REPO / "resources" / "demo" / "k562"  # the demo bigWigs: chr16 + chr22


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def write_bigwig(path: Path, chroms: dict[str, int], values: dict[str, np.ndarray]) -> Path:
    """A bigWig with per-base ``values[chrom]`` (NaN = no data) over each chromosome."""
    import pyBigWig

    bw = pyBigWig.open(str(path), "w")
    bw.addHeader(list(chroms.items()))
    for chrom, vals in values.items():
        vals = np.asarray(vals, dtype=float)
        idx = np.flatnonzero(~np.isnan(vals))
        if len(idx):
            bw.addEntries(chrom, int(idx[0]), values=vals[idx[0]:idx[-1] + 1].tolist(), span=1, step=1)
    bw.close()
    return path


@pytest.fixture(scope="session")
def simulated(tmp_path_factory):
    """The default simulated data set with its planted truth (creator simulate, seed 7)."""
    from creator.simulate import simulate

    out = tmp_path_factory.mktemp("simulated") / "synthetic"
    simulate(out, seed=7)
    return out


@pytest.fixture(scope="module")
def torch_one_thread():
    """Run a module's tiny models on one torch thread, then restore the count."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def tiny_genome(tmp_path):
    """Two chromosomes, a cCRE BED (unsorted on purpose), a gene BED, a blacklist, a FASTA."""
    rng = np.random.default_rng(0)
    sizes = {"chr1": 20_000, "chr2": 12_000}
    sizes_path = write(tmp_path / "chrom.sizes", "".join(f"{c}\t{n}\n" for c, n in sizes.items()))
    ccres = [("chr2", 1000, 1300), ("chr1", 500, 700), ("chr1", 3000, 3400), ("chr1", 9000, 9100),
             ("chr1", 15000, 15500), ("chr2", 6000, 6100), ("chr1", 19900, 20000)]
    bed = write(tmp_path / "ccres.bed", "".join(f"{c}\t{s}\t{e}\n" for c, s, e in ccres))
    genes = write(tmp_path / "genes.bed",
                  "#chr\tstart\tend\tname\tscore\tstrand\tEnsembl_ID\tgene_type\n"
                  "chr1\t3100\t5000\tGA\t0\t+\tENSG01\tprotein_coding\n"
                  "chr1\t8000\t9050\tGB\t0\t-\tENSG02\tprotein_coding\n"
                  "chr2\t11000\t11900\tGC\t0\t+\tENSG03\tlncRNA\n")
    blacklist = write(tmp_path / "blacklist.bed", "chr1\t9050\t9060\n")
    seqs = {c: "".join(rng.choice(list("ACGTN"), size=n, p=[0.3, 0.2, 0.2, 0.29, 0.01])) for c, n in sizes.items()}
    fasta = write(tmp_path / "genome.fa", "".join(
        f">{c}\n" + "\n".join(s[i:i + 60] for i in range(0, len(s), 60)) + "\n" for c, s in seqs.items()))
    return dict(sizes=sizes, sizes_path=sizes_path, ccres=ccres, bed=bed, genes=genes, blacklist=blacklist,
                fasta=fasta, seqs=seqs, dir=tmp_path)


@pytest.fixture
def tiny_reference(tiny_genome):
    from creator.reference import build_reference

    out = tiny_genome["dir"] / "reference"
    build_reference(ccres_path=tiny_genome["bed"], genes_path=tiny_genome["genes"], genes_format="bed",
                    chrom_sizes_path=tiny_genome["sizes_path"], out_dir=out, element_bp=200, window_bp=6000,
                    blacklist_path=tiny_genome["blacklist"], fasta_path=tiny_genome["fasta"])
    return dict(tiny_genome, ref=out)


@pytest.fixture(scope="session")
def demo_reference(tmp_path_factory):
    """The real K562 chr22 demo reference (built once per session)."""
    from creator.reference import build_reference

    out = tmp_path_factory.mktemp("demo") / "reference"
    build_reference(ccres_path=DEMO / "candidate_regions.chr22.bed", genes_path=DEMO / "refseq_genes.chr22.bed",
                    genes_format="bed", chrom_sizes_path=DEMO / "hg38.chrom.sizes", out_dir=out, element_bp=500,
                    window_bp=1_000_000, blacklist_path=DEMO / "GRCh38_unified_blacklist.bed",
                    chromosomes=["chr22"])
    return out


def copy_workflow(dest: Path) -> Path:
    """A copy of the workflow (no .venv, results or .git) to run snakemake in isolation."""
    ignore = shutil.ignore_patterns(".venv", ".git", "results*", ".snakemake", "__pycache__", "*.egg-info",
                                    ".pytest_cache", "synthetic", "data")
    shutil.copytree(REPO, dest, ignore=ignore)
    return dest


SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def run(args, cwd, check=True):
    """``snakemake ARGS`` in ``cwd``; an AssertionError with the output's tail when it fails."""
    p = subprocess.run(SNAKEMAKE + args, cwd=cwd, capture_output=True, text=True)
    if check and p.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{p.stdout[-4000:]}\n{p.stderr[-4000:]}")
    return p


SYNTHETIC_MODEL = "creator_synthetic"
#: the cell types whose outputs the science tests read: a train, the held-out test and a predict-only one
SYNTHETIC_CELLS = ("cellA", "cellD", "cellE")


class SyntheticRun:
    """The synthetic chain (config/synthetic.yaml) in a background snakemake process: training on every
    train cell type, then predictions, links and TADs of SYNTHETIC_CELLS only, the held-out cellD's
    evaluations, the expression evaluation and the report of those (the other cell types' links and
    TADs add minutes and nothing the tests read).

    It starts when collection ends (:func:`pytest_collection_modifyitems`), so it runs beside the
    other tests; the tests that read it run last and wait for it. Training runs on one thread
    (``--set-threads train=1``; snakemake sets ``OMP_NUM_THREADS`` to a job's threads), which leaves
    the other core to the rest of the suite and makes the trained model independent of the machine's
    core count (torch's reductions round differently with more threads)."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="creator-science-"))
        self.wd = self.root / "wf"
        self.log = self.root / "snakemake.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        copy_workflow(self.wd)
        m = SYNTHETIC_MODEL
        targets = [f"results/synthetic/eval/{m}/expression/summary.tsv",
                   f"results/synthetic/eval/{m}/links/cellD/summary.tsv",
                   f"results/synthetic/eval/{m}/tads/cellD/summary.tsv"]
        for c in SYNTHETIC_CELLS:
            targets += [f"results/synthetic/links/{m}/{c}/links.bedpe.gz",
                        f"results/synthetic/tads/{m}/{c}/loops.bedpe"]
        # targets before --configfile, which takes several values
        chain = [[*SNAKEMAKE, *targets, "--cores", "2", "--set-threads", "train=1", "--configfile", "config/synthetic.yaml"],
                 [*SNAKEMAKE, "--report", "results/synthetic/report.zip", *targets,
                  "--configfile", "config/synthetic.yaml"]]
        script = " && ".join(shlex.join(cmd) for cmd in chain)
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(["bash", "-c", script], cwd=self.wd, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)

    def wait(self) -> Path:
        """``results/synthetic`` once the run has finished; an AssertionError with the log's tail if it failed."""
        if self.proc is None:
            self.start()
        if self.proc.wait() != 0:
            raise AssertionError(f"the synthetic run failed (exit {self.proc.returncode}; workflow in {self.wd}):\n"
                                 f"{self.log.read_text()[-6000:]}")
        return self.wd / "results" / "synthetic"

    def stop(self, keep: bool) -> None:
        """Kill a run still going (a failed test under ``-x``); remove its folder unless ``keep``."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if keep:
            print(f"\nthe synthetic run is kept in {self.wd} (log: {self.log})")
        else:
            shutil.rmtree(self.root, ignore_errors=True)


_SYNTHETIC: SyntheticRun | None = None


@pytest.hookimpl(trylast=True)  # after -m/-k have deselected
def pytest_collection_modifyitems(session, config, items):
    """Tests that read the synthetic run go last, and the run starts now in the background."""
    global _SYNTHETIC
    readers = [item for item in items if "synthetic_run" in getattr(item, "fixturenames", ())]
    if not readers or config.option.collectonly:
        return
    ids = {id(item) for item in readers}
    items[:] = [item for item in items if id(item) not in ids] + readers
    _SYNTHETIC = SyntheticRun()
    _SYNTHETIC.start()


def pytest_sessionfinish(session, exitstatus):
    if _SYNTHETIC is not None:
        _SYNTHETIC.stop(keep=exitstatus != 0)


@pytest.fixture(scope="session")
def synthetic_run():
    """``results/synthetic`` of the session's synthetic run (:class:`SyntheticRun`)."""
    global _SYNTHETIC
    if _SYNTHETIC is None:  # collected some other way: run it now
        _SYNTHETIC = SyntheticRun()
    return _SYNTHETIC.wait()
