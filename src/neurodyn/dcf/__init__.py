"""Dynamic Compression Flows (Wei et al. 2026; docs/papers.md §1): the paper's experiments. ``plan`` says which
runs, parameters and figure inputs the config asks for; the model lives in ``neurodyn.models.dcf``."""
