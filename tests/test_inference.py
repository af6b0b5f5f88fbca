"""creator.inference: the region path (first gene layer and distance bias shared by a region's
genes) gives the padded path's predictions; stage modules import no other stage module."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import torch

from creator import data
from creator.inference import predict_cached, predict_windows
from creator.model import CreatorModel, ModelConfig

PACKAGE = Path(__file__).resolve().parents[1] / "creator"
#: modules that run one workflow stage (a rule calls exactly one of them)
STAGES = ("reference", "features", "targets", "train", "predict", "links", "tads", "evaluate", "download",
          "encode", "simulate", "demo")


@pytest.mark.parametrize("layers,insulation", [(2, False), (4, False), (4, True)])
def test_predict_windows_equals_padded_batches(layers, insulation):
    """Two chromosomes; windows of one gene, overlapping windows, an empty window, a window wider
    than the region (padded path), TSSs inside and beyond their windows."""
    config = ModelConfig.preset("tiny", gene_layers=layers, insulation=insulation)
    torch.manual_seed(0)
    model = CreatorModel(config).eval()
    if insulation:
        with torch.no_grad():
            model.gene.insulation.proj.weight.normal_(0, 0.5)
    g = torch.Generator().manual_seed(4)
    n1, n2 = 60, 30
    center = np.concatenate([np.sort(np.random.default_rng(1).integers(0, 900_000, n1)),
                             np.sort(np.random.default_rng(2).integers(0, 400_000, n2))])
    emb = torch.randn(n1 + n2, config.d_model, generator=g)
    lo = np.array([0, 3, 10, 20, 25, 0, 59, 40, 60, 62, 70, 60, 75])
    hi = np.array([15, 18, 30, 45, 25, 60, 60, 60, 70, 80, 90, 90, 90])
    chrom = np.array([0] * 8 + [1] * 5)
    tss = np.array([center[5] + 11, center[3], center[29] + 1_000, center[20] - 7, 300_000, center[30],
                    center[59] + 3, center[45], center[61], center[70] + 2, center[85], center[75], center[89] + 50])
    with torch.inference_mode():
        windows = [np.arange(a, b) for a, b in zip(lo, hi)]
        offsets = [center[a:b] - t for a, b, t in zip(lo, hi, tss)]
        padded = predict_cached(model, None, None, windows, offsets, embeddings=emb, batch_genes=3)
        shapes = []
        for region_bp in (10**9, 400_000, 150_000):
            regions, singles = data.plan_window_regions(lo, hi, center, tss, region_bp, chrom=chrom,
                                                        genes=np.flatnonzero(hi > lo))
            got = predict_windows(model, emb, center, lo, hi, tss, chrom=chrom, region_bp=region_bp, batch_genes=2)
            np.testing.assert_allclose(got, padded, atol=1e-5, rtol=0, err_msg=f"region_bp {region_bp}")
            assert sum(len(r) for r in regions) + len(singles) == 12  # every non-empty window, once
            assert all(len(set(chrom[r])) == 1 for r in regions)
            shapes.append((sum(len(r) > 1 for r in regions), len(singles)))
        # one region per chromosome; several regions of several genes and padded singles
        assert shapes[0] == (2, 0) and shapes[1][0] >= 2 and shapes[1][1] >= 1 and shapes[2][1] > shapes[1][1], shapes
        sub = np.array([12, 4, 0])
        np.testing.assert_allclose(predict_windows(model, emb, center, lo, hi, tss, chrom=chrom, genes=sub),
                                   padded[sub], atol=1e-5, rtol=0)
    assert np.isfinite(padded).all() and padded.std() > 0


def _internal_imports(path: Path) -> set[str]:
    """Top-level ``creator`` modules imported anywhere in ``path`` (module level or in functions)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("creator"):
            parts = node.module.split(".")
            if len(parts) > 1:
                out.add(parts[1])
            else:
                out.update(a.name for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name.split(".")[1] for a in node.names if a.name.startswith("creator."))
    return out


def _module_graph() -> dict[str, set[str]]:
    """Top-level ``creator`` module (or package) -> the top-level modules it imports, anywhere in it."""
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).parts
        name = rel[0].removesuffix(".py")
        if name in ("__init__", "__main__", "cli"):  # the dispatcher imports every stage, by name
            continue
        graph.setdefault(name, set()).update(_internal_imports(path) - {name})
    return graph


def test_no_import_cycle():
    graph = _module_graph()
    state: dict[str, int] = {}

    def visit(node, path):
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            assert state.get(nxt) != 1, "import cycle: " + " -> ".join(path + [nxt])
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert "plots" in graph["evaluate"] and "evaluate" not in graph["plots"]  # plots take data, not files


def test_no_stage_imports_another_stage():
    for stage in STAGES:
        path = PACKAGE / f"{stage}.py"
        paths = [path] if path.exists() else sorted((PACKAGE / stage).glob("*.py"))
        assert paths, stage
        imported = set().union(*(_internal_imports(p) for p in paths))
        others = imported & (set(STAGES) - {stage})
        assert not others, f"creator/{stage} imports the stage module(s) {sorted(others)}"
        assert "cli" not in imported, f"creator/{stage} imports creator.cli"
