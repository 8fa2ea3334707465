"""Meta-dynamical SSMs (Vermani et al., ICLR 2025; docs/papers.md §3): the paper's experiments. ``plan`` says
which jobs, run folders and figure manifests the config asks for; the model lives in ``neurodyn.models.metadyn``."""
