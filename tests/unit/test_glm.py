"""The shared Poisson GLM (neurodyn.models.glm): known coefficients, and a unit that never fired."""

from __future__ import annotations

import numpy as np

from neurodyn.models.glm import fit_poisson_glm, predict_poisson_glm


def _raw(glm):
    """Slopes (k, U) and intercepts (U,) on the unstandardised inputs."""
    w = glm["W"] / glm["sd"][:, None]
    return w, glm["b"] - glm["mu"] @ w


def test_recovers_known_coefficients_at_the_metadyn_penalty():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 2))
    slopes = np.array([[0.5, -0.3, 0.0], [0.2, 0.4, -0.6]])  # (k, U)
    intercepts = np.array([0.0, 1.0, -1.0])
    counts = rng.poisson(np.exp(x @ slopes + intercepts))
    glm = fit_poisson_glm(x, counts.astype(float), l2=1e-2, max_iter=100)  # config.yaml metadyn.fewshot.glm_l2
    w, b = _raw(glm)
    np.testing.assert_allclose(w, slopes, atol=0.06)
    np.testing.assert_allclose(b, intercepts, atol=0.06)
    np.testing.assert_allclose(predict_poisson_glm(glm, x[:5]), np.exp(x[:5] @ w + b), rtol=1e-9)


def test_a_unit_that_never_fired_stays_finite():
    x = np.random.default_rng(1).normal(size=(50, 2))
    w, b = _raw(fit_poisson_glm(x, np.zeros((50, 1)), l2=1e-2, max_iter=100))
    assert np.isfinite(w).all() and np.isfinite(b).all()
    assert b[0] < -10 and np.abs(w).max() < 1e-3
