import pytest

from creator.config import load_config, read_samples, validate_config
from creator.errors import InputError

from conftest import REPO, write


def test_demo_config_validates_and_fills_defaults():
    cfg = load_config(REPO / "config" / "config.yaml")
    assert cfg["reference"]["element_bp"] == 500
    assert cfg["features"]["transform"] == "log1p"
    minimal = validate_config({"samples": "x.tsv", "reference": {
        "ccres": {"url": "a.bed"}, "genes": {"url": "g.bed"}, "chrom_sizes": {"url": "c.sizes"}}})
    assert minimal["reference"]["window_bp"] == 1_000_000
    assert minimal["features"]["resolution_bp"] == 10
    assert minimal["outdir"] == "results"


def _cfg(**ref):
    base = {"ccres": {"url": "a.bed"}, "genes": {"url": "g.bed"}, "chrom_sizes": {"url": "c.sizes"}}
    base.update(ref)
    return {"samples": "s.tsv", "reference": base}


def test_unknown_key_names_key_and_allowed_keys():
    with pytest.raises(InputError) as e:
        validate_config(_cfg(window=5), source="my.yaml")
    msg = str(e.value)
    assert msg.startswith("my.yaml: config key 'reference.window'")
    assert "window" in msg and "window_bp" in msg  # names the bad key and lists the allowed ones


def test_misspelled_model_key_fails_at_parse_with_its_path():
    """train.model's schema is generated from ModelConfig: a typo stops the config from loading,
    before any rule runs (rules/common.smk validates at parse time)."""
    with pytest.raises(InputError, match=r"config key 'train\.model\.insulaton'.*allowed keys:.*insulation"):
        validate_config(dict(_cfg(), train={"model": {"insulaton": True}}))
    with pytest.raises(InputError, match=r"config key 'train\.model\.gene_scales_bp\.1'"):
        validate_config(dict(_cfg(), train={"model": {"gene_scales_bp": [100, "2kb"]}}))
    ok = validate_config(dict(_cfg(), train={"model": {"insulation": True, "gene_scales_bp": [100, 1000]}}))
    assert ok["train"]["model"] == {"insulation": True, "gene_scales_bp": [100, 1000]}


def test_every_default_lives_in_the_schema():
    """config.DEFAULTS is read from the schema; every key of every section has a default there
    (except the inputs a config must give), and the settings dataclasses start from the same."""
    import dataclasses

    from creator.config import DEFAULTS, load_schema
    from creator.model import ModelConfig
    from creator.train import TrainConfig

    schema = load_schema("config")
    for name, section in schema["properties"].items():
        if section.get("type") != "object" or "properties" not in section:
            continue
        required = set(section.get("required", []))
        for key, sub in section["properties"].items():
            if key not in required:
                assert "default" in sub, f"{name}.{key} has no default in the schema"
                assert DEFAULTS[name][key] == sub["default"]
    assert TrainConfig().to_dict() == DEFAULTS["train"]
    assert set(schema["properties"]["train"]["properties"]["model"]["properties"]) == {
        f.name for f in dataclasses.fields(ModelConfig)}
    # config.yaml states only what the demo changes: no key there repeats its default
    import yaml

    demo = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    same = [f"{sec}.{k}" for sec, body in demo.items() if isinstance(body, dict) and isinstance(DEFAULTS.get(sec), dict)
            for k, v in body.items() if k in DEFAULTS[sec] and DEFAULTS[sec][k] == v]
    assert not same, f"config/config.yaml repeats defaults: {same}"


def test_bad_enum_lists_choices():
    with pytest.raises(InputError, match=r"features.transform.*use one of none, log1p, arcsinh"):
        validate_config(dict(_cfg(), features={"transform": "sqrt"}))


def test_bad_md5_and_resolution():
    with pytest.raises(InputError, match="reference.ccres.md5"):
        validate_config(_cfg(ccres={"url": "a.bed", "md5": "xyz"}))
    with pytest.raises(InputError, match="resolution_bp.*does not divide"):
        validate_config(dict(_cfg(element_bp=500), features={"resolution_bp": 7}))


HEADER = "cell_type\trole\tassay\turl\tmd5\n"


def test_sample_sheet_demo():
    rows = read_samples(REPO / "config" / "samples.tsv")
    assert {(r.cell_type, r.assay) for r in rows} == {("K562", "DNase"), ("K562", "H3K27ac"), ("K562", "rnaseq")}
    assert all(len(r.md5) == 32 for r in rows)


@pytest.mark.parametrize("body,line,pattern", [
    ("A\ttrain\tDNase\ta.bw\t\nA\ttrainn\trnaseq\tb.tsv\t\n", 3, "role"),
    ("A\ttrain\tDNase\ta.bw\t\nA\ttrain\tDNase\tc.bw\t\n", 3, "listed twice"),
    ("A\ttrain\tDNase\ta.bw\n", 2, "fields where the header has"),
    ("A\ttrain\tATAC\ta.bw\t\n", 2, "assay"),
    ("A\ttrain\tDNase\ta.bw\tnotanmd5\n", 2, "md5"),
])
def test_sample_sheet_errors_name_the_line(tmp_path, body, line, pattern):
    path = write(tmp_path / "s.tsv", HEADER + body)
    with pytest.raises(InputError, match=pattern) as e:
        read_samples(path)
    assert f"s.tsv:{line}:" in str(e.value)


def test_train_cell_needs_rnaseq(tmp_path):
    path = write(tmp_path / "s.tsv", HEADER + "A\ttrain\tDNase\ta.bw\t\n")
    with pytest.raises(InputError, match="no rnaseq row"):
        read_samples(path)
    path = write(tmp_path / "s2.tsv", HEADER + "A\tpredict\tDNase\ta.bw\t\n")
    with pytest.raises(InputError, match="no cell type has role 'train'"):
        read_samples(path)
