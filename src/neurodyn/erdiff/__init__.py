"""ERDiff (Wang et al., NeurIPS 2023; docs/papers.md §2): the paper's experiments. ``plan`` says which jobs and
run folders the config asks for; the models live in ``neurodyn.models.erdiff``."""
