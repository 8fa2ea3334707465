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
import math
import os
import re
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


# Names that become file names and command-line arguments. One pattern each, used by the schema (a test keeps
# workflow/schemas in sync), the Snakefile's wildcard constraints and the readers of the lock file.
# DANDI's own asset shape: sub-<label>/<name>.nwb, letters, digits and _.+- only (no spaces, no $, no ..).
ASSET_PATH_PATTERN = r"^sub-[A-Za-z0-9_.+-]+/[A-Za-z0-9_.+-]+\.nwb$"
# sessions, pairs, experiments, families, variants: one path component, never starting with . or -
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$"


def check_asset_path(path: Any, where: str, field: str) -> str:
    """``path`` if it has DANDI's asset shape, else InputError naming ``field``."""
    if not isinstance(path, str) or not re.match(ASSET_PATH_PATTERN, path):
        raise InputError(where, field, "an asset path sub-<label>/<name>.nwb of letters, digits and _.+- only", got=path)
    return path


def check_name(name: Any, where: str, field: str) -> str:
    if not isinstance(name, str) or not re.match(NAME_PATTERN, name):
        raise InputError(where, field, "a name of letters, digits and _.+- (not starting with . or -)", got=name)
    return name


class _StrictLoader(_LOADER):
    """The safe loader, refusing duplicate keys (PyYAML silently keeps the last one)."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _value in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                continue  # the base constructor reports unhashable keys itself
            if key in seen:
                mark = key_node.start_mark
                raise _DuplicateKey(key, mark.line + 1, mark.column + 1, seen[key])
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


class _DuplicateKey(Exception):
    def __init__(self, key, line, column, first_line):
        super().__init__(key)
        self.key, self.line, self.column, self.first_line = key, line, column, first_line


def read_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """One config file, strictly: a YAML mapping, no duplicate keys, no YTE template.

    Every problem is one InputError line naming the file (and for syntax errors its line and column).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "", "a YAML config file (no such file)")
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)  # noqa: S506 (a safe loader)
    except _DuplicateKey as dup:
        raise InputError(path, f"line {dup.line}, column {dup.column}",
                         f"each key once per mapping ({dup.key!r} is already set on line {dup.first_line})") from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise InputError(path, where, f"valid YAML ({err.problem or err.context})") from None
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise InputError(path, "", f"valid UTF-8 YAML ({type(err).__name__})") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise InputError(path, "(top level)", "a mapping of config keys", got=type(doc).__name__)
    if "__use_yte__" in doc:
        # YTE templates evaluate Python expressions; a config must be data
        raise InputError(path, "__use_yte__", "plain YAML (neurodyn configs are data, not YTE templates)")
    return doc


def check_finite(node: Any, where: str, path: str = "") -> None:
    """No NaN or infinity anywhere (YAML .nan / .inf, or --config x=nan): every number must be a number."""
    if isinstance(node, float) and not math.isfinite(node):
        raise InputError(where, path or "(top level)", "a finite number", got=node)
    if isinstance(node, Mapping):
        for key, value in node.items():
            check_finite(value, where, f"{path}.{key}" if path else str(key))
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            check_finite(value, where, f"{path}[{i}]")


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


def _describe(error, is_config: bool = True) -> tuple[str, str, object]:
    path = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        known = ", ".join(sorted(error.schema.get("properties", {})))
        field = f"{path}.{extra[0]}" if path != "(top level)" else extra[0]
        return field, f"one of the known keys [{known}]", None
    if error.validator == "required":
        missing = error.message.split("'")[1]
        return (f"{path}.{missing}" if path != "(top level)" else missing), "this key to be present", None
    if "propertyNames" in error.schema_path:  # a key name (session, pair, ...) that breaks the name pattern
        return (f"{path}.{error.instance}" if path != "(top level)" else str(error.instance),
                f"a key name matching {error.validator_value}", None)
    expected = {
        "type": f"{error.validator_value}",
        "enum": f"one of {error.validator_value}",
        "minimum": f"a value >= {error.validator_value}",
        "exclusiveMinimum": f"a value > {error.validator_value}",
        "maximum": f"a value <= {error.validator_value}",
        "pattern": f"text matching {error.validator_value}",
        "minItems": f"at least {error.validator_value} items",
    }.get(error.validator, error.message)
    if is_config and error.validator == "type" and isinstance(error.instance, str) and _looks_numeric(error.instance):
        expected += " — a nested --config value is always text; put it in a --configfile overlay instead"
    return path, expected, error.instance


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return text in ("true", "false", "True", "False")
    return True


def _strict_validator():
    """Draft 2020-12 with one change: an integer is an int, not a float that happens to be whole (5.0)."""
    import jsonschema

    base = jsonschema.Draft202012Validator
    checker = base.TYPE_CHECKER.redefine(
        "integer", lambda _checker, value: isinstance(value, int) and not isinstance(value, bool))
    return jsonschema.validators.extend(base, type_checker=checker)


def validate(config: Mapping[str, Any], where: str = "config", schema: Mapping | None = None) -> None:
    """Raise InputError (one line, with the key's dotted path) unless ``config`` matches the schema.

    ``schema`` defaults to the config schema; another (the lock file's) gets no hint about ``--config``.
    """
    import jsonschema

    check_finite(config, where)
    schema_is_config = schema is None
    schema = schema or load_schema()
    validator = _strict_validator()(schema)
    errors = sorted(validator.iter_errors(dict(config)), key=lambda e: (len(e.absolute_path), str(e.absolute_path)))
    if errors:
        field, expected, got = _describe(errors[0], is_config=schema_is_config)
        raise InputError(where, field, expected, got=got)


def load(*paths: str | os.PathLike) -> dict[str, Any]:
    """Load and merge config files in order, then validate the result."""
    config: dict[str, Any] = {}
    for path in paths:
        config = merge(config, read_config_file(path))
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
    align = config.get("erdiff", {}).get("align", {})
    if align.get("screen_steps", 0) and align["screen_steps"] >= align["steps"]:
        raise InputError(where, "erdiff.align.screen_steps", f"fewer than erdiff.align.steps ({align['steps']}), or 0 (no screening)",
                         got=align["screen_steps"])
    for name in config.get("overview", {}).get("sessions", []):
        if name not in config["sessions"]:
            raise InputError(where, "overview.sessions", f"names from sessions ({', '.join(sorted(config['sessions']))})", got=name)
