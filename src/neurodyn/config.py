"""Configuration: ``config.yaml`` (full reproduction) plus overlays (``config/demo.yaml``), checked by a schema.

The schema lives in ``workflow/schemas/config.schema.yaml``; a paper's section may live in its own file,
referenced as ``{$ref: erdiff.schema.yaml}`` and inlined here. Every object in it forbids unknown keys, so a
typo fails with the key's path: ``config.yaml: erdiff.vae.lr: expected number (got 'fast')``.

CLI: ``neurodyn config [--configfile F ...] [--get dotted.key]`` validates and prints.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from neurodyn.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
# libyaml's C loader when PyYAML has it: planning the DAG reads config.yaml, the overlays and the schemas, and the
# pure-Python loader made that ~2 s of every `snakemake -n` (benchmarks/dag.py)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(text: str) -> Any:
    """yaml.safe_load, with the C loader when available (same results for safe YAML)."""
    return yaml.load(text, Loader=_LOADER)  # noqa: S506 (a safe loader)
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"


def _inline_refs(node: Any, base: Path) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and not ref.startswith("#"):
            return _inline_refs(read_yaml((base / ref).read_text()), base)
        return {k: _inline_refs(v, base) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline_refs(v, base) for v in node]
    return node


def load_schema(path: str | os.PathLike = SCHEMA) -> dict:
    path = Path(path)
    return _inline_refs(read_yaml(path.read_text()), path.parent)


def merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """Recursive dict merge as Snakemake does for --configfile overlays (lists are replaced whole)."""
    out = copy.deepcopy(dict(base))
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _describe(error) -> tuple[str, str, object]:
    path = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        known = ", ".join(sorted(error.schema.get("properties", {})))
        field = f"{path}.{extra[0]}" if path != "(top level)" else extra[0]
        return field, f"one of the known keys [{known}]", None
    if error.validator == "required":
        missing = error.message.split("'")[1]
        return (f"{path}.{missing}" if path != "(top level)" else missing), "this key to be present", None
    expected = {
        "type": f"{error.validator_value}",
        "enum": f"one of {error.validator_value}",
        "minimum": f"a value >= {error.validator_value}",
        "exclusiveMinimum": f"a value > {error.validator_value}",
        "maximum": f"a value <= {error.validator_value}",
        "pattern": f"text matching {error.validator_value}",
        "minItems": f"at least {error.validator_value} items",
    }.get(error.validator, error.message)
    return path, expected, error.instance


def validate(config: Mapping[str, Any], where: str = "config", schema: Mapping | None = None) -> None:
    """Raise InputError (one line, with the key's dotted path) unless ``config`` matches the schema."""
    import jsonschema

    schema = schema or load_schema()
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(dict(config)), key=lambda e: (len(e.absolute_path), str(e.absolute_path)))
    if errors:
        field, expected, got = _describe(errors[0])
        raise InputError(where, field, expected, got=got)


def load(*paths: str | os.PathLike) -> dict[str, Any]:
    """Load and merge config files in order, then validate the result."""
    config: dict[str, Any] = {}
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise InputError(path, "", "a YAML config file (no such file)")
        try:
            config = merge(config, read_yaml(path.read_text()) or {})
        except yaml.YAMLError as err:
            raise InputError(path, "", f"valid YAML ({err.__class__.__name__})") from err
    where = " + ".join(str(p) for p in paths)
    validate(config, where=where)
    check_references(config, where=where)
    return config


def get(config: Mapping[str, Any], dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise InputError("config", dotted, "an existing key")
        node = node[part]
    return node


def parse_params(text: str, where: str = "--params") -> dict[str, Any]:
    """Rules pass their config slice as one JSON argument; parse it with a clear error."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(where, "", f"a JSON object ({err.msg})") from err
    if not isinstance(value, dict):
        raise InputError(where, "", "a JSON object", got=type(value).__name__)
    return value


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="neurodyn config", description=__doc__.splitlines()[0])
    parser.add_argument("--configfile", action="append", default=None, help="config files, merged in order")
    parser.add_argument("--get", help="print the value at this dotted key")
    args = parser.parse_args(argv)
    config = load(*(args.configfile or [ROOT / "config.yaml"]))
    print(json.dumps(get(config, args.get) if args.get else config, indent=2))
    return 0


def check_references(config: Mapping[str, Any], where: str = "config") -> None:
    """Cross-checks a schema cannot express: sessions name existing datasets and NLB windows."""
    for name, session in config.get("sessions", {}).items():
        dandi = session["source"].get("dandi")
        if dandi:
            dataset = config["datasets"].get(dandi["dataset"])
            if dataset is None:
                raise InputError(where, f"sessions.{name}.source.dandi.dataset", f"one of {sorted(config['datasets'])}", got=dandi["dataset"])
            if dandi["asset"] not in dataset["assets"]:
                raise InputError(where, f"sessions.{name}.source.dandi.asset", f"one of {sorted(dataset['assets'])}", got=dandi["asset"])
        locked = session["source"].get("locked")
        if locked:
            listed = config.get("unpinned", {}).get(locked["dandiset"], {}).get("assets", [])
            if locked["path"] not in listed:
                raise InputError(where, f"sessions.{name}.source.locked.path",
                                 f"an asset listed in unpinned.{locked['dandiset']}.assets (so `neurodyn lock` pins it)",
                                 got=locked["path"])
        if "nlb" in session and session["nlb"] not in config["nlb"]:
            raise InputError(where, f"sessions.{name}.nlb", f"one of {sorted(config['nlb'])}", got=session["nlb"])
    for name in config.get("overview", {}).get("sessions", []):
        if name not in config["sessions"]:
            raise InputError(where, "overview.sessions", f"names from sessions ({', '.join(sorted(config['sessions']))})", got=name)
