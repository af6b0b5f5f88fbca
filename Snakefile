# creator-workflow: link cCREs to their target genes in any cell type (a CREaTor re-implementation).
# This file is the table of contents; every stage lives in rules/*.smk, every piece of logic in creator/.

from snakemake.utils import min_version

min_version("8.0")


report: "report/workflow.rst"


configfile: "config/config.yaml"


# Validates the config against config/schema/config.schema.yaml (filling defaults) and the sample
# sheet against config/schema/samples.schema.yaml; errors name the key or line and the fix.
include: "rules/common.smk"
include: "rules/simulate.smk"
include: "rules/download.smk"
include: "rules/reference.smk"
include: "rules/features.smk"
include: "rules/train.smk"
include: "rules/predict.smk"
include: "rules/links.smk"
include: "rules/tads.smk"
include: "rules/evaluate.smk"
include: "rules/encode.smk"


rule all:
    default_target: True
    input:
        final_outputs(),
