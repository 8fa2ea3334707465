"""NLB metrics: known answers on simulated Poisson data, hand-computed tiny cases, masking and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from neurodyn import store as st
from neurodyn.errors import InputError
from neurodyn.metrics import nlb


def _poisson_data(seed=0, n_trial=400, n_time=50, n_unit=8):
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 2 * np.pi, n_time)
    phase = rng.uniform(0, 2 * np.pi, size=(n_trial, 1, n_unit))
    base = rng.uniform(0.05, 0.4, size=(1, 1, n_unit))
    rates = base * (1.0 + 0.8 * np.sin(t[None, :, None] + phase))
    return rates, rng.poisson(rates).astype(float)


def test_true_rates_beat_null_by_the_analytic_amount():
    rates, spikes = _poisson_data()
    # E[gain] per unit = Σ_t λ_t log(λ_t / m) + Σ_t (m − λ_t), m = the unit's mean rate; per expected spike in bits
    m = rates.mean(axis=(0, 1), keepdims=True)
    expected = np.sum(rates * np.log(rates / m) + (m - rates)) / rates.sum() / math.log(2)
    got = nlb.co_bps(rates, spikes)
    assert expected > 0.05  # the test has teeth: the modulation carries information
    assert got == pytest.approx(expected, rel=0.05)


def test_mean_rate_prediction_scores_exactly_zero():
    _, spikes = _poisson_data(seed=1, n_trial=20)
    null = np.broadcast_to(spikes.mean(axis=(0, 1), keepdims=True), spikes.shape)
    assert nlb.co_bps(null, spikes) == pytest.approx(0.0, abs=1e-12)
    # a worse-than-null prediction scores negative
    assert nlb.co_bps(null * 3.0, spikes) < 0


def test_hand_computed_bits_per_spike():
    # one unit, 2 bins: n = [0, 2]; null rate 1; prediction [0.5, 1.5]
    # gain = (1-0.5) + (1-1.5) + 0*log(0.5) + 2*log(1.5) = 2 log 1.5; per spike in bits: log2(1.5)
    spikes = np.array([[[0.0], [2.0]]])
    rates = np.array([[[0.5], [1.5]]])
    assert nlb.co_bps(rates, spikes) == pytest.approx(math.log2(1.5))
    assert nlb.fp_bps(rates, spikes) == pytest.approx(math.log2(1.5))


def test_nan_bins_are_masked_everywhere():
    spikes = np.array([[[0.0], [2.0], [np.nan]]])
    rates = np.array([[[0.5], [1.5], [np.nan]]])  # NaN rates where the unit was unobserved are fine
    assert nlb.co_bps(rates, spikes) == pytest.approx(math.log2(1.5))
    # the NaN bin does not enter the null model's mean either
    rates2 = np.array([[[0.5], [1.5], [7.0]]])
    assert nlb.co_bps(rates2, spikes) == pytest.approx(math.log2(1.5))


def test_zero_rates_replaced_not_infinite():
    spikes = np.array([[[0.0], [1.0]]])
    rates = np.array([[[0.0], [0.0]]])
    # log(1e-9) for the one spike: a large but finite penalty
    got = nlb.co_bps(rates, spikes)
    null = 0.5
    expected = ((null - 1e-9) * 2 + 1.0 * (math.log(1e-9) - math.log(null))) / math.log(2)
    assert np.isfinite(got) and got == pytest.approx(expected)


@pytest.mark.parametrize(
    "rates, spikes, field",
    [
        (np.array([[[np.nan], [1.0]]]), np.array([[[0.0], [1.0]]]), "rates"),
        (np.array([[[-0.1], [1.0]]]), np.array([[[0.0], [1.0]]]), "rates"),
        (np.array([[[0.1], [1.0]]]), np.array([[[0.0], [0.0]]]), "spikes"),
        (np.ones((1, 3, 1)), np.ones((1, 2, 1)), "rates"),
    ],
)
def test_bits_per_spike_bad_input(rates, spikes, field):
    with pytest.raises(InputError) as err:
        nlb.co_bps(rates, spikes)
    assert err.value.field == field


def test_linear_readout_gives_vel_r2_near_one():
    rng = np.random.default_rng(2)
    rates = rng.gamma(2.0, 0.1, size=(60, 30, 12))
    weights = rng.normal(size=(12, 2))
    behaviour = rates @ weights
    r2 = nlb.vel_r2(rates[:40], behaviour[:40], rates[40:], behaviour[40:])
    assert r2 > 0.999
    # unrelated behaviour decodes at chance (R² ≤ ~0)
    noise = rng.normal(size=behaviour.shape)
    assert nlb.vel_r2(rates[:40], noise[:40], rates[40:], noise[40:]) < 0.05


def test_vel_r2_is_uniform_average_over_channels_and_drops_nan_behaviour():
    rng = np.random.default_rng(3)
    rates = rng.normal(size=(50, 20, 5))
    good = rates @ rng.normal(size=(5, 1))
    bad = rng.normal(size=(50, 20, 1)) * 100.0  # large variance: a variance-weighted mean would be ≈ bad's R²
    behaviour = np.concatenate([good, bad], axis=-1)
    behaviour[::7, 3:6] = np.nan
    r2 = nlb.vel_r2(rates[:35], behaviour[:35], rates[35:], behaviour[35:])
    r2_good = nlb.vel_r2(rates[:35], good[:35], rates[35:], good[35:])
    r2_bad = nlb.vel_r2(rates[:35], bad[:35], rates[35:], bad[35:])
    assert r2 == pytest.approx((r2_good + r2_bad) / 2, abs=0.02)
    assert r2_good > 0.99 and r2_bad < 0.05


def test_vel_r2_lag_pairs_rates_with_later_behaviour():
    rng = np.random.default_rng(4)
    rates = rng.gamma(2.0, 0.1, size=(40, 25, 6))
    behaviour = np.zeros((40, 25, 1))
    behaviour[:, 3:, 0] = rates[:, :-3] @ rng.normal(size=6)  # behaviour follows rates by 3 bins
    assert nlb.vel_r2(rates[:30], behaviour[:30], rates[30:], behaviour[30:], lag_bins=3) > 0.999
    assert nlb.vel_r2(rates[:30], behaviour[:30], rates[30:], behaviour[30:], lag_bins=0) < 0.5


def test_vel_r2_decode_groups_fit_separate_decoders():
    rng = np.random.default_rng(5)
    rates = rng.normal(size=(60, 10, 4))
    groups = np.repeat(["a", "b"], 30)
    w = {"a": rng.normal(size=(4, 2)), "b": rng.normal(size=(4, 2))}
    behaviour = np.stack([rates[i] @ w[g] for i, g in enumerate(groups)])
    tr = np.r_[0:20, 30:50]
    ev = np.r_[20:30, 50:60]
    separate = nlb.vel_r2(rates[tr], behaviour[tr], rates[ev], behaviour[ev],
                          train_groups=groups[tr], eval_groups=groups[ev])
    pooled = nlb.vel_r2(rates[tr], behaviour[tr], rates[ev], behaviour[ev])
    assert separate > 0.999 > pooled


@pytest.mark.parametrize("seed", range(6))
def test_ridge_alpha_choice_is_gridsearchcv_s(seed):
    """The eigenbasis choice of the decoder's penalty picks what NLB's GridSearchCV(Ridge()) picks, and the
    decoded R² is the same, on problems where the penalty matters (few samples, many correlated inputs)."""
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import GridSearchCV

    rng = np.random.default_rng(seed)
    n, p = int(rng.integers(40, 120)), int(rng.integers(10, 40))
    x = rng.normal(size=(n, 3)) @ rng.normal(size=(3, p)) + 0.3 * rng.normal(size=(n, p)) + 2.0
    y = x[:, :2] @ rng.normal(size=(2, 2)) + rng.normal(scale=float(rng.uniform(0.5, 5.0)), size=(n, 2))
    alphas = np.logspace(-4, 3, 15)  # a wider grid than NLB's, so that the choice is not always an end point
    search = GridSearchCV(Ridge(), {"alpha": alphas}).fit(x, y)
    ours = nlb.ridge_alpha_by_cv(x, y, alphas)
    assert ours == pytest.approx(search.best_params_["alpha"])
    assert np.allclose(Ridge(alpha=ours).fit(x, y).predict(x), search.predict(x))


def test_ridge_alpha_choice_varies_with_the_noise():
    """The choice has teeth: pure noise needs the largest penalty, a noiseless map the smallest."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 30))
    alphas = np.logspace(-4, 4, 9)
    assert nlb.ridge_alpha_by_cv(x, x[:, :2] @ rng.normal(size=(2, 2)), alphas) == alphas[0]
    assert nlb.ridge_alpha_by_cv(x, rng.normal(size=(200, 2)), alphas) == alphas[-1]


def test_vel_r2_hand_computed_perfect_and_constant():
    # y = 2x exactly: R² = 1 (alpha ≤ 1 barely shrinks a large-variance regressor)
    x = np.arange(20.0).reshape(1, 20, 1) * 10
    assert nlb.vel_r2(x, 2 * x, x, 2 * x) == pytest.approx(1.0, abs=1e-4)


def test_vel_r2_bad_input():
    with pytest.raises(InputError):
        nlb.vel_r2(np.ones((2, 5, 3)), np.ones((2, 4, 1)), np.ones((2, 5, 3)), np.ones((2, 5, 1)))
    with pytest.raises(InputError):
        rates = np.ones((2, 5, 3))
        rates[0, 0, 0] = np.nan
        nlb.vel_r2(rates, np.ones((2, 5, 1)), np.ones((2, 5, 3)), np.ones((2, 5, 1)))


def test_psth_r2_hand_computed():
    # two conditions, two trials each, one unit, two bins
    rates = np.array([[[1.0], [2.0]], [[3.0], [4.0]], [[0.0], [0.0]], [[2.0], [2.0]]])
    conditions = ["a", "a", "b", "b"]
    # condition means: a -> [2, 3]; b -> [1, 1]
    target = np.array([[[2.0], [3.0]], [[1.0], [1.0]]])
    assert nlb.psth_r2(rates, conditions, target) == pytest.approx(1.0)
    # perturb one target bin: SS_res = 1; target values [2, 4, 1, 1], mean 2, SS_tot = 0+4+1+1 = 6
    target2 = np.array([[[2.0], [4.0]], [[1.0], [1.0]]])
    assert nlb.psth_r2(rates, conditions, target2) == pytest.approx(1 - 1 / 6)
    # mapping form and a NaN target bin (dropped): remaining samples [2, 1, 1] all fit exactly
    target3 = {"a": np.array([[2.0], [np.nan]]), "b": np.array([[1.0], [1.0]])}
    assert nlb.psth_r2(rates, conditions, target3) == pytest.approx(1.0)


def test_condition_psth_recovers_condition_means():
    rng = np.random.default_rng(6)
    truth = {"left": np.full((30, 3), 0.2), "right": np.full((30, 3), 0.6)}
    conditions = np.repeat(["left", "right"], 300)
    spikes = np.stack([rng.poisson(truth[c]) for c in conditions]).astype(float)
    names, psth = nlb.condition_psth(spikes, conditions, kernel_sd_bins=2.0)
    assert names == ["left", "right"]
    np.testing.assert_allclose(psth[0], 0.2, atol=0.05)
    np.testing.assert_allclose(psth[1], 0.6, atol=0.08)
    # predicting the true condition rates gives a high psth R² only if the conditions differ: they do
    rates = np.stack([truth[c] for c in conditions])
    assert nlb.psth_r2(rates, conditions, psth, target_conditions=names) > 0.9


def _session(seed=7, with_behaviour=True, heldout=True, forward=True):
    rng = np.random.default_rng(seed)
    n_trial, n_time, n_unit = 80, 20, 10
    cond = np.repeat(["0", "1"], n_trial // 2)
    tuning = 1 + 0.9 * np.sin(np.linspace(0, 2 * np.pi, n_time)[:, None] + rng.uniform(0, 6, n_unit))
    rates = rng.uniform(0.3, 0.8, size=n_unit) * tuning * (1 + (cond == "1"))[:, None, None]
    rates = np.broadcast_to(rates, (n_trial, n_time, n_unit)).copy()
    spikes = rng.poisson(rates).astype(float)
    spikes[0, :3, :] = np.nan
    behaviour = {"hand_vel": (rates[:, :, :4] @ rng.normal(size=(4, 2)), ["x", "y"])} if with_behaviour else None
    fwd_rates = rates[:, :5]
    ds = st.make_session(
        name="sim", spikes=spikes, bin_ms=10, time_ms=np.arange(n_time) * 10.0, align_event="move_onset_time",
        source={"simulator": "test"}, heldout=(np.arange(n_unit) >= 7) if heldout else None,
        split=np.where(np.arange(n_trial) % 4 == 0, "val", "train"), condition=cond, behaviour=behaviour,
        spikes_forward=rng.poisson(fwd_rates).astype(float) if forward else None,
    )
    return ds, rates, fwd_rates


def test_evaluate_session_computes_what_the_store_supports(tmp_path):
    ds, rates, fwd = _session()
    st.write_session(ds, tmp_path / "s.zarr")
    store = st.open_session(tmp_path / "s.zarr")
    out = nlb.evaluate_session(store, rates, rates_forward=fwd, psth_kernel_sd_ms=20)
    assert out["n_eval_trials"] == 20 and out["n_heldout_units"] == 3 and out["n_heldin_units"] == 7
    assert out[nlb.CO_BPS] > 0.05  # condition-dependent true rates beat the per-unit mean
    assert out[nlb.FP_BPS] > 0.05
    assert out[nlb.VEL_R2] > 0.99
    assert out[nlb.PSTH_R2] > 0.5
    ds2, rates2, _ = _session(with_behaviour=False, heldout=False, forward=False)
    out2 = nlb.evaluate_session(ds2, rates2)
    assert nlb.CO_BPS not in out2 and nlb.VEL_R2 not in out2 and nlb.FP_BPS not in out2 and nlb.PSTH_R2 not in out2


def test_evaluate_session_bad_input():
    ds, rates, _ = _session()
    with pytest.raises(InputError, match="rates"):
        nlb.evaluate_session(ds, rates[:, :, :3])
    with pytest.raises(InputError, match="split"):
        nlb.evaluate_session(ds, rates, eval_split="test")
    with pytest.raises(InputError, match="lag_ms"):
        nlb.evaluate_session(ds, rates, lag_ms=7)
    with pytest.raises(InputError, match="behaviour"):
        nlb.evaluate_session(ds, rates, behaviour="finger_vel")


# -- DMFC_RSG tp corr and alignment jitter ----------------------------------------------------------------------
def test_tp_corr_is_the_median_over_conditions_of_speed_vs_tp():
    from neurodyn.metrics.nlb import neural_speed, tp_corr

    rng = np.random.default_rng(0)
    n, t, u = 40, 30, 5
    tp = rng.uniform(500, 1200, n)
    cond = np.stack([rng.integers(0, 2, n), rng.choice([0.0, 180.0], n), rng.integers(0, 2, n)], 1).astype(float)
    direction = rng.normal(size=u)
    # rates move along a line at a speed proportional to tp: r(speed, tp) = 1 in every condition
    rates = (np.arange(t)[None, :, None] * (tp[:, None, None] / 1000.0)) * direction[None, None, :]
    valid = np.ones((n, t), bool)
    speed = neural_speed(rates, valid)
    assert np.allclose(speed, tp / 1000.0 * np.linalg.norm(direction))
    assert tp_corr(rates, valid, cond, tp) == pytest.approx(1.0)
    assert tp_corr(rates, valid, cond, -tp) == pytest.approx(-1.0)
    # invalid bins (outside set→go) are skipped: garbage there changes nothing
    junk = rates.copy()
    junk[:, :5] = rng.normal(size=(n, 5, u)) * 100
    valid[:, :5] = False
    assert tp_corr(junk, valid, cond, tp) == pytest.approx(1.0)
    # one condition whose speeds anti-correlate with tp: the median follows the majority
    flipped = rates.copy()
    in_c = np.all(cond == cond[0], axis=1)
    flipped[in_c] = (np.arange(t)[None, :, None] * (1.0 / tp[in_c, None, None])) * direction
    assert tp_corr(flipped, np.ones((n, t), bool), cond, tp) == pytest.approx(1.0)


def test_dmfc_jitter_stays_inside_the_window():
    from neurodyn.metrics.nlb import dmfc_jitter_ms

    tp = np.array([1400.0, 1250.0, 600.0, 1600.0, 900.0, 700.0])
    split = np.array(["train", "val", "train", "train", "test", "train"])
    j = dmfc_jitter_ms(tp, split, seed=0)
    assert np.all(j >= 0) and np.all(j == np.round(j))
    assert j[0] <= 100 and j[1] <= 250 and j[2] <= 300 and j[3] == 0 and j[4] == 0
    assert np.array_equal(j, dmfc_jitter_ms(tp, split, seed=0))
    many = dmfc_jitter_ms(np.full(2000, 600.0), np.full(2000, "train"), seed=1)
    assert many.max() == 300 and many.min() == 0


def test_one_smoother_two_edge_rules():
    """utils.smoothing.gaussian_smooth: renormalised edges keep a constant constant at the edges and skip NaNs;
    nearest edges equal scipy's mode='nearest'; sd 0 leaves the data unsmoothed."""
    from scipy.ndimage import gaussian_filter1d

    from neurodyn.utils.smoothing import gaussian_smooth

    x = np.full((2, 30), 3.0)
    x[0, 5] = np.nan
    out = gaussian_smooth(x, 2.0, axis=1)
    assert np.isnan(out[0, 5]) and np.allclose(np.delete(out[0], 5), 3.0) and np.allclose(out[1], 3.0)
    y = np.random.default_rng(0).poisson(2.0, (40, 3)).astype(float)
    assert np.array_equal(gaussian_smooth(y, 1.5, axis=0, edges="nearest"), gaussian_filter1d(y, 1.5, axis=0, mode="nearest"))
    assert gaussian_smooth(y, 0, axis=0, edges="nearest") is y and np.array_equal(gaussian_smooth(y, 0, axis=0), y)
    with pytest.raises(ValueError, match="edges"):
        gaussian_smooth(y, 1.0, axis=0, edges="reflect")
