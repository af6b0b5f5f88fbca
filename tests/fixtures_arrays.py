"""A small fake reference + features + targets set written in exactly the layouts of
:mod:`creator.formats`, so the data/train/predict tests do not depend on the reference, features and
targets stages.

``write_arrays(root)`` writes::

    root/reference/{ccres,genes}.parquet, windows.npz, sequence.npy
    root/features/{cell}/signal.zarr
    root/targets/{cell}.parquet
    root/config.yaml, root/samples.tsv      (cells A, B train; C test)

Expression is planted: log1p TPM grows with DNase at the promoter and with distance-weighted
H3K27ac, so a model (and the baselines) can find something. A few targets are NaN (unmatched) and,
on the last chromosome, the first genes have an empty window.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import zarr

from creator.formats import N_TRACKS, TRACK_INDEX, TRACKS


@dataclass
class ArraySet:
    root: Path
    reference: Path
    features_dir: Path
    targets_dir: Path
    config: Path
    samples: Path
    cells: dict[str, str] = field(default_factory=dict)   # cell -> role
    element_bp: int = 50
    resolution_bp: int = 10
    window_bp: int = 20_000

    def features(self, cell: str) -> Path:
        return self.features_dir / cell / "signal.zarr"

    def targets(self, cell: str) -> Path:
        return self.targets_dir / f"{cell}.parquet"

    def expression_cells(self) -> list[str]:
        return [c for c, r in self.cells.items() if r in ("train", "test")]

    def feature_files(self) -> dict[str, Path]:
        """The train/test cell types' signal.zarr (train's ``features``)."""
        return {c: self.features(c) for c in self.expression_cells()}

    def target_files(self) -> dict[str, Path]:
        return {c: self.targets(c) for c in self.expression_cells()}

    def train_file_args(self) -> list[str]:
        """``--features CELL=ZARR ... --targets CELL=PARQUET ...`` as the train rule passes them."""
        return (["--features", *(f"{c}={p}" for c, p in self.feature_files().items())]
                + ["--targets", *(f"{c}={p}" for c, p in self.target_files().items())])


def reference_id(chrom: np.ndarray, start: np.ndarray, element_bp: int) -> str:
    h = hashlib.sha1(str(element_bp).encode())
    h.update("\n".join(map(str, chrom)).encode())
    h.update(np.asarray(start, np.int64).tobytes())
    return h.hexdigest()[:16]


def write_reference(out: Path, *, chrom_bp: dict[str, int], element_bp: int, window_bp: int,
                    ccre_spacing: int, gene_spacing: int, rng: np.random.Generator,
                    empty_prefix_bp: int = 0) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    chroms = list(chrom_bp)
    rows, genes = [], []
    for ci, (chrom, size) in enumerate(chrom_bp.items()):
        # cCREs: jittered grid; on the last chromosome none in the first empty_prefix_bp
        first = empty_prefix_bp if (ci == len(chroms) - 1) else 0
        pos = np.arange(first + ccre_spacing // 2, size - element_bp, ccre_spacing)
        pos = np.sort(pos + rng.integers(-ccre_spacing // 3, ccre_spacing // 3 + 1, len(pos)))
        pos = np.unique(np.clip(pos, element_bp, size - element_bp))
        for k, c in enumerate(pos):
            start = int(c) - element_bp // 2
            rows.append((chrom, start, start + element_bp, start + 5, start + element_bp - 5,
                         f"{chrom}_e{k}", ("PLS", "pELS", "dELS")[k % 3], start + element_bp // 2))
        tss = np.arange(gene_spacing // 2, size, gene_spacing)
        tss = np.sort(tss + rng.integers(-gene_spacing // 4, gene_spacing // 4 + 1, len(tss)))
        for k, t in enumerate(tss):
            strand = "+" if k % 2 == 0 else "-"
            gstart, gend = (int(t), int(t) + 3000) if strand == "+" else (int(t) - 2999, int(t) + 1)
            genes.append((f"ENSG{ci:02d}{k:05d}", f"G{ci}_{k}", chrom, gstart, gend, strand, int(t),
                          "protein_coding"))
    ccres = pd.DataFrame(rows, columns=["chrom", "start", "end", "orig_start", "orig_end", "name",
                                        "class", "center"])
    for col in ("start", "end", "orig_start", "orig_end", "center"):
        ccres[col] = ccres[col].astype(np.int64)
    genes = pd.DataFrame(genes, columns=["gene_id", "symbol", "chrom", "start", "end", "strand", "tss",
                                         "gene_type"])
    for col in ("start", "end", "tss"):
        genes[col] = genes[col].astype(np.int64)
    centre = ccres["center"].to_numpy()
    lo = np.zeros(len(genes), np.int64)
    hi = np.zeros(len(genes), np.int64)
    for chrom in chroms:
        cidx = np.flatnonzero(ccres["chrom"].to_numpy() == chrom)
        gidx = np.flatnonzero(genes["chrom"].to_numpy() == chrom)
        a = cidx[0]
        t = genes["tss"].to_numpy()[gidx]
        lo[gidx] = a + np.searchsorted(centre[cidx], t - window_bp, side="left")
        hi[gidx] = a + np.searchsorted(centre[cidx], t + window_bp, side="right")
    genes["win_lo"], genes["win_hi"] = lo, hi
    rid = reference_id(ccres["chrom"].to_numpy(), ccres["start"].to_numpy(), element_bp)
    code = {c: i for i, c in enumerate(chroms)}
    ccres.to_parquet(out / "ccres.parquet", index=False)
    genes.to_parquet(out / "genes.parquet", index=False)
    with open(out / "windows.npz", "wb") as fh:
        np.savez(fh, lo=lo, hi=hi, tss=genes["tss"].to_numpy(np.int64),
                 ccre_center=centre.astype(np.int64),
                 gene_chrom=genes["chrom"].map(code).to_numpy(np.int32),
                 ccre_chrom=ccres["chrom"].map(code).to_numpy(np.int32), chroms=np.array(chroms),
                 window_bp=np.int64(window_bp), element_bp=np.int64(element_bp),
                 reference_id=np.array(rid))
    seq = rng.integers(0, 5, size=(len(ccres), element_bp)).astype(np.uint8)
    np.save(out / "sequence.npy", seq)
    return dict(ccres=ccres, genes=genes, reference_id=rid)


def write_signal(path: Path, signal: np.ndarray, *, reference_id: str, resolution_bp: int,
                 element_bp: int, cell: str, tracks=TRACKS, block: int = 64) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = zarr.create_array(store=str(path), shape=signal.shape, dtype="float16",
                            chunks=(block,) + signal.shape[1:], overwrite=True,
                            attributes=dict(tracks=list(tracks), transform="log1p",
                                            resolution_bp=int(resolution_bp), element_bp=int(element_bp),
                                            reference_id=reference_id,
                                            present_tracks=list(tracks), cell_type=cell))
    arr[...] = signal.astype(np.float16)


def planted_signal(n_ccre: int, n_bins: int, rng: np.random.Generator, cell_shift: float) -> np.ndarray:
    base = rng.gamma(1.0, 1.0, size=(n_ccre, 1, N_TRACKS))
    shape = rng.uniform(0.5, 1.5, size=(n_ccre, n_bins, N_TRACKS))
    sig = base * shape * (1.0 + cell_shift * rng.standard_normal((n_ccre, 1, N_TRACKS)).clip(-0.9, 3))
    return np.log1p(np.clip(sig, 0, None)).astype(np.float16)


def planted_expression(signal: np.ndarray, genes: pd.DataFrame, centre: np.ndarray,
                       rng: np.random.Generator) -> np.ndarray:
    dnase = signal[:, :, TRACK_INDEX["DNase"]].astype(np.float64).mean(axis=1)
    k27 = signal[:, :, TRACK_INDEX["H3K27ac"]].astype(np.float64).mean(axis=1)
    out = np.zeros(len(genes))
    for g, (lo, hi, tss) in enumerate(zip(genes["win_lo"], genes["win_hi"], genes["tss"])):
        if hi == lo:
            out[g] = 0.1
            continue
        d = np.abs(centre[lo:hi] - tss)
        near = lo + int(np.argmin(d))
        out[g] = 1.5 * dnase[near] + 0.8 * np.sum(k27[lo:hi] * np.exp(-d / 5000.0))
    return np.clip(out + 0.1 * rng.standard_normal(len(genes)), 0, None)


def write_arrays(root: str | Path, *, cells: dict[str, str] | None = None,
                 chrom_bp: dict[str, int] | None = None, element_bp: int = 50, resolution_bp: int = 10,
                 window_bp: int = 20_000, ccre_spacing: int = 2_500, gene_spacing: int = 6_000,
                 seed: int = 0, nan_every: int = 13, empty_prefix_bp: int = 30_000) -> ArraySet:
    """Write the fake array set under ``root``; see the module docstring."""
    root = Path(root)
    cells = cells or {"A": "train", "B": "train", "C": "test"}
    chrom_bp = chrom_bp or {"chr1": 240_000, "chr2": 200_000}
    rng = np.random.default_rng(seed)
    ref = write_reference(root / "reference", chrom_bp=chrom_bp, element_bp=element_bp,
                          window_bp=window_bp, ccre_spacing=ccre_spacing, gene_spacing=gene_spacing,
                          rng=rng, empty_prefix_bp=empty_prefix_bp)
    ccres, genes = ref["ccres"], ref["genes"]
    n_bins = element_bp // resolution_bp
    shared = planted_signal(len(ccres), n_bins, rng, 0.0).astype(np.float32)
    for k, cell in enumerate(cells):
        own = planted_signal(len(ccres), n_bins, rng, 0.5).astype(np.float32)
        sig = (0.6 * shared + 0.4 * own).astype(np.float16)
        write_signal(root / "features" / cell / "signal.zarr", sig, reference_id=ref["reference_id"],
                     resolution_bp=resolution_bp, element_bp=element_bp, cell=cell)
        y = planted_expression(sig, genes, ccres["center"].to_numpy(), rng)
        tpm = np.expm1(y)
        matched = np.array(["gene_id"] * len(genes), dtype=object)
        if nan_every:
            drop = np.arange(k, len(genes), nan_every)
            tpm[drop] = np.nan
            matched[drop] = "none"
        tdir = root / "targets"
        tdir.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"gene_id": genes["gene_id"], "symbol": genes["symbol"], "tpm": tpm,
                      "log1p_tpm": np.log1p(tpm), "matched_by": matched}).to_parquet(
            tdir / f"{cell}.parquet", index=False)
    samples = root / "samples.tsv"
    lines = ["cell_type\trole\tassay\turl\tmd5"]
    for cell, role in cells.items():
        lines.append(f"{cell}\t{role}\tDNase\tresources/{cell}.dnase.bw\t")
        if role in ("train", "test"):
            lines.append(f"{cell}\t{role}\trnaseq\tresources/{cell}.tsv\t")
    samples.write_text("\n".join(lines) + "\n")
    config = root / "config.yaml"
    config.write_text(
        f"samples: {samples}\n"
        "reference:\n"
        "  ccres: {url: resources/ccres.bed}\n"
        "  genes: {url: resources/genes.bed}\n"
        "  chrom_sizes: {url: resources/chrom.sizes}\n"
        f"  element_bp: {element_bp}\n"
        f"  window_bp: {window_bp}\n"
        f"features:\n  resolution_bp: {resolution_bp}\n")
    return ArraySet(root=root, reference=root / "reference", features_dir=root / "features",
                    targets_dir=root / "targets", config=config, samples=samples, cells=dict(cells),
                    element_bp=element_bp, resolution_bp=resolution_bp, window_bp=window_bp)
