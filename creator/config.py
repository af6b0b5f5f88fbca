"""Configuration and sample sheet: defaults, JSON-schema validation, errors that name key and fix."""

from __future__ import annotations

import copy
import csv
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from creator.errors import InputError
from creator.formats import RNASEQ, ROLES, TRACKS

REPO = Path(__file__).resolve().parents[1]
SCHEMA_DIR = REPO / "config" / "schema"

SAMPLE_COLUMNS = ("cell_type", "role", "assay", "url", "md5")
#: Provenance columns of an ENCODE manifest (creator.encode), which is also a sample sheet: ignored here.
MANIFEST_EXTRA_COLUMNS = ("accession", "assembly", "biosample", "target", "output_type", "experiment", "source")


def _merge(defaults: dict, given: dict) -> dict:
    out = copy.deepcopy(defaults)
    for key, value in given.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _model_schema() -> dict:
    """JSON schema of ``train.model``, generated from :class:`creator.model.ModelConfig`'s fields
    (types only; ranges are ModelConfig's own checks), so that a misspelled key fails when the config
    is read, naming its path."""
    from creator.model.config import ModelConfig

    kinds = {"int": {"type": "integer"}, "float": {"type": "number"}, "bool": {"type": "boolean"},
             "tuple[int, ...]": {"type": "array", "items": {"type": "integer"}},
             "tuple[str, ...]": {"type": "array", "items": {"type": "string"}}}
    props = {}
    for f in dataclasses.fields(ModelConfig):
        kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
        if kind not in kinds:
            raise TypeError(f"ModelConfig.{f.name}: no JSON schema for type {kind}")
        props[f.name] = dict(kinds[kind])
    return {"description": "overrides of the preset's ModelConfig fields (creator.model.ModelConfig)",
            "type": "object", "additionalProperties": False, "properties": props, "default": {}}


def load_schema(name: str) -> dict:
    """``config/schema/{name}.schema.yaml``; the config schema with ``train.model`` generated."""
    with open(SCHEMA_DIR / f"{name}.schema.yaml") as fh:
        schema = yaml.safe_load(fh)
    if name == "config":
        schema["properties"]["train"]["properties"]["model"] = _model_schema()
    return schema


def schema_defaults(schema: dict) -> dict[str, Any]:
    """Every default the config schema states: top-level keys with a ``default``, and for each
    object section the defaults of its keys (the one place defaults live)."""
    out: dict[str, Any] = {}
    for key, sub in schema["properties"].items():
        if "default" in sub:
            out[key] = copy.deepcopy(sub["default"])
        elif sub.get("type") == "object" and "properties" in sub:
            out[key] = {k: copy.deepcopy(v["default"]) for k, v in sub["properties"].items() if "default" in v}
    return out


#: the config's defaults, read from config/schema/config.schema.yaml
DEFAULTS: dict[str, Any] = schema_defaults(load_schema("config"))


def section_defaults(section: str) -> dict[str, Any]:
    """A copy of one section's defaults (for stage CLIs and settings dataclasses)."""
    return copy.deepcopy(DEFAULTS[section])


def _is_strict_integer(checker, instance) -> bool:
    """An int, not a bool and not a float such as 500.0 (JSON Schema counts 500.0 as an integer,
    but the stages use these values as Python ints: sizes, counts, seeds)."""
    return isinstance(instance, int) and not isinstance(instance, bool)


#: Draft 2020-12 with integers that are ints: ``element_bp: 500.0`` is an error naming the key.
_Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_strict_integer),
)


def _default_at(path) -> Any:
    """The default value at a key path (None when there is none): an example for a fix."""
    value: Any = DEFAULTS
    for p in path:
        if not isinstance(value, dict) or p not in value:
            return None
        value = value[p]
    return None if isinstance(value, (dict, list)) else value


def _type_fix(error: jsonschema.ValidationError) -> str:
    """A fix for a value of the wrong type that shows a value of the right one."""
    types = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
    leaf = str(error.absolute_path[-1]) if error.absolute_path else "key"
    example = _default_at(error.absolute_path)
    value = error.instance
    if "integer" in types:
        if isinstance(value, float) and value.is_integer():
            return f"write a whole number without a decimal point, e.g. {leaf}: {int(value)}"
        if example is None or isinstance(example, bool) or not isinstance(example, int):
            example = 1000
        return (f"give a whole number (base pairs and counts are plain integers, no units or quotes), "
                f"e.g. {leaf}: {example}")
    if "number" in types:
        if example is None or isinstance(example, bool) or not isinstance(example, (int, float)):
            example = 0.5
        return f"give a number without quotes or units, e.g. {leaf}: {example}"
    if "boolean" in types:
        return f"write true or false without quotes, e.g. {leaf}: {str(example is True).lower()}"
    if "string" in types:
        return f"give a text value, e.g. {leaf}: \"{example if isinstance(example, str) else '...'}\""
    return f"give a value of type {' or '.join(map(str, types))}"


def _explain(error: jsonschema.ValidationError) -> tuple[str, str]:
    key = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        if extra:  # name the misspelled key itself
            key = f"{key}.{extra[0]}" if error.absolute_path else extra[0]
    if error.validator == "type":
        fix = _type_fix(error)
        if error.schema.get("description"):
            fix += f" ({error.schema['description']})"
        return key, fix
    if error.validator == "additionalProperties":
        fix = "remove or rename the key; allowed keys: " + ", ".join(sorted(error.schema.get("properties", {})))
    elif error.validator == "required":
        fix = "add the missing key"
    elif error.validator == "enum":
        fix = "use one of " + ", ".join(map(str, error.validator_value))
    elif error.validator == "pattern":
        fix = f"the value must match {error.validator_value}"
    else:
        fix = error.schema.get("description") or f"see the schema rule {error.validator}={error.validator_value!r}"
    return key, fix


def validate_config(config: dict, *, source: str = "config", partial: bool = False) -> dict:
    """Fill defaults and validate against config/schema/config.schema.yaml.

    Returns the completed config; raises :class:`InputError` naming the key and the fix. With
    ``partial`` the top-level required keys may be absent (a rule passes only the sections its
    stage reads, so that changing another section does not rerun it).
    """
    full = _merge(DEFAULTS, config or {})
    schema = load_schema("config")
    if partial:
        schema.pop("required", None)
        for key, section in schema["properties"].items():  # sections not passed: only their defaults
            if key not in (config or {}) and isinstance(section, dict):
                section.pop("required", None)
    validator = _Validator(schema)
    errors = sorted(validator.iter_errors(full), key=lambda e: list(e.absolute_path))
    if errors:
        key, fix = _explain(errors[0])
        raise InputError(f"config key '{key}': {errors[0].message}", path=source, fix=fix)
    ref = full["reference"]
    checks_both = not partial or ("reference" in config and "features" in config)
    if checks_both and ref["element_bp"] % full["features"]["resolution_bp"]:
        raise InputError(
            f"config key 'features.resolution_bp': {full['features']['resolution_bp']} does not divide "
            f"reference.element_bp {ref['element_bp']}", path=source,
            fix="choose a resolution_bp that divides element_bp (e.g. 10 for 500)")
    return full


def validate_section(section: str, values: dict, *, source: str = "config") -> None:
    """Check one section's keys and types against the config schema (no defaults filled); the
    error names the key path (``train.model.insulaton``) and the fix."""
    schema = load_schema("config")
    sub = dict(schema["properties"][section])
    sub.pop("required", None)
    sub["$defs"] = schema.get("$defs", {})
    errors = sorted(jsonschema.Draft202012Validator(sub).iter_errors(values), key=lambda e: list(e.absolute_path))
    if errors:
        key, fix = _explain(errors[0])
        raise InputError(f"config key '{section}.{key}': {errors[0].message}", path=source, fix=fix)


def add_config_argument(parser, sections: str) -> None:
    """The ``--config`` every stage takes: the workflow config (a file) or inline JSON of the
    sections it reads, which the rule passes (``stage_config`` in rules/common.smk)."""
    parser.add_argument("--config", help=f"workflow config file, or inline JSON of its {sections} section(s) "
                                         "(what the rule passes); unset keys take the schema's defaults; "
                                         "flags given on the command line win")


def stage_settings(config_arg: str | Path | None, section: str, overrides: dict[str, Any] | None = None
                   ) -> dict[str, Any]:
    """One stage's settings, received the same way by every stage: the validated ``section`` of
    ``--config`` (its defaults from the schema when no config is given), then the command-line
    flags that were given (``overrides`` values that are not None)."""
    out = load_config(config_arg)[section] if config_arg else section_defaults(section)
    out = dict(out) if isinstance(out, dict) else out
    for key, value in (overrides or {}).items():
        if value is not None:
            out[key] = value
    return out


def load_config(path: str | Path) -> dict:
    """A config file, or inline JSON/YAML text starting with '{' (the sections a rule passes)."""
    text = str(path)
    if text.lstrip().startswith("{"):
        raw = yaml.safe_load(text) or {}
        return validate_config(raw, source="--config (inline)", partial=True)
    with open(path) as fh:
        raw = yaml.safe_load(fh) or {}
    return validate_config(raw, source=str(path))


@dataclass(frozen=True)
class Sample:
    cell_type: str
    role: str
    assay: str
    url: str
    md5: str | None
    line: int


def read_samples(path: str | Path) -> list[Sample]:
    """Read and validate the sample sheet (TSV with a header; ``#`` lines are comments)."""
    path = Path(path)
    if not path.exists():
        raise InputError("sample sheet not found", path=path, fix="set config key 'samples' to an existing TSV")
    schema = load_schema("samples")
    validator = _Validator(schema)
    rows: list[Sample] = []
    seen: dict[tuple[str, str], int] = {}
    with open(path, newline="") as fh:
        lines = [(i, ln) for i, ln in enumerate(fh, start=1) if ln.strip() and not ln.startswith("#")]
    if not lines:
        raise InputError("sample sheet is empty", path=path, fix="add a header and one row per file")
    header_line, header = lines[0]
    columns = next(csv.reader([header], delimiter="\t"))
    missing = [c for c in SAMPLE_COLUMNS[:4] if c not in columns]
    if missing:
        raise InputError(f"header lacks column(s) {', '.join(missing)}", path=path, line=header_line,
                         fix="use the tab-separated header: " + "\t".join(SAMPLE_COLUMNS))
    for lineno, text in lines[1:]:
        values = next(csv.reader([text.rstrip("\n")], delimiter="\t"))
        if len(values) != len(columns):
            raise InputError(f"{len(values)} fields where the header has {len(columns)}", path=path,
                             line=lineno, fix="separate fields with single tabs; leave md5 empty if unknown")
        record = dict(zip(columns, values))
        record = {k: (v if v != "" else None) if k == "md5" else v for k, v in record.items()
                  if k not in MANIFEST_EXTRA_COLUMNS}
        errors = list(validator.iter_errors(record))
        if errors:
            key, fix = _explain(errors[0])
            raise InputError(f"column '{key}': {errors[0].message}", path=path, line=lineno, fix=fix)
        key = (record["cell_type"], record["assay"])
        if key in seen:
            raise InputError(f"{key[0]} {key[1]} is listed twice (first on line {seen[key]})", path=path,
                             line=lineno, fix="keep one row per cell type and assay")
        seen[key] = lineno
        rows.append(Sample(record["cell_type"], record["role"], record["assay"], record["url"],
                           record.get("md5"), lineno))
    _check_cells(rows, path)
    return rows


def _check_cells(rows: list[Sample], path: Path) -> None:
    roles: dict[str, set[str]] = {}
    for s in rows:
        roles.setdefault(s.cell_type, set()).add(s.role)
    for cell, rset in roles.items():
        if len(rset) > 1:
            line = next(s.line for s in rows if s.cell_type == cell)
            raise InputError(f"cell type {cell} has several roles ({', '.join(sorted(rset))})", path=path,
                             line=line, fix="give every row of a cell type the same role")
        role = next(iter(rset))
        assays = {s.assay for s in rows if s.cell_type == cell}
        if role in ("train", "test") and RNASEQ not in assays:
            line = next(s.line for s in rows if s.cell_type == cell)
            raise InputError(f"cell type {cell} has role {role} but no rnaseq row", path=path, line=line,
                             fix="add an rnaseq row with its expression table, or make the role 'predict'")
        if not assays & set(TRACKS):
            line = next(s.line for s in rows if s.cell_type == cell)
            raise InputError(f"cell type {cell} has no signal track", path=path, line=line,
                             fix="add at least one bigWig row (e.g. DNase)")
    if not any(s.role == "train" for s in rows):
        raise InputError("no cell type has role 'train'", path=path, fix="mark at least one cell type as train")


def cell_types(samples: list[Sample], roles: tuple[str, ...] = ROLES) -> list[str]:
    """Cell types in sheet order whose role is in ``roles``."""
    out: list[str] = []
    for s in samples:
        if s.role in roles and s.cell_type not in out:
            out.append(s.cell_type)
    return out

