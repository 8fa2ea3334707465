"""The one job protocol (docs/contracts.md §4): every ``neurodyn`` job takes

    --inputs ROLE=PATH [PATH ...] [ROLE=PATH ...]   the files it reads, by role
    --params JSON                                   the config slice it runs with (one JSON object)
    --out PATH | ROLE=PATH [ROLE=PATH ...]           what it writes (roles when it writes several files)

plus, where a job has them, run-time options that are not configuration (``--seed`` derived from config by the
plan, ``--threads``, ``--device``) and the selector of which job it is (``--kind``, ``--method``, a NAME).

A role's paths follow its ``ROLE=``: Snakemake's ``runs={input.runs:q}`` renders a list as ``runs=a b`` and an
empty one as ``runs=``, so both read back as the list. A token names a role only when the text before its
first ``=`` is one of the command's roles; any other token is a path of the role before it.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence

from neurodyn.config import parse_params
from neurodyn.errors import InputError

# set (to anything): a command stops after its arguments parse, before any work (tests/unit/test_jobargs.py parses
# every command the demo and full DAGs plan)
CHECK_ONLY_ENV = "NEURODYN_CHECK_ARGS"
# how many paths a role takes: exactly one, at most one, at least one, any number
COUNTS = {"1": (1, 1), "?": (0, 1), "+": (1, None), "*": (0, None)}


def add_job_arguments(parser: argparse.ArgumentParser, *, inputs: Mapping[str, str] | None = None,
                      outputs: Sequence[str] | None = None, params: bool | str = True, out_help: str = "") -> None:
    """Add ``--inputs`` (roles: name -> '1' | '?' | '+' | '*'), ``--params`` (required unless ``params`` is
    False; a string is its help) and ``--out`` (one path, or one ROLE=PATH per name in ``outputs``; a name ending in "?" may be left out)."""
    inputs = dict(inputs or {})
    for role, count in inputs.items():
        if count not in COUNTS:
            raise ValueError(f"input role {role}: count {count!r} not in {sorted(COUNTS)}")
    if inputs:
        parser.add_argument("--inputs", nargs="*", default=[], metavar="ROLE=PATH",
                            help="input files by role: " + ", ".join(f"{r} ({c})" for r, c in inputs.items()))
    if params:
        parser.add_argument("--params", required=True, help=params if isinstance(params, str) else "the config slice as JSON")
    if outputs:
        parser.add_argument("--out", nargs="+", required=True, metavar="ROLE=PATH",
                            help=out_help or "outputs by role: " + ", ".join(outputs) + " (?: optional)")
    else:
        parser.add_argument("--out", required=True, help=out_help or "the output")
    parser.set_defaults(_input_roles=inputs, _output_roles=list(outputs or []))


def parse_job_args(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace:
    """Parse ``argv``; ``inputs`` becomes {role: [paths]} (every declared role present, a '1' or '?' role a path or
    None), ``params`` the parsed JSON object, ``out`` a path or {role: path}. Bad use is one InputError line."""
    args = parser.parse_args(list(argv))
    roles: dict[str, str] = args._input_roles
    if roles:
        args.inputs = split_roles(args.inputs, roles, "--inputs")
    if isinstance(getattr(args, "params", None), str):
        args.params = parse_params(args.params)
    if args._output_roles:  # a name ending in "?" is an optional output
        args.out = split_roles(args.out, {r.rstrip("?"): "?" if r.endswith("?") else "1" for r in args._output_roles}, "--out")
    del args._input_roles, args._output_roles
    if os.environ.get(CHECK_ONLY_ENV):
        raise SystemExit(0)
    return args


def params_object(params: Mapping[str, object], key: str, what: str) -> dict:
    """``params[key]``, which must be a JSON object (``what`` says which), else one InputError line."""
    value = params.get(key)
    if not isinstance(value, dict):
        raise InputError("--params", key, f"a JSON object ({what})", got=value)
    return value


def split_roles(tokens: Sequence[str], roles: Mapping[str, str], flag: str) -> dict[str, list[str] | str | None]:
    """``["runs=a", "b", "spec=c"]`` -> {"runs": ["a", "b"], "spec": "c"} against the declared role counts."""
    got: dict[str, list[str]] = {}
    current = None
    for token in tokens:
        role, sep, rest = token.partition("=")
        if sep and role in roles:
            if role in got:
                raise InputError(flag, role, "each role once (its paths follow one ROLE=)", got=token)
            current = role
            got[role] = [rest] if rest else []
        elif current is None:
            raise InputError(flag, token, f"ROLE=PATH with ROLE one of {', '.join(roles)}", got=token)
        elif token:
            got[current].append(token)
    out: dict[str, list[str] | str | None] = {}
    for role, count in roles.items():
        paths = got.get(role, [])
        low, high = COUNTS[count]
        if len(paths) < low or (high is not None and len(paths) > high):
            want = {"1": "one path", "?": "at most one path", "+": "at least one path"}[count]
            raise InputError(flag, role, want, got=paths)
        out[role] = (paths[0] if paths else None) if high == 1 else paths
    return out
