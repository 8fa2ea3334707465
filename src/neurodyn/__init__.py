"""neurodyn: reproduce and extend research on latent neural dynamics (DCF, ERDiff, Meta-Dynamical SSMs)."""

__version__ = "0.1.0"
