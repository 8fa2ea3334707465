"""The Meta-dynamical SSM experiments' plan as plain Python: each experiment with its defaults filled in and its
sessions reduced to those buildable here, the parameters of every train and transfer job, run folders, and the
manifests the figures, tables and scorecard read (docs/contracts.md §2: ``results/runs/metadyn/<kind>/<experiment>/
<variant>/seed<label>``). ``workflow/rules/plans.smk`` builds one ``MetadynPlan`` and only calls it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from neurodyn.config import merge
from neurodyn.utils.seed import derive_seed

# the paper's model and its few-shot baselines, by the names experiments list (metadyn.experiments.*.variants)
# -> the dynamics' conditioning on the embedding (MetaDynamicalSSM ``conditioning``); "single" is not pretrained:
# it is fitted from scratch on the new recording's k trials
VARIANT_CONDITIONING = {"meta": "hyper", "input": "input", "shared": "none", "single": "none"}

FIGURES = {
    "fig2": ("fig2_limit_cycle_shared", "Fig 2 — limit cycles of different speed; one dynamics without embedding, M small vs large"),
    "fig3": ("fig3_embedding", "Fig 3 — embedding-conditioned dynamics: slowest recording, q(e) per dataset, forecast r² M small vs large"),
    "fig4": ("fig4_bifurcation", "Fig 4 — true vs embedding-conditioned dynamics across (a, b); r² per pretraining dataset"),
    "fig5": ("fig5_motor", "Fig 5 — motor cortex: embedding manifold, condition-averaged latents, real vs forecast behaviour"),
    "fewshot": ("fewshot_curves", "Few-shot reconstruction and forecasting r² vs number of trials"),
}
NAME_TO_WHICH = {name: which for which, (name, _) in FIGURES.items()}


def run_dir(kind: str, exp: str, variant: str, seed: int | str) -> str:
    return f"results/runs/metadyn/{kind}/{exp}/{variant}/seed{seed}"


def job_seed(base_seed: int, exp: str, label: int | str) -> int:
    """The seed of an experiment's run with repeat ``label`` (train and transfer of one label share it)."""
    return derive_seed(base_seed, "metadyn", exp, label)


def flat(manifest: Mapping[str, Any]) -> list[str]:
    """Every run folder named in a manifest {..: {variant: [dirs]}} (the DAG inputs of a figure or table)."""
    out: list[str] = []
    for part in manifest.values():
        if isinstance(part, dict):
            for dirs in part.values():
                out.extend(dirs if isinstance(dirs, list) else [])
    return out


class MetadynPlan:
    """The plan of config ``metadyn`` here.

    sessions: every configured session (config sessions and simulated families) by name; store_of(name) -> its
    store path; buildable(names) -> the names that can be built here (it says why for the others);
    expand(names) -> session names with family names expanded; device: config ``device``.
    """

    def __init__(self, md: Mapping[str, Any], *, sessions: Mapping[str, Any], store_of: Callable[[str], str],
                 buildable: Callable[[list[str]], list[str]], expand: Callable[[Sequence[str]], list[str]], device: str):
        self.md, self.sessions, self.store_of, self.device = md, sessions, store_of, device
        self.figures = md.get("figures", {})
        self.experiments: dict[str, dict[str, Any]] = {}
        for name, spec in md.get("experiments", {}).items():
            exp = self._resolve(name, spec, buildable, expand)
            if exp["sessions"]:
                self.experiments[name] = exp
            else:
                print(f"neurodyn: metadyn experiment {name}: no pretraining session can be built here; skipped", file=sys.stderr)
        self.build = {
            "fig2": self.figures.get("few") in self.experiments and self.figures.get("many") in self.experiments,
            "fig3": self.figures.get("few") in self.experiments and self.figures.get("many") in self.experiments,
            "fig4": self.figures.get("bifurcation") in self.experiments,
            "fig5": self.figures.get("motor") in self.experiments,
            "fewshot": any(x["targets"] for x in self.experiments.values()),
        }
        for which, ok in self.build.items():
            if not ok:
                print(f"neurodyn: metadyn {which}: its experiments cannot run here (see the notes above); not built", file=sys.stderr)

    def _resolve(self, name: str, spec: Mapping[str, Any], buildable, expand) -> dict[str, Any]:
        """An experiment with defaults filled in and its sessions reduced to those buildable here."""
        md = self.md
        exp: dict[str, Any] = {k: merge(md[k], spec.get(k, {})) for k in ("model", "train", "forecast", "fewshot")}
        exp.update({k: spec[k] for k in ("variants", "likelihood")})
        exp["seeds"] = spec.get("seeds", md["seeds"])
        exp["data"] = spec.get("data", {})
        exp["family_param"] = spec.get("family_param")
        for key in ("sessions", "targets"):
            listed = expand(spec[key])
            names = [n for n in listed if n in self.sessions]
            missing = sorted(set(listed) - set(names))
            if missing:
                print(f"neurodyn: metadyn {name}: sessions not configured, left out: {', '.join(missing)}", file=sys.stderr)
            exp[key] = buildable(names)
        return exp

    # -- jobs ------------------------------------------------------------------------------------------------
    def family_values(self, exp: str) -> list[Any] | None:
        """The varied parameter of each pretraining session (e.g. ω of the limit cycles), when the experiment has one."""
        e = self.experiments[exp]
        if not e["family_param"]:
            return None
        return [self.sessions[s]["source"].get("simulate", {}).get("params", {}).get(e["family_param"]) for s in e["sessions"]]

    def train_params(self, exp: str, variant: str) -> dict[str, Any]:
        e = self.experiments[exp]
        return {
            "experiment": exp, "variant": variant, "conditioning": VARIANT_CONDITIONING.get(variant, "none"),
            "likelihood": e["likelihood"], "device": self.device, "model": e["model"], "train": e["train"],
            "forecast": e["forecast"], "data": e["data"], "family_param": e["family_param"], "family_values": self.family_values(exp),
        }

    def transfer_params(self, exp: str, variant: str) -> dict[str, Any]:
        return {**self.train_params(exp, variant), "fewshot": self.experiments[exp]["fewshot"]}

    def runs(self, kind: str, exp: str, variants: Sequence[str] | None = None) -> dict[str, list[str]]:
        """{variant: [run folders over seeds]} of an experiment (train runs exist for every variant but single)."""
        if exp not in self.experiments:
            return {}
        e = self.experiments[exp]
        out = {}
        for v in variants or e["variants"]:
            if v not in e["variants"] or (kind == "train" and v == "single") or (kind == "transfer" and not e["targets"]):
                continue
            out[v] = [run_dir(kind, exp, v, s) for s in e["seeds"]]
        return out

    # -- manifests of figures, tables and the scorecard ------------------------------------------------------
    def part(self, exp: str | None) -> dict[str, Any]:
        """Run records and stores of one experiment, for a manifest."""
        if exp not in self.experiments:
            return {"M": 0, "train": {}, "transfer": {}, "stores": [], "values": []}
        e = self.experiments[exp]
        return {
            "M": len(e["sessions"]), "train": self.runs("train", exp), "transfer": self.runs("transfer", exp),
            "stores": [self.store_of(s) for s in e["sessions"]], "values": self.family_values(exp) or [], "family_param": e["family_param"],
        }

    def _horizon(self) -> Any:
        return self.experiments.get(self.figures.get("many"), {}).get("forecast", {}).get("horizon_bins")

    def manifest(self, which: str) -> dict[str, Any]:
        few, many = self.part(self.figures.get("few")), self.part(self.figures.get("many"))
        if which == "fig2":
            order = sorted(range(len(many["values"])), key=lambda i: many["values"][i])
            pick = [order[0], order[len(order) // 2], order[-1]] if order else []
            return {"few": few, "many": many, "examples": [many["stores"][i] for i in pick],
                    "example_values": [many["values"][i] for i in pick]}
        if which == "fig3":
            return {"few": few, "many": many, "horizon": self._horizon()}
        if which == "fig4":
            exp = self.figures.get("bifurcation")
            part = self.part(exp)
            family = self.experiments[exp]["sessions"] if exp in self.experiments else []
            sims = [self.sessions[s]["source"]["simulate"]["params"] for s in family]
            part["values"] = [[p["a"], p["b"]] for p in sims]
            part["omega0"] = sims[0].get("omega0", 3.0) if sims else 3.0
            part["time_scale"] = sims[0].get("time_scale", 2.0) if sims else 2.0
            return part
        if which == "fig5":
            return self.part(self.figures.get("motor"))
        # few-shot curves, tables and the scorecard
        out: dict[str, Any] = {
            "experiments": {x: self.part(x) for x in self.experiments if self.experiments[x]["targets"]},
            "ks": sorted({k for x in self.experiments.values() for k in x["fewshot"]["ks"]}) or self.md.get("fewshot", {}).get("ks", []),
        }
        if which == "scorecard":
            out.update(few=few, many=many, horizon=self._horizon())
            motor = self.figures.get("motor")
            out["motor"] = self.part(motor) if motor in self.experiments else None
            out["bif"] = self.part(self.figures.get("bifurcation"))
        return out

    def inputs(self, which: str) -> list[str]:
        """Every run folder and store a figure / table / scorecard manifest names (its DAG inputs)."""
        man = self.manifest(which)
        parts = [man] if "train" in man else [v for v in man.values() if isinstance(v, dict) and "train" in v]
        parts += list(man.get("experiments", {}).values())
        runs = sorted({r for p in parts for r in flat({"a": p["train"], "b": p["transfer"]})})
        stores = sorted({s for p in parts for s in p.get("stores", [])} | set(man.get("examples", [])))
        return runs + stores
