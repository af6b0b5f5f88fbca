"""Golden insulation values for tests/test_insulation.py, computed with cooltools 0.7.1.

Run once in a virtualenv with the project's pinned numpy/pandas/cooler plus cooltools==0.7.1
(not a project dependency: it brings numba and llvmlite):

    python tests/data/insulation/make_golden.py   # writes tests/data/insulation/cooltools_w5.tsv
"""
import os
import tempfile

import numpy as np
import pandas as pd


def matrix():
    """120 bins, contacts up to 29 bins apart decaying with distance, 10% of pixels absent (zero)."""
    n = 120
    rng = np.random.default_rng(0)
    i, j = np.triu_indices(n)
    keep = (j - i) < 30
    i, j = i[keep], j[keep]
    val = np.exp(-0.1 * (j - i)) * (1 + rng.random(len(i)))
    drop = rng.random(len(i)) < 0.1
    return n, i[~drop], j[~drop], val[~drop]


if __name__ == "__main__":
    import cooler
    import cooltools

    n, i, j, val = matrix()
    res, w = 10_000, 5
    bins = pd.DataFrame({"chrom": "chr1", "start": np.arange(n) * res, "end": (np.arange(n) + 1) * res})
    path = os.path.join(tempfile.mkdtemp(), "m.cool")
    cooler.create_cooler(path, bins, pd.DataFrame({"bin1_id": i, "bin2_id": j, "count": val}),
                         dtypes={"count": float})
    ins = cooltools.insulation(cooler.Cooler(path), [w * res], clr_weight_name=None, ignore_diags=1,
                               min_dist_bad_bin=0, min_frac_valid_pixels=0, verbose=False)
    out = pd.DataFrame({"bin": np.arange(n), "log2_insulation_score": ins[f"log2_insulation_score_{w * res}"],
                        "n_valid_pixels": ins[f"n_valid_pixels_{w * res}"].astype(int)})
    out.to_csv(os.path.join(os.path.dirname(os.path.abspath(__file__)), "cooltools_w5.tsv"), sep="\t",
               index=False, float_format="%.12g")
