"""Dynamic Compression Flows (Wei et al. 2026; docs/papers.md §1): the paper's experiments, in one place.

``plan`` says which runs, parameters and figure inputs the config asks for; ``jobs`` trains DCF and every
comparison model; ``tables`` and ``figures`` format run records. The model lives in ``neurodyn.models.dcf``.
``COMMANDS`` is what ``neurodyn dcf COMMAND`` runs (workflow/rules/dcf.smk).
"""

COMMANDS = {
    "train": ("neurodyn.dcf.jobs:train", "DCF on neural data or video"),
    "baseline": ("neurodyn.dcf.jobs:baseline", "one comparison model (VAE, LFADS, DMD, CEBRA, T-PHATE, PCA)"),
    "tables": ("neurodyn.dcf.tables:main", "Tables 1-2, stability, NLB metrics, the scorecard fragment"),
    "figure": ("neurodyn.dcf.figures:main", "the paper's figures"),
}
