"""ERDiff (Wang et al., NeurIPS 2023; docs/papers.md §2): the paper's experiments, in one place.

``plan`` says which jobs and run folders the config asks for; ``jobs`` runs one experiment (source VAE, priors,
every alignment); ``tables``, ``figures`` and ``scorecard`` only format its run records. The models live in
``neurodyn.models.erdiff``. ``COMMANDS`` is what ``neurodyn erdiff COMMAND`` runs (workflow/rules/erdiff.smk).
"""

# command -> ("module:function", what it does); importing this package stays cheap (no torch)
COMMANDS = {
    "experiment": ("neurodyn.erdiff.jobs:main", "one (pair, latent dim, seed): source VAE, diffusion priors, every alignment"),
    "table1": ("neurodyn.erdiff.tables:table1", "Table 1: held-out target R² / RMSE per method and setting"),
    "table2": ("neurodyn.erdiff.tables:table2", "Table 2: added parameters, size and alignment time per method"),
    "synthetic": ("neurodyn.erdiff.figures:synthetic", "Fig 3 and its table: synthetic NLL / KLD, aligned vs true latents"),
    "latents-figure": ("neurodyn.erdiff.figures:latents_figure", "Fig 4: trial-averaged latents per reach direction"),
    "robustness-figure": ("neurodyn.erdiff.figures:robustness_figure", "Fig 2: R² over latent dimension and noise scale"),
    "scorecard": ("neurodyn.erdiff.scorecard:main", "our numbers under the published keys"),
}
