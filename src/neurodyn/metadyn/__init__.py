"""Meta-dynamical SSMs (Vermani et al., ICLR 2025; docs/papers.md §3): the paper's experiments, in one place.

``plan`` says which jobs, run folders and figure manifests the config asks for; ``jobs`` pretrains and
transfers; ``tables`` and ``figures`` only format run records. The model lives in ``neurodyn.models.metadyn``.
``COMMANDS`` is what ``neurodyn metadyn COMMAND`` runs (workflow/rules/metadyn.smk).
"""

COMMANDS = {
    "train": ("neurodyn.metadyn.jobs:train", "pretrain on M recordings (meta, shared or embedding-as-input variant)"),
    "transfer": ("neurodyn.metadyn.jobs:transfer", "few-shot transfer to held-out recordings; the single-dataset baseline"),
    "tables": ("neurodyn.metadyn.tables:main", "few-shot tables and the scorecard fragment"),
    "figure": ("neurodyn.metadyn.figures:main", "the paper's figures"),
}
