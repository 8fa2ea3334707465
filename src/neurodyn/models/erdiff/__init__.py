"""ERDiff (Wang, Wu, Li, Wu; NeurIPS 2023) and the baselines of its Table 1.

- ``vae``: the source latent variable model (sequential VAE, Poisson or continuous-Bernoulli likelihood,
  velocity readout) — paper §3.1.
- ``diffusion``: the spatio-temporal diffusion prior over whole latent trials — paper §3.2.
- ``mla``: maximum-likelihood alignment of a target read-in against the frozen prior — paper §3.3.
- ``baselines``: Cycle-GAN, JSDM, SASA, DANN, RDA-MMD, DAF as alignment objectives on the same read-in.
- ``data``: session stores -> tensors; ``metrics``: R², RMSE, NLL, KLD.
"""
