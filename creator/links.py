"""Links stage: a score for every (cCRE, gene) pair of a gene's window, in the ENCODE-rE2G /
CRISPR_comparison prediction format.

``creator links --checkpoint CKPT --reference DIR --features SIGNAL_ZARR --predict-dir DIR --cell CELL
--out-tsv links.tsv.gz --out-bedpe links.bedpe.gz [--bedpe-threshold 0.95] [--isp-exact-max 10000]
[--isp-top-k K] [--isp-tracks crispri|all|T1,T2,...] [--device auto|cpu|cuda] [--batch-genes 8] [--element-batch 256]``

``--predict-dir`` is the predict stage's output for the same checkpoint and cell type, with
``element_embeddings.npy``, ``attention.zarr`` (``creator predict --attention``) and
``expression.tsv``; the stage checks that they fit (reference id, cell type, window layout, a sample
of embeddings recomputed, predictions recomputed).

``links.tsv.gz``: one row per (cCRE, gene) with the cCRE in the gene's window ``[win_lo, win_hi)``
(genes with an empty window have no rows). The first line is the header, marked with ``#`` (so that
tabix and genome browsers skip it; ENCODE-rE2G's prediction format allows it, and
:func:`creator.io.read_table` reads it into pandas). Columns, in this order:

``chr start end name class``
    the element: its input interval (``orig_start``/``orig_end`` of ccres.parquet, the cCRE as given,
    which is what benchmarks overlap), id and class.
``TargetGene TargetGeneEnsemblID TargetGeneTSS CellType``
    gene symbol, Ensembl id (the gene_id when there is none), TSS (0-based) and ``--cell``.
``Score``
    :func:`creator.linkscore.rank_mean` over the chromosome's pairs: the mean of the rank fractions
    of the ABC-like score (activity ``sqrt(dnase x h3k27ac)`` x ``(|distance| + 5 kb) ** -0.87``,
    normalised per gene), ``attention`` and ``-isp_delta``, in (0, 1], higher = stronger. Chosen on
    the chr16 CRISPRi pairs and the synthetic planted truth (README, "Link scores"): ``-isp_delta``
    alone (the model's counterfactual for a CRISPRi screen, the previous Score) ranked best on chr16
    but fell below ABC-like on the planted truth when training fitted weakly; the rank mean was at
    or above ABC-like on every run measured. A rank within the chromosome: compare Scores across
    chromosomes as quantiles, not as effect sizes (``isp_delta`` is the effect size). Always finite.
``distance``
    signed, element centre (``center`` of ccres.parquet, the position the model sees) - TSS, bp.
``attention``
    the gene token's attention to the element (softmax probabilities from ``attention.zarr``),
    averaged over heads and then over layers (all layers weighted equally). Per gene it sums to 1
    over the window. Not attention rollout: rollout needs every layer's full matrix, which the
    predict stage does not keep, and in this model the gene token is masked as a key, so its row is
    already a direct read-out of the elements at every layer.
``isp_delta``
    in-silico perturbation: predicted log1p expression with the element's ``--isp-tracks`` set to
    zero (default ``crispri``: accessibility, CTCF/EP300/Pol II binding and the active marks, what
    a CRISPRi silencing removes; the elongation and repressive marks and the sequence are kept;
    ``all`` = every track), minus the original prediction. Only the perturbed element's stage-1
    embedding is recomputed (once per cCRE) and replaces the cached embedding in the gene's window;
    stage 2 is rerun.
``isp_method``
    ``exact`` (one stage-2 pass per pair, as above) or ``first_order``. When the number of pairs
    (the sum of window sizes over all genes) is at most ``--isp-exact-max`` every pair is exact.
    Otherwise a first-order estimate is computed for every pair: ``grad_x pred · (x0 - x)``, the
    gradient of the gene's prediction with respect to the element's embedding ``x`` (one backward
    pass per batch of genes gives the gradients of all their window elements) dotted with the
    embedding change ``x0 - x`` under perturbation; then, per gene, the ``K`` pairs with the largest
    ``|estimate|`` are recomputed exactly, ``K = --isp-top-k`` or by default
    ``--isp-exact-max // (genes with a non-empty window)`` (so at most about ``--isp-exact-max``
    exact passes in all; 0 = first order only).
``dnase h3k27ac``
    mean over the element of the stored DNase / H3K27ac feature, with the features' transform
    (attrs ``transform``: log1p, arcsinh, none) undone per bin first, i.e. the mean bigWig signal.
``ccre_index gene_id``
    row of ccres.parquet and gene_id of genes.parquet.

Rows are sorted by chromosome (reference order), start, TargetGeneTSS (then gene order), and the
file is BGZF (blocked gzip, written with pysam): ``gzip``/pandas read it. Its tabix index
``links.tsv.gz.tbi`` is written next to it (columns 1-3 as a 0-based BED interval, ``#`` lines
skipped), so ``tabix links.tsv.gz chr16:1-2000000`` or ``pysam.TabixFile`` gives the links of the
elements overlapping a region, and IGV can load the table by region.

``links.bedpe.gz``: the links with ``Score`` above the ``--bedpe-threshold`` quantile of all
Scores (default 0.95: the top 5%) and above 0, as BEDPE ``chrom1 start1 end1 chrom2 start2 end2
name score strand1 strand2``: the element, then the TSS (1 bp), name ``element|gene symbol``, score
= Score, strand1 ``.``, strand2 = the gene's strand; sorted by (chrom1, start1, end1, start2), one
``#`` header line, BGZF. Both files are written atomically.
"""

from __future__ import annotations

import argparse
import io
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from creator import data
from creator import linkscore
from creator.config import add_config_argument, section_defaults, stage_settings
from creator.errors import InputError
from creator.formats import TRACK_INDEX, predict_outputs, reference_outputs
from creator.inference import load_model, resolve_device
from creator.io import atomic_path, read_table, tabix_index

log = logging.getLogger(__name__)

LINK_COLUMNS = ("chr", "start", "end", "name", "class", "TargetGene", "TargetGeneEnsemblID", "TargetGeneTSS",
                "CellType", "Score", "distance", "attention", "isp_delta",
                "isp_method", "dnase", "h3k27ac", "ccre_index", "gene_id")
BEDPE_COLUMNS = ("chrom1", "start1", "end1", "chrom2", "start2", "end2", "name", "score", "strand1", "strand2")
UNTRANSFORM = {"none": lambda x: x, "log1p": np.expm1, "arcsinh": np.sinh}


# ---------------------------------------------------------------------------------------------
# in-silico perturbation


#: Tracks a CRISPRi-like perturbation removes (``--isp-tracks crispri``, the default): accessibility,
#: CTCF/EP300/Pol II binding and the active histone marks of the element itself. Kept: the
#: elongation marks (H3K36me3, H3K79me2, H4K20me1), which an element inside a gene body carries
#: because the gene is transcribed through it (silencing the element does not remove them; a model
#: reading expression off them would otherwise "explain" a gene by its own body), and the repressive
#: marks (H3K27me3, H3K9me3: removing them would be an activation, not a silencing).
ISP_TRACK_SETS = {
    "crispri": ("CTCF", "DNase", "EP300", "H2AFZ", "H3K27ac", "H3K4me1", "H3K4me2", "H3K4me3", "H3K9ac",
                "POLR2A", "POLR2AphosphoS5"),
    "all": tuple(TRACK_INDEX),
}


def isp_tracks(spec: str | list | tuple) -> tuple[str, ...]:
    """``crispri``, ``all`` or comma-separated track names -> track names (in track order)."""
    if isinstance(spec, str):
        if spec in ISP_TRACK_SETS:
            return ISP_TRACK_SETS[spec]
        spec = [t.strip() for t in spec.split(",") if t.strip()]
    unknown = [t for t in spec if t not in TRACK_INDEX]
    if unknown or not spec:
        raise InputError(f"--isp-tracks: unknown track(s) {', '.join(unknown) or '(none given)'}",
                         fix=f"use {' or '.join(ISP_TRACK_SETS)} or comma-separated names from "
                             f"{', '.join(TRACK_INDEX)}")
    return tuple(t for t in TRACK_INDEX if t in set(spec))


def perturbed_embeddings(model, cell: data.CellInputs, lo: int, hi: int, tracks=ISP_TRACK_SETS["all"], *,
                         device, element_batch: int = 256):
    """Stage-1 embeddings ``[hi - lo, d]`` (float32, on ``device``) of cCRE rows ``[lo, hi)`` with the
    signal of ``tracks`` set to zero (sequence and the other tracks kept)."""
    import torch

    n = hi - lo
    d = model.config.d_model
    if n == 0:
        return torch.zeros(0, d, device=device)
    ks = [TRACK_INDEX[t] for t in tracks]
    keep_any = len(ks) < model.config.n_tracks
    with torch.inference_mode():
        tokens = np.asarray(cell.reference.sequence[lo:hi])
        if not keep_any and (tokens == tokens[:1]).all():
            # every element has the same (e.g. empty) sequence and no signal left: one pass
            tok = torch.from_numpy(np.array(tokens[:1])).to(device).long()
            one = model.encode_elements(tok, torch.zeros(1, cell.n_bins, model.config.n_tracks, device=device))
            return one.float().expand(n, d).clone()
        out = []
        for a in range(lo, hi, element_batch):
            b = min(a + element_batch, hi)
            if keep_any:  # the kept tracks are read; with every track perturbed nothing is
                sig = torch.from_numpy(cell.read_signal(a, b).astype(np.float32))
                sig[:, :, ks] = 0.0
            else:
                sig = torch.zeros(b - a, cell.n_bins, model.config.n_tracks)
            tok = torch.from_numpy(np.array(tokens[a - lo:b - lo])).to(device).long()
            out.append(model.encode_elements(tok, sig.to(device)).float())
    return torch.cat(out)


def _exact_chunk(e: int, n_heads: int, budget: int) -> int:
    return max(1, min(512, budget // max(1, (e + 1) * (e + 1) * n_heads)))


def window_effects(model, ref: data.Reference, genes: np.ndarray, emb, zero, base_row: int, *,
                   exact: str | int = "all", first_order: bool = True, batch_genes: int = 8,
                   budget: int = 1 << 26) -> dict[str, np.ndarray]:
    """ISP of every (element, gene) pair for ``genes`` (one chromosome, index order).

    ``emb`` / ``zero``: cached and zero-signal embeddings ``[N, d]`` of cCRE rows ``base_row ..
    base_row + N`` (covering every window). ``exact``: ``"all"``, or ``K`` = the number of pairs per
    gene (largest ``|first order|``) to compute exactly (requires ``first_order``). Returns float32
    arrays over the concatenated windows of ``genes`` (rows ``win_lo .. win_hi`` per gene): ``exact``
    and ``first_order`` (NaN where not computed), and ``base`` ``[len(genes)]`` (the unperturbed
    prediction). The model must be in eval mode."""
    import torch

    genes = np.asarray(genes, dtype=np.int64)
    sizes = ref.hi[genes] - ref.lo[genes]
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    n_rows = int(starts[-1])
    out_exact = np.full(n_rows, np.nan, np.float32)
    out_fo = np.full(n_rows, np.nan, np.float32)
    base = np.full(len(genes), np.nan, np.float32)
    if exact != "all" and not first_order:
        raise ValueError("top-K exact ISP needs the first-order estimates")
    device = emb.device
    delta = zero - emb
    nonempty = np.flatnonzero(sizes > 0)
    for a in range(0, len(nonempty), batch_genes):
        pos = nonempty[a:a + batch_genes]
        chunk = genes[pos]
        index, mask, offset = data.window_layout(ref, chunk, base_row)
        index_t = torch.from_numpy(index).to(device)
        mask_t = torch.from_numpy(mask).to(device)
        offset_t = torch.from_numpy(offset).to(device)
        if first_order:
            x = emb[index_t].detach().requires_grad_(True)
            with torch.enable_grad():
                pred, _ = model.forward_genes(x, offset_t, mask_t)
                (grad,) = torch.autograd.grad(pred.sum(), x)
            fo = (grad * delta[index_t]).sum(-1).float().cpu().numpy()
        else:
            with torch.inference_mode():
                pred, _ = model.forward_genes(emb[index_t], offset_t, mask_t)
        pred = pred.detach().float().cpu().numpy()
        for b, p in enumerate(pos):
            base[p] = pred[b]
            if first_order:
                out_fo[starts[p]:starts[p + 1]] = fo[b, :sizes[p]]
    n_heads = model.config.n_heads
    with torch.inference_mode():
        for p in nonempty:
            e = int(sizes[p])
            s0 = starts[p]
            if exact == "all":
                ks = np.arange(e)
            else:
                k = min(int(exact), e)
                if k <= 0:
                    continue
                ks = np.sort(np.argsort(-np.abs(out_fo[s0:s0 + e]), kind="stable")[:k])
            g = int(genes[p])
            lo = int(ref.lo[g]) - base_row
            x = emb[lo:lo + e]
            off = torch.from_numpy(ref.ccre_center[ref.lo[g]:ref.hi[g]] - ref.tss[g]).to(device)
            ones = torch.ones(1, e, dtype=torch.bool, device=device)
            b0, _ = model.forward_genes(x[None], off[None], ones)
            step = _exact_chunk(e, n_heads, budget)
            for c in range(0, len(ks), step):
                kc = torch.from_numpy(ks[c:c + step]).to(device)
                xb = x.unsqueeze(0).repeat(len(kc), 1, 1)
                xb[torch.arange(len(kc), device=device), kc] = zero[lo + kc]
                pb, _ = model.forward_genes(xb, off.expand(len(kc), e), ones.expand(len(kc), e))
                out_exact[s0 + ks[c:c + step]] = (pb - b0).float().cpu().numpy()
    return dict(exact=out_exact, first_order=out_fo, base=base)


# ---------------------------------------------------------------------------------------------
# inputs from the predict stage


def _open_predict_dir(pdir: Path, ref: data.Reference, model, cell: str):
    import zarr

    fix = (f"run the predict stage for {cell} with this checkpoint and --attention "
           f"(creator predict ... --out {pdir} --attention)")
    files = predict_outputs(pdir)
    for path in files.values():
        if not path.exists():
            raise InputError(f"{path.name} not found in the predict directory", path=path, fix=fix)
    emb = np.load(files["embeddings"], mmap_mode="r")
    if emb.shape != (ref.n_ccre, model.config.d_model):
        raise InputError(f"element_embeddings.npy has shape {emb.shape}; expected ({ref.n_ccre}, "
                         f"{model.config.d_model}) for this reference and checkpoint",
                         path=files["embeddings"], fix=fix)
    root = zarr.open_group(str(files["attention"]), mode="r")
    attrs = dict(root.attrs)
    if attrs.get("reference_id") not in (None, ref.reference_id):
        raise InputError(f"attention.zarr was computed against reference {attrs.get('reference_id')!r}, "
                         f"not {ref.reference_id!r}", path=files["attention"], fix=fix)
    if attrs.get("cell_type") not in (None, cell):
        raise InputError(f"attention.zarr is of cell type {attrs.get('cell_type')!r}, not {cell!r}",
                         path=files["attention"], fix="point --predict-dir at this cell type's predictions")
    ga = root["gene_attention"]
    offsets = np.asarray(root["gene_offsets"][...], dtype=np.int64)
    expect = np.concatenate([[0], np.cumsum(ref.window_sizes)]).astype(np.int64)
    c = model.config
    if (offsets.shape != expect.shape or not np.array_equal(offsets, expect)
            or tuple(ga.shape) != (int(expect[-1]), c.gene_layers, c.n_heads)):
        raise InputError(f"attention.zarr (gene_attention {tuple(ga.shape)}) does not match the reference's "
                         f"windows and the checkpoint's {c.gene_layers} layers x {c.n_heads} heads",
                         path=files["attention"], fix=fix)
    expr = pd.read_csv(files["expression"], sep="\t")
    if ("predicted_log1p" not in expr.columns or len(expr) != ref.n_gene
            or not np.array_equal(expr["gene_id"].astype(str).to_numpy(),
                                  ref.genes["gene_id"].astype(str).to_numpy())):
        raise InputError("expression.tsv does not list the reference's genes in order",
                         path=files["expression"], fix=fix)
    return emb, ga, offsets, expr["predicted_log1p"].to_numpy(np.float64)


def _check_embeddings(model, cell: data.CellInputs, emb, device, pdir: Path, n: int = 8) -> None:
    """Recompute a few cached embeddings: a predict directory of another checkpoint or cell type is
    caught here."""
    import torch

    ref = cell.reference
    rows = np.unique(np.linspace(0, ref.n_ccre - 1, min(n, ref.n_ccre)).astype(np.int64))
    if len(rows) == 0:
        return
    toks, sigs = zip(*(cell.read(r, r + 1) for r in rows))
    with torch.inference_mode():
        got = model.encode_elements(torch.from_numpy(np.concatenate(toks)).to(device).long(),
                                    torch.from_numpy(np.concatenate(sigs)).to(device).float()).float().cpu().numpy()
    want = np.asarray(emb[rows], dtype=np.float32)
    err = np.linalg.norm(got - want) / max(np.linalg.norm(want), 1e-6)
    if err > 0.05:
        raise InputError(f"element_embeddings.npy does not match this checkpoint on these features "
                         f"(relative difference {err:.3g} on {len(rows)} recomputed cCREs)",
                         path=predict_outputs(pdir)["embeddings"],
                         fix="point --predict-dir at the predictions of this checkpoint and cell type, "
                             "or rerun predict")


def _aggregate_attention(ga, offsets: np.ndarray, block: int = 1 << 20) -> np.ndarray:
    """Per row (``gene_offsets`` layout): head- then layer-mean attention (float32)."""
    n = int(offsets[-1])
    attn = np.zeros(n, np.float32)
    for a in range(0, n, block):
        b = min(a + block, n)
        attn[a:b] = np.asarray(ga[a:b], dtype=np.float32).mean(axis=2).mean(axis=1)
    return attn


def _track_means(cell: data.CellInputs, lo: int, hi: int, names=("DNase", "H3K27ac")) -> dict[str, np.ndarray]:
    transform = cell.attrs.get("transform", "none")
    inv = UNTRANSFORM.get(transform)
    if inv is None:
        log.warning("features transform %r is unknown: dnase/h3k27ac are reported as stored", transform)
        inv = UNTRANSFORM["none"]
    out = {k: np.zeros(hi - lo, np.float32) for k in names}
    for a in range(lo, hi, 65536):
        b = min(a + 65536, hi)
        sig = cell.read_signal(a, b)
        for k in names:
            out[k][a - lo:b - lo] = inv(sig[:, :, TRACK_INDEX[k]].astype(np.float64)).mean(axis=1)
    return out


def _finite(x: np.ndarray, what: str) -> np.ndarray:
    bad = ~np.isfinite(x)
    if bad.any():
        log.warning("%d non-finite %s value(s) set to 0", int(bad.sum()), what)
        x = np.where(bad, 0.0, x)
    return x


# ---------------------------------------------------------------------------------------------
# the stage


def links(*, checkpoint: str | Path, reference: str | Path, features: str | Path, predict_dir: str | Path,
          cell: str, out_tsv: str | Path, out_bedpe: str | Path, bedpe_quantile: float = 0.95,
          isp_exact_max: int = 2000, isp_top_k: int | None = None, isp_tracks_spec: str = "crispri",
          device: str = "auto",
          batch_genes: int = 8, element_batch: int = 256) -> dict:
    """Run the links stage (module docstring); returns a summary dict."""
    import torch

    if not 0.0 <= bedpe_quantile < 1.0:
        raise InputError(f"--bedpe-threshold {bedpe_quantile} is not a quantile in [0, 1)", fix="e.g. 0.95")
    if isp_exact_max < 0 or (isp_top_k is not None and isp_top_k < 0):
        raise InputError("--isp-exact-max and --isp-top-k must be >= 0", fix="give a non-negative integer")
    if batch_genes < 1 or element_batch < 1:
        raise InputError("--batch-genes and --element-batch must be >= 1", fix="give a positive integer")
    perturbed = isp_tracks(isp_tracks_spec)
    pdir = Path(predict_dir)
    dev = resolve_device(device)
    ref = data.open_reference(reference)
    model, _ = load_model(checkpoint, dev, reference=ref)
    for p in model.parameters():
        p.requires_grad_(False)
    inputs = data.open_cell(ref, features, cell=cell)
    emb_all, ga, offsets, stored_pred = _open_predict_dir(pdir, ref, model, cell)
    _check_embeddings(model, inputs, emb_all, dev, pdir)

    attn_all = _aggregate_attention(ga, offsets)
    sizes = ref.window_sizes
    n_pairs = int(sizes.sum())
    n_nonempty = int((sizes > 0).sum())
    if n_pairs <= isp_exact_max:
        exact_mode: str | int = "all"
    else:
        exact_mode = isp_top_k if isp_top_k is not None else isp_exact_max // max(n_nonempty, 1)
    log.info("%s: %d pairs over %d genes; ISP %s", cell, n_pairs, n_nonempty,
             "exact for every pair" if exact_mode == "all"
             else f"first order + exact for the top {exact_mode} per gene")
    # attention-matrix entries per exact-ISP chunk (batches of ~40 windows of 900 elements on CPU)
    budget = (1 << 28) if dev.type == "cuda" else (1 << 26)

    g = ref.genes
    symbol = g["symbol"].astype(str).to_numpy()
    ens = g["ensembl_id"] if "ensembl_id" in g.columns else pd.Series([None] * len(g))
    ens = np.where(ens.isna().to_numpy(), g["gene_id"].astype(str).to_numpy(), ens.astype(str).to_numpy())
    gene_id = g["gene_id"].astype(str).to_numpy()
    strand = g["strand"].astype(str).to_numpy() if "strand" in g.columns else np.full(len(g), ".")
    cc = pd.read_parquet(reference_outputs(ref.path)["ccres"])
    c_start = cc["orig_start" if "orig_start" in cc.columns else "start"].to_numpy(np.int64)
    c_end = cc["orig_end" if "orig_end" in cc.columns else "end"].to_numpy(np.int64)
    c_name = cc["name"].astype(str).to_numpy()
    c_class = cc["class"].astype(str).to_numpy() if "class" in cc.columns else np.full(len(cc), ".")

    base_all = np.full(ref.n_gene, np.nan)
    scores: list[np.ndarray] = []
    n_exact = 0
    import pysam

    with atomic_path(out_tsv) as tmp, pysam.BGZFile(str(tmp), "wb") as bg:
        bg.write(("#" + "\t".join(LINK_COLUMNS) + "\n").encode())
        for ci, chrom in enumerate(ref.chroms):
            genes = np.flatnonzero((ref.gene_chrom == ci) & (sizes > 0))
            if len(genes) == 0:
                continue
            lo, hi = int(ref.lo[genes].min()), int(ref.hi[genes].max())
            emb = torch.from_numpy(np.array(emb_all[lo:hi], dtype=np.float32)).to(dev)
            zero = perturbed_embeddings(model, inputs, lo, hi, perturbed, device=dev, element_batch=element_batch)
            eff = window_effects(model, ref, genes, emb, zero, lo, exact=exact_mode,
                                 first_order=exact_mode != "all", batch_genes=batch_genes, budget=budget)
            del emb, zero
            base_all[genes] = eff["base"]
            is_exact = np.isfinite(eff["exact"])
            n_exact += int(is_exact.sum())
            isp = _finite(np.where(is_exact, eff["exact"], eff["first_order"]).astype(np.float64), "isp_delta")
            # rows of these genes: contiguous in the gene_offsets layout? (genes of one chromosome
            # are consecutive in genes.parquet, but may interleave with empty windows: gather)
            row_idx = np.concatenate([np.arange(offsets[x], offsets[x + 1]) for x in genes])
            gene_of = np.repeat(genes, sizes[genes])
            ccre = ref.lo[gene_of] + row_idx - offsets[gene_of]
            dist = ref.ccre_center[ccre] - ref.tss[gene_of]
            attn = attn_all[row_idx].astype(np.float64)
            tracks = _track_means(inputs, lo, hi)
            score = linkscore.rank_mean(linkscore.activity(tracks["DNase"][ccre - lo], tracks["H3K27ac"][ccre - lo]),
                                        dist, gene_of, attn, isp)
            order = np.lexsort((gene_of, ref.tss[gene_of], c_start[ccre]))
            df = pd.DataFrame({
                "chr": chrom, "start": c_start[ccre], "end": c_end[ccre], "name": c_name[ccre],
                "class": c_class[ccre], "TargetGene": symbol[gene_of], "TargetGeneEnsemblID": ens[gene_of],
                "TargetGeneTSS": ref.tss[gene_of], "CellType": cell, "Score": score, "distance": dist,
                "attention": attn, "isp_delta": isp,
                "isp_method": np.where(is_exact, "exact", "first_order"),
                "dnase": tracks["DNase"][ccre - lo], "h3k27ac": tracks["H3K27ac"][ccre - lo],
                "ccre_index": ccre, "gene_id": gene_id[gene_of]}).iloc[order]
            for a in range(0, len(df), 200_000):
                buf = io.StringIO()
                df.iloc[a:a + 200_000].to_csv(buf, sep="\t", header=False, index=False, float_format="%.6g")
                bg.write(buf.getvalue().encode())
            scores.append(score[order].astype(np.float32))
            log.info("%s %s: %d genes, %d pairs (%d exact)", cell, chrom, len(genes), len(df), int(is_exact.sum()))
    tabix_index(out_tsv)

    # the model's predictions must be the predict stage's (same checkpoint, same inputs)
    have = np.isfinite(base_all) & np.isfinite(stored_pred)
    if have.any():
        diff = np.abs(base_all[have] - stored_pred[have])
        tol = 0.05 + 0.02 * np.abs(stored_pred[have])
        if np.any(diff > tol):
            raise InputError(f"the checkpoint predicts differently from expression.tsv (max |difference| "
                             f"{diff.max():.3g})", path=predict_outputs(pdir)["expression"],
                             fix="point --predict-dir at the predictions of this checkpoint and cell type")

    all_scores = np.concatenate(scores) if scores else np.zeros(0, np.float32)
    threshold = float(np.quantile(all_scores, bedpe_quantile)) if len(all_scores) else 0.0
    n_bedpe = write_bedpe(out_tsv, out_bedpe, threshold, ref, strand)
    summary = dict(pairs=n_pairs, genes=n_nonempty, exact=n_exact, first_order=n_pairs - n_exact,
                   bedpe_threshold=threshold, bedpe_links=n_bedpe)
    log.info("%s: %s", cell, summary)
    return summary


def write_bedpe(links_tsv: str | Path, out_bedpe: str | Path, threshold: float, ref: data.Reference,
                strand: np.ndarray) -> int:
    """Links with ``Score > max(threshold, 0)`` from ``links_tsv`` as sorted BGZF BEDPE."""
    gene_strand = dict(zip(ref.genes["gene_id"].astype(str), strand))
    chrom_rank = {c: i for i, c in enumerate(ref.chroms)}
    parts = []
    cols = ["chr", "start", "end", "name", "TargetGene", "TargetGeneTSS", "Score", "gene_id"]
    for chunk in read_table(links_tsv, usecols=cols, chunksize=1 << 20,
                            dtype={"chr": str, "name": str, "TargetGene": str, "gene_id": str}):
        sel = chunk[(chunk["Score"] > threshold) & (chunk["Score"] > 0)]
        if len(sel):
            parts.append(sel)
    cols_out = list(BEDPE_COLUMNS)
    if parts:
        sel = pd.concat(parts, ignore_index=True)
        bed = pd.DataFrame({
            "chrom1": sel["chr"], "start1": sel["start"], "end1": sel["end"], "chrom2": sel["chr"],
            "start2": sel["TargetGeneTSS"], "end2": sel["TargetGeneTSS"] + 1,
            "name": sel["name"] + "|" + sel["TargetGene"], "score": sel["Score"], "strand1": ".",
            "strand2": sel["gene_id"].map(gene_strand).fillna(".")})
        rank = bed["chrom1"].map(chrom_rank).to_numpy()
        order = np.lexsort((bed["end2"].to_numpy(), bed["start2"].to_numpy(), bed["end1"].to_numpy(),
                            bed["start1"].to_numpy(), rank))
        bed = bed.iloc[order]
    else:
        bed = pd.DataFrame({k: [] for k in cols_out})
    import pysam

    with atomic_path(out_bedpe) as tmp, pysam.BGZFile(str(tmp), "wb") as bg:
        bg.write(("#" + "\t".join(cols_out) + "\n").encode())
        buf = io.StringIO()
        bed.to_csv(buf, sep="\t", header=False, index=False, float_format="%.6g")
        bg.write(buf.getvalue().encode())
    return len(bed)


def add_cli(sub) -> None:
    _D = section_defaults("links")  # the config schema's defaults
    p = sub.add_parser("links", help="cCRE-gene link scores (attention, in-silico perturbation)",
                       description=__doc__.split("\n\n")[0],
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="model checkpoint (train's checkpoint.pt)")
    p.add_argument("--reference", required=True, help="reference directory (results/reference)")
    p.add_argument("--features", required=True, help="the cell type's signal.zarr")
    p.add_argument("--predict-dir", required=True,
                   help="predict output of this checkpoint and cell (element_embeddings.npy, attention.zarr, "
                        "expression.tsv)")
    p.add_argument("--cell", required=True, help="cell type name (CellType column)")
    p.add_argument("--out-tsv", required=True, help="output links.tsv.gz (its tabix index .tbi is written next to it)")
    p.add_argument("--out-bedpe", required=True, help="output links.bedpe.gz")
    add_config_argument(p, "links")
    p.add_argument("--bedpe-threshold", type=float,
                   help=f"links.bedpe_threshold: quantile of Score above which a link goes into the BEDPE "
                        f"(default {_D['bedpe_threshold']})")
    p.add_argument("--isp-exact-max", type=int,
                   help="links.isp_exact_max: exact ISP for every pair when there are at most this many pairs; "
                        "otherwise a first-order estimate plus about this many exact passes in all "
                        f"(default {_D['isp_exact_max']})")
    p.add_argument("--isp-top-k", type=int, default=None,
                   help="exact ISP passes per gene in first-order mode (default: isp-exact-max // genes)")
    p.add_argument("--isp-tracks",
                   help="links.isp_tracks: tracks the perturbation sets to zero: 'crispri' (accessibility, "
                        "binding and active marks; see ISP_TRACK_SETS), 'all', or comma-separated track names "
                        f"(default {_D['isp_tracks']})")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--batch-genes", type=int, default=8, help="genes per gradient pass")
    p.add_argument("--element-batch", type=int, default=256, help="cCREs per stage-1 batch")
    p.set_defaults(func=_cli)


def _cli(args) -> int:
    cfg = stage_settings(args.config, "links", {"bedpe_threshold": args.bedpe_threshold,
                                                "isp_exact_max": args.isp_exact_max, "isp_tracks": args.isp_tracks})
    links(checkpoint=args.checkpoint, reference=args.reference, features=args.features,
          predict_dir=args.predict_dir, cell=args.cell, out_tsv=args.out_tsv, out_bedpe=args.out_bedpe,
          bedpe_quantile=cfg["bedpe_threshold"], isp_exact_max=cfg["isp_exact_max"], isp_top_k=args.isp_top_k,
          isp_tracks_spec=cfg["isp_tracks"], device=args.device, batch_genes=args.batch_genes,
          element_batch=args.element_batch)
    return 0
