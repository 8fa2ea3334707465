"""The ``neurodyn`` command: every Snakemake rule is one call to it.

``neurodyn PAPER COMMAND ...`` runs one of a paper's commands (``erdiff``, ``metadyn``, ``dcf``: each package's
``COMMANDS``, so a target resolves in one hop: its rule in ``workflow/rules/<paper>.smk`` -> this -> the
package). Shared stages: fixed commands (``download``, ``convert``, ...) and stages with a NAME (``simulate``,
``evaluate``) that dispatch to ``neurodyn.<package>.<name>``. Only the module that does the work is imported,
so planning and small rules stay fast. Each entry point is ``fn(argv: list[str]) -> int``.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import pkgutil
import signal
import sys

from neurodyn.errors import InputError

# stage -> module with main(argv) for fixed commands
FIXED = {
    "download": ("neurodyn.data.download", "fetch DANDI assets (mirror first), verify sha256 and dandi-etag"),
    "lock": ("neurodyn.data.lock", "resolve unpinned DANDI assets through the API into the lock file"),
    "convert": ("neurodyn.data.convert", "convert an NWB file (or a bundled npz pair) into a zarr session store"),
    "overview": ("neurodyn.report.overview", "data-overview figure and dataset table for session stores"),
    "scorecard": ("neurodyn.report.scorecard", "published numbers beside ours"),
    "config": ("neurodyn.config", "validate a configuration and print the resolved value of a key"),
}
# stage -> {subcommand: module}: the rehearsal's tools (neurodyn.rehearsal; scripts/rehearse.sh)
GROUPS = {
    "rehearse": ({"standins": "neurodyn.rehearsal.standins", "jobs": "neurodyn.rehearsal.jobs",
                  "probe": "neurodyn.rehearsal.probe", "gpu": "neurodyn.rehearsal.gpu"},
                 "the full reproduction on stand-ins: standins, jobs table, probe, gpu report"),
}
# paper -> its package; the package's COMMANDS maps command -> ("module:function", help)
PAPERS = {
    "erdiff": "neurodyn.erdiff",
    "metadyn": "neurodyn.metadyn",
    "dcf": "neurodyn.dcf",
}
# stage -> package whose modules are the NAMEs
NAMED = {
    "simulate": "neurodyn.simulate",
    "evaluate": "neurodyn.evaluate",
}
_PRIVATE = {"common", "base", "nwb_writer"}


def _summary(module_name: str) -> str:
    """First docstring line of a module, read without importing it (keeps --help instant)."""
    spec = importlib.util.find_spec(module_name)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return ""
    doc = ast.get_docstring(ast.parse(open(spec.origin, encoding="utf-8").read())) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def _names(package: str) -> list[str]:
    pkg = importlib.import_module(package)
    return sorted(
        m.name.replace("_", "-")
        for m in pkgutil.iter_modules(pkg.__path__)
        if not m.name.startswith("_") and m.name not in _PRIVATE
    )


def _usage() -> str:
    lines = ["usage: neurodyn PAPER COMMAND | STAGE [NAME] [options]   (add --help for its options)", ""]
    for stage, (_, text) in FIXED.items():
        lines.append(f"  {stage:<10} {text}")
    for stage, (subs, text) in GROUPS.items():
        lines.append(f"  {stage:<10} {' | '.join(subs)}: {text}")
    for paper, package in PAPERS.items():
        commands = importlib.import_module(package).COMMANDS
        lines.append(f"  {paper:<10} COMMAND in: {', '.join(commands)}")
    for stage, package in NAMED.items():
        names = _names(package)
        lines.append(f"  {stage:<10} NAME in: {', '.join(names) if names else '(none yet)'}")
    return "\n".join(lines)


class Terminated(SystemExit):
    """SIGTERM as an exception: ``finally`` blocks and atomic writers remove their temporary outputs."""

    def __init__(self, signum: int):
        super().__init__(128 + signum)
        self.signum = signum


def _raise_terminated(signum, _frame):
    raise Terminated(signum)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help"}:
        print(_usage())
        return 0
    if argv[0] == "--version":
        from neurodyn import __version__

        print(__version__)
        return 0
    stage, rest = argv[0], argv[1:]
    function_name = "main"
    if stage in FIXED:
        module_name = FIXED[stage][0]
    elif stage in PAPERS:
        commands = importlib.import_module(PAPERS[stage]).COMMANDS
        if not rest or rest[0] in {"-h", "--help"}:
            print(f"usage: neurodyn {stage} COMMAND [options]\n" + "\n".join(f"  {c:<18} {h}" for c, (_, h) in commands.items()))
            return 0 if rest else 2
        if rest[0] not in commands:
            print(f"neurodyn {stage}: COMMAND must be one of: {', '.join(commands)}", file=sys.stderr)
            return 2
        (module_name, function_name), rest = commands[rest[0]][0].split(":"), rest[1:]
    elif stage in GROUPS:
        subs = GROUPS[stage][0]
        if not rest or rest[0] not in subs:
            print(f"neurodyn {stage}: one of: {', '.join(subs)}", file=sys.stderr)
            return 2
        module_name, rest = subs[rest[0]], rest[1:]
    elif stage in NAMED:
        names = _names(NAMED[stage])
        if rest:
            rest[0] = rest[0].replace("_", "-")  # config names generators by module name (limit_cycle)
        if not rest or rest[0] not in names:
            print(f"neurodyn {stage}: NAME must be one of: {', '.join(names)}", file=sys.stderr)
            return 2
        module_name = f"{NAMED[stage]}.{rest[0].replace('-', '_')}"
        rest = rest[1:]
    else:
        print(f"neurodyn: unknown stage {stage!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    from neurodyn import rehearsal

    if rehearsal.active() and stage in ("overview", "evaluate", *PAPERS):
        from neurodyn.rehearsal.marker import install_figure_mark

        install_figure_mark()  # every figure of a rehearsal says so
    # a scheduler's SIGTERM (time limit, scancel) unwinds like an error, so nothing half-written stays behind;
    # training loops install their own handler meanwhile (save the resume state, exit 75)
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        return int(getattr(importlib.import_module(module_name), function_name)(rest) or 0)
    except InputError as err:
        print(f"neurodyn {stage}: error: {err.line()}", file=sys.stderr)
        return 2
    except Terminated as stop:
        print(f"neurodyn {stage}: stopped by {signal.Signals(stop.signum).name}; its unfinished output was removed", file=sys.stderr)
        return int(stop.code)
    except KeyboardInterrupt:
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
