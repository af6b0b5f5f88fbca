"""Glue for rule effective_config: write the validated config the rules read."""

import sys

sys.path.insert(0, snakemake.scriptdir + "/..")  # noqa: F821

from creator.config import write_config  # noqa: E402

with open(snakemake.log[0], "w") as log:  # noqa: F821
    write_config(snakemake.params.config, snakemake.output[0])  # noqa: F821
    print("wrote", snakemake.output[0], file=log)  # noqa: F821
