"""Figures of the evaluation and the report (matplotlib, Agg backend, PNG files written atomically).

``expression_scatter``   predicted vs observed log1p(TPM), one panel per cell type, r and rho in the title.
``pr_curves``            precision-recall curves of our scores and the baselines, one panel per distance bin.
``insulation_tracks``    insulation scores (Hi-C, attention) along each chromosome with boundary marks.
``locus_view``           one locus: signal tracks, cCRE boxes, arcs from a gene's TSS to its strongest
                         links, and the attention matrix (a triangle, distance upwards) with boundaries.
(:func:`creator.evaluate.locus_view_from_files` reads its data from a run's files.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.patches import Arc, Rectangle  # noqa: E402

from creator.io import atomic_path, chrom_sort_key  # noqa: E402

#: Colours and line styles per score, shared by every figure.
METHOD_STYLE = {
    "attention": dict(color="#1f77b4", ls="-", label="attention"),
    "isp_delta": dict(color="#2ca02c", ls="-", label="-isp_delta (in silico)"),
    "Score": dict(color="#d62728", ls="-", label="Score"),
    "baseline_distance": dict(color="#555555", ls="--", label="distance baseline"),
    "baseline_abc": dict(color="#ff7f0e", ls="--", label="ABC-like baseline"),
}
SPLIT_COLOURS = {"train": "#b0b0b0", "val": "#1f77b4", "test": "#d62728", "all": "#1f77b4"}
DPI = 130


def _save(fig, dest) -> Path:
    dest = Path(dest)
    with atomic_path(dest) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return dest


def _fmt(x, digits=2) -> str:
    return "NA" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def _mb(ax, axis="x"):
    fmt = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v / 1e6:.2f}")
    (ax.xaxis if axis == "x" else ax.yaxis).set_major_formatter(fmt)


# ---------------------------------------------------------------------------------------------


def expression_scatter(tables: Mapping[str, pd.DataFrame], out, *, title: str | None = None) -> Path:
    """Predicted vs observed log1p(TPM), one panel per cell type (points coloured by ``split`` when
    the table has one), Pearson r and Spearman rho of all scored genes in each title."""
    from creator.ranking import correlations

    cells = list(tables)
    ncol = min(len(cells), 3) or 1
    nrow = -(-len(cells) // ncol) or 1
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 4.0 * nrow), squeeze=False)
    for ax in axes.ravel()[len(cells):]:
        ax.set_visible(False)
    for ax, cell in zip(axes.ravel(), cells):
        t = tables[cell]
        x = t["observed_log1p"].to_numpy(float)
        y = t["predicted_log1p"].to_numpy(float)
        ok = np.isfinite(x) & np.isfinite(y)
        c = correlations(y, x)
        if "split" in t.columns:
            splits = t["split"].astype(str).to_numpy()
            for s in [s for s in ("train", "val", "test") if s in set(splits)] + sorted(
                    set(splits) - {"train", "val", "test"}):
                m = ok & (splits == s)
                if not m.any():
                    continue
                cs = correlations(y[m], x[m])
                ax.scatter(x[m], y[m], s=8, alpha=0.6, color=SPLIT_COLOURS.get(s, "#8c564b"), lw=0,
                           label=f"{s} (n={m.sum()}, r={_fmt(cs['pearson'])})")
            ax.legend(loc="upper left", fontsize=7, frameon=False, markerscale=1.5)
        else:
            ax.scatter(x[ok], y[ok], s=8, alpha=0.6, color="#1f77b4", lw=0)
        if ok.any():
            lo = min(x[ok].min(), y[ok].min())
            hi = max(x[ok].max(), y[ok].max())
            pad = 0.05 * (hi - lo or 1)
            ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="k", lw=0.8, ls=":", label="_y=x")
            ax.set_xlim(lo - pad, hi + pad)
            ax.set_ylim(lo - pad, hi + pad)
        ax.set_title(f"{cell}: r = {_fmt(c['pearson'])}, \u03c1 = {_fmt(c['spearman'])} (n = {c['n']})", fontsize=10)
        ax.set_xlabel("observed log1p(TPM)")
        ax.set_ylabel("predicted log1p(TPM)")
        ax.set_aspect("equal", adjustable="box")
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return _save(fig, out)


def pr_curves(curves: Mapping[str, dict], out, *, title: str | None = None) -> Path:
    """``curves``: ``{bin: {"n", "n_positive", "prevalence", "methods": {method: (recall, precision,
    auprc[, ci_low, ci_high])}}}`` (as :func:`creator.evaluate.score_pairs` returns); one panel per
    bin; the legend gives each AUPRC with its 95% bootstrap interval when there is one."""
    bins = list(curves)
    fig, axes = plt.subplots(1, len(bins), figsize=(4.0 * len(bins), 5.2), squeeze=False)
    for ax, b in zip(axes[0], bins):
        entry = curves[b]
        for k, (meth, curve) in enumerate(entry["methods"].items()):
            rec, prec, ap = curve[:3]
            st = METHOD_STYLE.get(meth) or (dict(color=f"C{k % 10}", ls="-.", label=meth.replace("peer/", "peer: "))
                                            if meth.startswith("peer/") else dict(color=None, ls="-", label=meth))
            ci = f" [{_fmt(curve[3], 2)}-{_fmt(curve[4], 2)}]" if len(curve) >= 5 and np.isfinite(curve[3]) else ""
            # step plot, starting at recall 0 with the first precision
            # precision P_k holds over recall (R_k-1, R_k]: the step-wise AUPRC is the area under it
            ax.step(np.r_[0, rec], np.r_[prec[:1], prec], where="pre", color=st["color"], ls=st["ls"], lw=1.4,
                    label=f"{st['label']} ({_fmt(ap, 3)}{ci})")
        prev = entry.get("prevalence")
        if prev is not None and np.isfinite(prev):
            ax.axhline(prev, color="k", lw=0.8, ls=":", label=f"prevalence ({_fmt(prev, 3)})")
        label = "all distances" if b == "all" else b.replace("kb", " kb").replace("Mb", " Mb")
        ax.set_title(f"{label}\n{entry['n']} pairs, {entry['n_positive']} positive", fontsize=10)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        ax.grid(alpha=0.3)
        if entry["methods"]:
            ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=1,
                      title="AUPRC [95% bootstrap interval]",
                      title_fontsize=7, frameon=False)
        else:
            ax.text(0.5, 0.5, "no positive pair", ha="center", va="center", transform=ax.transAxes, color="grey")
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return _save(fig, out)


def insulation_tracks(tracks: Mapping[str, pd.DataFrame], marks: Mapping[str, pd.DataFrame], out, *,
                      title: str | None = None, max_chroms: int = 6, barrier: pd.DataFrame | None = None,
                      notes: Mapping[str, str] | None = None) -> Path:
    """One panel per chromosome: each insulation track (``chrom, position, insulation``; log2) as a
    line, each boundary set (``chrom, position``) as ticks at the top of the panel and, when given,
    the learned barrier (``chrom, position, barrier``) as a filled profile on a right-hand axis.
    ``notes[name]`` (e.g. a boundary set's recall, precision and enrichment) is added to that set's
    legend entry, so ours and an input-only baseline read side by side."""
    notes = dict(notes or {})
    chroms = set()
    for df in list(tracks.values()) + list(marks.values()):
        chroms |= set(df["chrom"].astype(str))
    chroms = sorted(chroms, key=chrom_sort_key)[:max_chroms]
    n = max(len(chroms), 1)
    fig, axes = plt.subplots(n, 1, figsize=(11, 2.6 * n), squeeze=False)
    line_colours = {"Hi-C": "#333333", "attention": "#1f77b4"}
    mark_colours = {"ours": "#1f77b4", "Hi-C": "#333333", "truth": "#d62728", "CTCF peaks": "#ff7f0e",
                    "DNase peaks": "#9467bd"}
    mark_labels = {"ours": "our boundaries", "Hi-C": "Hi-C boundaries", "truth": "planted boundaries"}
    for ax, chrom in zip(axes[:, 0], chroms):
        for k, (name, df) in enumerate(tracks.items()):
            g = df[df["chrom"] == chrom]
            ax.plot(g["position"], g["insulation"], lw=1, color=line_colours.get(name, f"C{k + 2}"),
                    label=f"{name} insulation")
        ax.axhline(0, color="grey", lw=0.5)
        ylo, yhi = ax.get_ylim() if tracks else (0, 1)
        span = yhi - ylo
        names = list(marks)
        ax.set_ylim(ylo, yhi + 0.12 * span * len(names))
        for k, name in enumerate(names):
            g = marks[name][marks[name]["chrom"] == chrom]
            y = yhi + 0.12 * span * (k + 0.5)
            ax.plot(g["position"], np.full(len(g), y), ls="none", marker="|", ms=12, mew=2,
                    color=mark_colours.get(name, f"C{k + 5}"),
                    label=f"{mark_labels.get(name, name + ' (input-only baseline)')} ({len(g)})"
                          + (f"\n  {notes[name]}" if name in notes else ""))
        ax.set_ylabel("log2 insulation")
        if barrier is not None:
            g = barrier[barrier["chrom"] == chrom]
            ax2 = ax.twinx()
            ax2.fill_between(g["position"], 0, g["barrier"], step="mid", color="#2ca02c", alpha=0.45, lw=0,
                             label="learned barrier (right axis)")
            ax2.set_ylim(0, max(float(barrier["barrier"].max()), 1e-9) * 2.2)
            ax2.set_ylabel("barrier (x mean bin)", color="#2ca02c")
            ax2.tick_params(axis="y", colors="#2ca02c")
            ax.set_zorder(ax2.get_zorder() + 1)
            ax.patch.set_visible(False)
            h1, l1 = ax.get_legend_handles_labels()
            h2, l2 = ax2.get_legend_handles_labels()
            ax.legend(h1 + h2, l1 + l2, fontsize=7, loc="upper left", bbox_to_anchor=(1.09, 1.0), frameon=False)
        ax.set_title(chrom, fontsize=10, loc="left")
        _mb(ax)
        ax.set_xlabel(f"{chrom} position (Mb)")
        if barrier is None:
            ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.005, 1.0), frameon=False)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return _save(fig, out)


def _triangle(ax, mat: np.ndarray, start: float, resolution: float, *, max_distance: float | None = None,
              cmap="Reds", label="attention"):
    """Upper triangle of a square matrix, rotated 45 degrees (x = genome, y = distance)."""
    n = mat.shape[0]
    edges = start + np.arange(n + 1) * resolution
    a, b = np.meshgrid(edges, edges, indexing="ij")
    X = (a + b) / 2
    Y = (b - a) / 2
    vals = np.ma.masked_where(np.tril(np.ones_like(mat, bool), -1) | ~np.isfinite(mat), mat)
    pos = vals.compressed()
    pos = pos[pos > 0]
    vmax = np.quantile(pos, 0.98) if len(pos) else 1
    pcm = ax.pcolormesh(X, Y, vals, cmap=cmap, vmin=0, vmax=vmax, shading="flat", rasterized=True)
    ax.set_ylim(0, (max_distance or n * resolution) / 2)
    # y is half the distance between the two bins: label the ticks with the distance itself
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{2 * v / 1e6:.2f}"))
    ax.set_ylabel("distance (Mb)", fontsize=8)
    return pcm


def locus_view(out, *, chrom: str, start: int, end: int, tracks: Mapping[str, tuple] | None = None,
               elements: pd.DataFrame | None = None, links: pd.DataFrame | None = None,
               gene: Mapping | None = None, matrix: np.ndarray | None = None, matrix_start: int | None = None,
               resolution: int | None = None, boundaries=None, top_n: int = 10, score_label: str = "score",
               title: str | None = None, tested: pd.DataFrame | None = None) -> Path:
    """A locus figure, panels top to bottom (each optional):

    * ``tracks``: ``{name: (positions_bp, values)}`` signal tracks (filled);
    * ``elements`` (``start, end``; optional ``score``) as boxes, the gene (``gene``: ``symbol``,
      ``tss``, optional ``strand``) as an arrow at its TSS, and arcs from the TSS to the ``top_n``
      strongest of ``links`` (``start, end, score``; arc width and opacity by score); ``tested``
      (``start, end, positive``): elements tested for this gene by CRISPRi, as triangles above the
      boxes (filled: a validated enhancer, open: tested without effect);
    * ``matrix`` (square, bins of ``resolution`` from ``matrix_start``) as a rotated triangle with
      ``boundaries`` (positions in bp) as dashed lines on every panel.
    """
    tracks = dict(tracks or {})
    panels = [("track", k) for k in tracks]
    if elements is not None or links is not None or gene is not None:
        panels.append(("links", None))
    if matrix is not None:
        panels.append(("matrix", None))
    if not panels:
        raise ValueError("locus_view: nothing to draw")
    heights = [1.0 if k == "track" else 1.8 if k == "links" else 3.2 for k, _ in panels]
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, sum(heights) * 0.95 + 0.6), sharex=True,
                             gridspec_kw=dict(height_ratios=heights, hspace=0.12), squeeze=False)
    axes = axes[:, 0]
    bnds = [] if boundaries is None else [float(b) for b in boundaries if start <= b <= end]
    for ax, (kind, name) in zip(axes, panels):
        if kind == "track":
            x, y = tracks[name]
            x = np.asarray(x, float)
            y = np.nan_to_num(np.asarray(y, float))
            ax.fill_between(x, 0, y, step="mid", color="#4c72b0", lw=0)
            ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9, labelpad=14)
            ax.set_ylim(0, max(float(y.max()) * 1.05, 1e-9))
            ax.tick_params(labelsize=7)
            ax.spines[["top", "right"]].set_visible(False)
        elif kind == "links":
            ax.set_ylim(-1.2, 1.6)
            ax.axhline(0, color="#999999", lw=0.6)
            if elements is not None and len(elements):
                e = elements[(elements["end"] > start) & (elements["start"] < end)]
                sc = e["score"].to_numpy(float) if "score" in e else np.ones(len(e))
                top = np.nanmax(sc) if len(sc) and np.isfinite(sc).any() and np.nanmax(sc) > 0 else 1
                for (s, t), v in zip(e[["start", "end"]].to_numpy(), sc):
                    shade = 0.25 + 0.75 * (np.clip(v / top, 0, 1) if np.isfinite(v) else 0)
                    ax.add_patch(Rectangle((s, -0.15), max(t - s, (end - start) * 0.0015), 0.3,
                                           color=plt.cm.Greys(shade), lw=0))
            tss = None
            if gene is not None:
                tss = float(gene["tss"])
                strand = gene.get("strand", "+")
                d = (end - start) * 0.03 * (1 if strand != "-" else -1)
                ax.annotate("", xy=(tss + d, -0.75), xytext=(tss, -0.75),
                            arrowprops=dict(arrowstyle="-|>", color="#d62728", lw=1.5))
                ax.plot([tss, tss], [-0.75, 0], color="#d62728", lw=1.5)
                ax.text(tss, -1.1, gene.get("symbol", ""), color="#d62728", ha="center", va="center",
                        fontsize=9, style="italic")
            if links is not None and len(links) and tss is not None:
                lk = links.copy()
                lk["score"] = lk["score"].astype(float)
                lk = lk[np.isfinite(lk["score"])].nlargest(top_n, "score")
                # width and opacity by the score's place among the arcs drawn (a rank-type Score
                # bunches near 1, so its ratio to the maximum would draw every arc alike)
                smin, smax = (lk["score"].min(), lk["score"].max()) if len(lk) else (0.0, 1.0)
                for s, t, v in lk[["start", "end", "score"]].to_numpy(float):
                    c = (s + t) / 2
                    w = abs(c - tss)
                    if w <= 0:
                        continue
                    frac = 0.2 + 0.8 * (v - smin) / (smax - smin) if smax > smin else 1.0
                    ax.add_patch(Arc(((c + tss) / 2, 0), w, 2.6 * min(1.0, 0.25 + w / (end - start)), theta1=0,
                                     theta2=180, color="#2ca02c", lw=0.6 + 2.4 * frac, alpha=0.35 + 0.65 * frac))
                ax.text(0.005, 0.95, f"arcs: top {len(lk)} links by {score_label}", transform=ax.transAxes,
                        fontsize=7, va="top", color="#2ca02c")
            if tested is not None and len(tested):
                t = tested[(tested["end"] > start) & (tested["start"] < end)]
                mid = (t["start"].to_numpy(float) + t["end"].to_numpy(float)) / 2
                pos = t["positive"].to_numpy(bool)
                ax.scatter(mid[~pos], np.full((~pos).sum(), 0.45), marker="v", s=28, facecolors="none",
                           edgecolors="#7f7f7f", lw=0.8, zorder=4, label="CRISPRi: no effect")
                ax.scatter(mid[pos], np.full(pos.sum(), 0.45), marker="v", s=40, color="#9467bd", zorder=5,
                           label="CRISPRi: validated enhancer")
                ax.text(0.995, 0.95, f"triangles: CRISPRi-tested elements ({int(pos.sum())} validated, filled)",
                        transform=ax.transAxes, fontsize=7, va="top", ha="right", color="#9467bd")
            ax.set_yticks([])
            ax.set_ylabel("cCREs", rotation=0, ha="right", va="center", fontsize=9, labelpad=14)
            for sp in ("top", "right", "left"):
                ax.spines[sp].set_visible(False)
        else:
            pcm = _triangle(ax, np.asarray(matrix, float), matrix_start if matrix_start is not None else start,
                            resolution or 1, max_distance=min(end - start, matrix.shape[0] * (resolution or 1)))
            cb = fig.colorbar(pcm, ax=ax, orientation="vertical", fraction=0.02, pad=0.01)
            cb.set_label("attention", fontsize=8)
            cb.ax.tick_params(labelsize=7)
        for b in bnds:
            ax.axvline(b, color="#555555", ls="--", lw=0.8, alpha=0.7, zorder=3)
    axes[-1].set_xlim(start, end)
    _mb(axes[-1])
    axes[-1].set_xlabel(f"{chrom} position (Mb)" + ("; dashed: boundaries" if bnds else ""))
    if title:
        axes[0].set_title(title, fontsize=11)
    return _save(fig, out)
