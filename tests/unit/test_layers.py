"""The import layering rule (docs/contracts.md, "Layers"): a module imports only from its own layer or below.

    0 foundation  errors, config, utils, store, runrecord, loop, metrics, the rehearsal's hooks (rehearsal
                  package constants, rehearsal.marker)
    1 data        data, simulate
    2 models      models
    3 papers      erdiff, metadyn, dcf — each paper's plan, jobs, tables, figures and scorecard; evaluate (the
                  NLB smoothing reference job)
    4 reports     report (the data overview, the joined scorecard)
    5 tools       cli, __main__, the rest of rehearsal

Every ``import`` counts, also those inside functions (lazy imports are still dependencies). Stages may use each
other's helpers (same layer); nothing below a paper may import one — models never import a job module. And a
paper's tables, figures and scorecard read run records: they import no job module (``<paper>.jobs``,
evaluate), only the models and data code that rebuilds what a record holds.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"

# packages and modules by layer (longest prefix wins); EXACT: single modules placed apart from their package
LAYERS = {
    0: ["neurodyn.errors", "neurodyn.config", "neurodyn.utils", "neurodyn.store", "neurodyn.runrecord",
        "neurodyn.loop", "neurodyn.metrics"],
    1: ["neurodyn.data", "neurodyn.simulate"],
    2: ["neurodyn.models"],
    3: ["neurodyn.evaluate", "neurodyn.erdiff", "neurodyn.metadyn", "neurodyn.dcf"],
    4: ["neurodyn.report"],
    5: ["neurodyn.cli", "neurodyn.__main__", "neurodyn.rehearsal"],
}
# the package roots hold constants only: neurodyn (the version), neurodyn.rehearsal (its environment variables
# and the step cap every training loop obeys), and the marker every atomic writer calls
EXACT = {"neurodyn": 0, "neurodyn.rehearsal": 0, "neurodyn.rehearsal.marker": 0}


def layer_of(module: str) -> int:
    """The layer of ``module`` (a package's ``__init__`` counts as the package)."""
    name = module.removesuffix(".__init__")
    if name in EXACT:
        return EXACT[name]
    best, depth = None, -1
    for layer, prefixes in LAYERS.items():
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and prefix.count(".") > depth:
                best, depth = layer, prefix.count(".")
    assert best is not None, f"{module}: no layer (add it to LAYERS and docs/contracts.md)"
    return best


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] + ["__init__"]) if parts[-1] == "__init__" else ".".join(parts)


def imports(path: Path) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.split(".")[0] == "neurodyn":
            out.append((node.lineno, node.module))
            out += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]  # `from neurodyn import x`
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "neurodyn"]
    return out


def _is_module(name: str) -> bool:
    base = SRC / Path(*name.split("."))
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def test_no_module_imports_from_a_layer_above_it():
    offences = []
    for path in sorted((SRC / "neurodyn").rglob("*.py")):
        here = module_name(path)
        mine = layer_of(here)
        for line, target in imports(path):
            if not _is_module(target):  # `from neurodyn.x import some_function`: the module is x
                continue
            theirs = layer_of(target)
            if theirs > mine:
                offences.append(f"{path.relative_to(SRC)}:{line}: {here} (layer {mine}) imports {target} (layer {theirs})")
    assert not offences, "\n".join(offences)


def test_the_rule_sees_a_violation():
    """The checker itself: a model importing a training stage is caught; a stage importing a model is fine."""
    assert layer_of("neurodyn.models.erdiff.runner") == 2 and layer_of("neurodyn.dcf.jobs") == 3
    assert layer_of("neurodyn.rehearsal.__init__") == 0 and layer_of("neurodyn.rehearsal.jobs") == 5
    assert layer_of("neurodyn.rehearsal") == 0 and layer_of("neurodyn") == 0
    assert layer_of("neurodyn.cli") == 5 and layer_of("neurodyn.loop") == 0


PAPERS = ("erdiff", "metadyn", "dcf")
JOB_MODULES = (*(f"neurodyn.{p}.jobs" for p in PAPERS), "neurodyn.evaluate")


def test_tables_and_figures_import_no_job_module():
    formatters = [SRC / "neurodyn" / p / f"{kind}.py" for p in PAPERS for kind in ("tables", "figures", "scorecard")]
    offences = []
    for path in [*(f for f in formatters if f.exists()), *sorted((SRC / "neurodyn" / "report").rglob("*.py"))]:
        for line, target in imports(path):
            if _is_module(target) and target.startswith(JOB_MODULES):
                    offences.append(f"{path.relative_to(SRC)}:{line}: imports {target}")
    assert not offences, "\n".join(offences)


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in sorted((SRC / "neurodyn").rglob("*.py")):
        here = module_name(path).removesuffix(".__init__")
        graph[here] = {t for _, t in imports(path) if _is_module(t) and t != here}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    """No two modules import each other, directly or round a loop (lazy imports included: a loop hidden in a
    function is still a loop)."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]  # the checker sees one
    assert not cycles(import_graph()), cycles(import_graph())
