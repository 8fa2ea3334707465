"""Neural Latents Benchmark metrics (Pei et al., NeurIPS 2021 Datasets & Benchmarks), re-implemented from their
definitions (docs/data.md §4); the benchmark's semantics are kept where they matter:

- **co-bps** (co-smoothing bits per spike), eq. in Pei et al. §3.2:
  ``(log L(predicted rates) − log L(null)) / (N_spikes · ln 2)`` with Poisson likelihoods over the held-out
  units of the evaluation trials. The null model predicts each unit's mean count per bin over *those same*
  evaluation data. Bins whose spike count is NaN (unobserved) are left out; predicted rates of exactly 0 are
  replaced by 1e-9; rates are expected counts **per bin**, not spikes/s. The log(n!) terms cancel in the
  difference and are not computed.
- **fp-bps**: the same quantity on the forward-prediction windows (held-in and held-out units together).
- **vel R²**: ridge regression from rates (held-in + held-out units) to behaviour, fit on training trials with a
  5-fold grid search over alpha ∈ logspace(−4, 0, 9) (scikit-learn's default unshuffled K-fold, scored by R²),
  then scored on the evaluation trials by R² **averaged uniformly over behaviour channels** (not variance
  weighted). Time bins whose behaviour is NaN are dropped. With decode groups (Area2_Bump: one decoder per
  ``ctr_hold_bump`` value) each group gets its own decoder and the R²s are averaged uniformly.
  The benchmark pairs rates at t with behaviour at t + lag by cutting the behaviour window ``lag`` later; here
  the lag is applied inside the common window (``lag_bins``), which drops ``|lag|`` bins per trial.
- **psth R²**: per condition, the mean predicted rate over that condition's evaluation trials is compared with
  the target PSTH (condition, time, unit); time bins where the target is NaN are dropped; R² is computed over
  the stacked (condition × time) samples per unit and averaged uniformly over units. The benchmark's targets are
  Gaussian-smoothed spikes averaged over all train + eval trials of a condition (``condition_psth``).

Shapes: rates and spikes are (trial, time, unit); behaviour is (trial, time, axis). Every function also accepts
already-flattened (sample, channel) arrays where noted.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from neurodyn.errors import InputError
from neurodyn.utils import smoothing

ZERO_RATE = 1e-9
RIDGE_ALPHAS = np.logspace(-4, 0, 9)

# Keys returned by ``evaluate_session`` (units in the names: bits per spike; R² is dimensionless).
CO_BPS = "co_bps_bits_per_spike"
FP_BPS = "fp_bps_bits_per_spike"
VEL_R2 = "vel_r2"
PSTH_R2 = "psth_r2"


def _as_float(name: str, value: Any) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim < 2:
        raise InputError(name, "shape", "an array of at least 2 dimensions ((trial, time, unit) or (sample, unit))",
                         got=arr.shape)
    return arr


def poisson_log_likelihood_gain(rates: np.ndarray, spikes: np.ndarray, *, where: str = "bits_per_spike") -> tuple[
        float, float]:
    """Σ over observed bins of [log P(n | rates) − log P(n | null)] (nats) and the number of observed spikes.

    rates, spikes: same shape (..., unit); the null model is each unit's mean count over all leading axes.
    """
    rates = _as_float(f"{where}: rates", rates)
    spikes = _as_float(f"{where}: spikes", spikes)
    if rates.shape != spikes.shape:
        raise InputError(where, "rates", f"the shape of the spikes {spikes.shape}", got=rates.shape)
    observed = ~np.isnan(spikes)
    if np.any(np.isnan(rates[observed])):
        raise InputError(where, "rates", "finite predicted rates wherever spikes were observed", got="NaN")
    if np.any(rates[observed] < 0):
        raise InputError(where, "rates", "non-negative rates (expected counts per bin)",
                         got=float(np.min(rates[observed])))
    n_spikes = float(np.nansum(spikes))
    if not np.any(observed) or n_spikes <= 0:
        raise InputError(where, "spikes", "at least one observed spike (bits per spike is undefined otherwise)",
                         got=n_spikes)
    lead = tuple(range(spikes.ndim - 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a never-observed unit has no mean; it has no bins either
        null = np.broadcast_to(np.nanmean(spikes, axis=lead, keepdims=True), spikes.shape)
    n = spikes[observed]
    r = np.where(rates[observed] == 0, ZERO_RATE, rates[observed])
    # a silent unit's null rate is 0: replaced like any zero rate (the benchmark does the same)
    r0 = np.where(null[observed] == 0, ZERO_RATE, null[observed])
    gain = np.sum((r0 - r) + n * (np.log(r) - np.log(r0)))
    return float(gain), n_spikes


def bits_per_spike(rates: np.ndarray, spikes: np.ndarray, *, where: str = "bits_per_spike") -> float:
    """Poisson log-likelihood gain of ``rates`` over the per-unit mean-rate null model, in bits per spike.

    rates: (trial, time, unit) expected counts per bin; spikes: (trial, time, unit) counts, NaN = not observed.
    """
    gain, n_spikes = poisson_log_likelihood_gain(rates, spikes, where=where)
    return float(gain / n_spikes / np.log(2))


def co_bps(rates: np.ndarray, heldout_spikes: np.ndarray) -> float:
    """Co-smoothing bits per spike (NLB): rates (trial, time, heldout unit) per bin vs held-out spike counts."""
    return bits_per_spike(rates, heldout_spikes, where="co_bps")


def fp_bps(rates_forward: np.ndarray, spikes_forward: np.ndarray) -> float:
    """Forward-prediction bits per spike (NLB): rates and spikes (trial, time_forward, unit) of the window after
    the trial window, all units (held-in and held-out)."""
    return bits_per_spike(rates_forward, spikes_forward, where="fp_bps")


def _lagged(rates: np.ndarray, behaviour: np.ndarray, lag_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Pair rates at bin t with behaviour at bin t + lag_bins (3-D inputs only)."""
    if lag_bins == 0:
        return rates, behaviour
    if rates.ndim != 3:
        raise InputError("vel_r2", "lag_bins", "(trial, time, ·) arrays when a lag is applied", got=rates.shape)
    if abs(lag_bins) >= rates.shape[1]:
        raise InputError("vel_r2", "lag_bins", f"|lag| < {rates.shape[1]} bins", got=lag_bins)
    if lag_bins > 0:
        return rates[:, :-lag_bins], behaviour[:, lag_bins:]
    return rates[:, -lag_bins:], behaviour[:, :lag_bins]


def _flatten(x: np.ndarray) -> np.ndarray:
    return x.reshape(-1, x.shape[-1])


def _decode_r2(train_x: np.ndarray, train_y: np.ndarray, eval_x: np.ndarray, eval_y: np.ndarray) -> float:
    from sklearn.linear_model import Ridge
    from sklearn.metrics import r2_score

    train_x, train_y, eval_x, eval_y = map(_flatten, (train_x, train_y, eval_x, eval_y))
    keep_train = ~np.any(np.isnan(train_y), axis=1)
    keep_eval = ~np.any(np.isnan(eval_y), axis=1)
    train_x, train_y, eval_x, eval_y = train_x[keep_train], train_y[keep_train], eval_x[keep_eval], eval_y[keep_eval]
    if np.any(np.isnan(train_x)) or np.any(np.isnan(eval_x)):
        raise InputError("vel_r2", "rates", "finite rates wherever behaviour is defined", got="NaN")
    if len(train_y) < 5 or len(eval_y) < 2:
        raise InputError("vel_r2", "behaviour", "at least 5 training and 2 evaluation samples with behaviour",
                         got=(len(train_y), len(eval_y)))
    decoder = Ridge(alpha=ridge_alpha_by_cv(train_x, train_y)).fit(train_x, train_y)
    return float(r2_score(eval_y, decoder.predict(eval_x), multioutput="uniform_average"))


def ridge_alpha_by_cv(x: np.ndarray, y: np.ndarray, alphas: np.ndarray = RIDGE_ALPHAS, n_folds: int = 5) -> float:
    """The ridge penalty NLB's decoder picks: ``GridSearchCV(Ridge(), {"alpha": alphas})`` (5 unshuffled folds,
    mean R² over folds, the first best), computed with one eigendecomposition per fold for every alpha at once.

    sklearn refits a Cholesky solve per (fold, alpha): 45 fits, 20 s on MC_Maze's 250,000 bins x 137 latents
    (the rehearsal of 2026-12-06). The same normal equations (X_c^T X_c + α I) w = X_c^T y_c on centred data,
    solved in the eigenbasis; tests/unit/test_metrics_nlb.py checks the choice against GridSearchCV.
    x: (n, p), y: (n, q) -> the chosen alpha.
    """
    from sklearn.metrics import r2_score
    from sklearn.model_selection import KFold

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    scores = np.zeros(len(alphas))
    for train, test in KFold(n_folds).split(x):
        x_train, y_train = x[train], y[train]  # one copy of the fold each (fancy indexing copies)
        x_mean, y_mean = x_train.mean(0), y_train.mean(0)
        xc = x_train - x_mean
        evals, evecs = np.linalg.eigh(xc.T @ xc)
        proj_xy = evecs.T @ (xc.T @ (y_train - y_mean))  # (p, q)
        test_proj = (x[test] - x_mean) @ evecs  # (n_test, p)
        for i, alpha in enumerate(alphas):
            pred = test_proj @ (proj_xy / (np.maximum(evals, 0.0) + alpha)[:, None]) + y_mean
            scores[i] += r2_score(y[test], pred, multioutput="uniform_average")
    return float(alphas[int(np.argmax(scores))])


def vel_r2(
    train_rates: np.ndarray,
    train_behaviour: np.ndarray,
    eval_rates: np.ndarray,
    eval_behaviour: np.ndarray,
    *,
    lag_bins: int = 0,
    train_groups: Sequence[Any] | None = None,
    eval_groups: Sequence[Any] | None = None,
) -> float:
    """Velocity-decoding R² (NLB): ridge from rates to behaviour, fit on train, scored on eval.

    train_rates: (trial, time, unit); train_behaviour: (trial, time, axis); eval_* likewise (same unit and axis
    counts). 2-D (sample, ·) inputs are accepted when ``lag_bins`` is 0 and no groups are given.
    lag_bins: behaviour at t + lag_bins is decoded from rates at t (NLB: +100 ms MC_Maze, −20 ms Area2_Bump).
    train_groups / eval_groups: one label per trial; each label gets its own decoder, R²s averaged uniformly.
    """
    train_rates, train_behaviour = _as_float("vel_r2: train_rates", train_rates), _as_float(
        "vel_r2: train_behaviour", train_behaviour)
    eval_rates, eval_behaviour = _as_float("vel_r2: eval_rates", eval_rates), _as_float(
        "vel_r2: eval_behaviour", eval_behaviour)
    for a, b, label in ((train_rates, train_behaviour, "train"), (eval_rates, eval_behaviour, "eval")):
        if a.shape[:-1] != b.shape[:-1]:
            raise InputError("vel_r2", f"{label}_behaviour", f"leading shape {a.shape[:-1]} of the {label} rates",
                             got=b.shape)
    if train_rates.shape[-1] != eval_rates.shape[-1] or train_behaviour.shape[-1] != eval_behaviour.shape[-1]:
        raise InputError("vel_r2", "eval_rates", "the same unit and behaviour-axis counts as the training data",
                         got=(eval_rates.shape, eval_behaviour.shape))
    train_rates, train_behaviour = _lagged(train_rates, train_behaviour, int(lag_bins))
    eval_rates, eval_behaviour = _lagged(eval_rates, eval_behaviour, int(lag_bins))
    if (train_groups is None) != (eval_groups is None):
        raise InputError("vel_r2", "groups", "both train_groups and eval_groups, or neither")
    if train_groups is None:
        return _decode_r2(train_rates, train_behaviour, eval_rates, eval_behaviour)
    train_groups, eval_groups = np.asarray(train_groups), np.asarray(eval_groups)
    if len(train_groups) != len(train_rates) or len(eval_groups) != len(eval_rates):
        raise InputError("vel_r2", "groups", "one group label per trial")
    r2s = [
        _decode_r2(train_rates[train_groups == g], train_behaviour[train_groups == g],
                   eval_rates[eval_groups == g], eval_behaviour[eval_groups == g])
        for g in np.unique(eval_groups)
    ]
    return float(np.mean(r2s))


def gaussian_smooth(x: np.ndarray, sd_bins: float, axis: int) -> np.ndarray:
    """NLB's smoothing: along ``axis``, NaN bins ignored (normalised convolution) and kept NaN
    (``neurodyn.utils.smoothing.gaussian_smooth`` with renormalised edges)."""
    return smoothing.gaussian_smooth(x, sd_bins, axis, edges="renormalise")


def condition_psth(
    spikes: np.ndarray, conditions: Sequence[Any], *, kernel_sd_bins: float
) -> tuple[list[str], np.ndarray]:
    """Target PSTHs: Gaussian-smoothed spike counts averaged over the trials of each condition.

    spikes: (trial, time, unit) counts per bin (NaN = unobserved); conditions: (trial,) labels.
    Returns the sorted condition labels and psth (condition, time, unit) in counts per bin. The benchmark smooths
    at 1 ms before binning; smoothing the binned counts is the closest a session store allows.
    """
    spikes = _as_float("condition_psth: spikes", spikes)
    labels = np.asarray(conditions).astype(str)
    if spikes.ndim != 3 or len(labels) != spikes.shape[0]:
        raise InputError("condition_psth", "conditions", "one label per trial of (trial, time, unit) spikes",
                         got=(len(labels), spikes.shape))
    smooth = gaussian_smooth(spikes, kernel_sd_bins, axis=1)
    order = sorted(set(labels.tolist()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN bins of a condition stay NaN
        psth = np.stack([np.nanmean(smooth[labels == c], axis=0) for c in order])
    return order, psth


def psth_r2(
    rates: np.ndarray,
    conditions: Sequence[Any],
    psth_target: np.ndarray | Mapping[str, np.ndarray],
    *,
    target_conditions: Sequence[Any] | None = None,
) -> float:
    """PSTH R² (NLB): condition-averaged predicted rates vs target PSTHs.

    rates: (trial, time, unit) per bin for the evaluation trials; conditions: (trial,) labels;
    psth_target: (condition, time, unit) with ``target_conditions`` naming its rows (default: sorted unique
    labels of ``conditions``), or a mapping label -> (time, unit). Conditions without evaluation trials are
    skipped; bins where the target is NaN (first unit) are dropped. R² per unit over the stacked
    (condition × time) samples, averaged uniformly over units.
    """
    from sklearn.metrics import r2_score

    rates = _as_float("psth_r2: rates", rates)
    labels = np.asarray(conditions).astype(str)
    if rates.ndim != 3 or len(labels) != rates.shape[0]:
        raise InputError("psth_r2", "conditions", "one label per trial of (trial, time, unit) rates",
                         got=(len(labels), rates.shape))
    if isinstance(psth_target, Mapping):
        names = [str(k) for k in psth_target]
        target = np.stack([np.asarray(psth_target[k], dtype=np.float64) for k in psth_target])
    else:
        target = np.asarray(psth_target, dtype=np.float64)
        names = [str(c) for c in (sorted(set(labels.tolist())) if target_conditions is None else target_conditions)]
    if target.ndim != 3 or target.shape[1:] != rates.shape[1:] or len(names) != target.shape[0]:
        raise InputError("psth_r2", "psth_target", f"(condition={len(names)}, time, unit) matching rates "
                         f"{rates.shape[1:]}", got=target.shape)
    true_rows, pred_rows = [], []
    for i, name in enumerate(names):
        members = labels == name
        if not np.any(members):
            continue
        keep = ~np.isnan(target[i, :, 0])
        pred = rates[members].mean(axis=0)[keep]
        if np.any(np.isnan(pred)):
            raise InputError("psth_r2", "rates", "finite rates wherever the target PSTH is defined", got="NaN")
        true_rows.append(target[i][keep])
        pred_rows.append(pred)
    if not true_rows:
        raise InputError("psth_r2", "conditions", "at least one evaluation trial in a target condition")
    return float(r2_score(np.vstack(true_rows), np.vstack(pred_rows), multioutput="uniform_average"))


def _behaviour_vars(ds) -> list[str]:
    return sorted(
        v for v in ds.data_vars
        if ds[v].ndim == 3 and ds[v].dims[:2] == ("trial", "time") and ds[v].dims[2] == f"{v}_axis"
    )


def _split_mask(ds, splits: str | Sequence[str]) -> np.ndarray:
    wanted = [splits] if isinstance(splits, str) else list(splits)
    return np.isin(np.asarray(ds["split"].values).astype(str), wanted)


def evaluate_session(
    store,
    rates: np.ndarray,
    *,
    rates_forward: np.ndarray | None = None,
    train_split: str | Sequence[str] = "train",
    eval_split: str | Sequence[str] = "val",
    behaviour: str | None = None,
    lag_ms: float = 0.0,
    decode_groups: str | None = None,
    psth_kernel_sd_ms: float | None = None,
) -> dict[str, float | int]:
    """Every NLB metric the session store supports, as a flat dict (keys carry units).

    store: a session Dataset (``neurodyn.store.open_session``). rates: (trial, time, unit) expected counts per
    bin for **every** trial and unit of the store, in store order (held-in and held-out units).
    rates_forward: (trial, time_forward, unit) likewise, for fp-bps.
    train_split / eval_split: the store's ``split`` values that fit the decoder / are scored.
    behaviour: the decoded variable (default: the store's only ``*_vel`` variable, else its only behaviour).
    lag_ms: behaviour lag (a multiple of ``bin_ms``); decode_groups: an optional per-trial coordinate giving
    separate decoders (Area2_Bump's ``ctr_hold_bump``); psth_kernel_sd_ms: when given and the store has more
    than one condition, psth R² against ``condition_psth`` of the train + eval trials.

    Computed: co-bps if the store has held-out units, vel R² if it has behaviour, fp-bps if it has
    ``spikes_forward`` and ``rates_forward`` is given, psth R² as above. Always: trial and unit counts.
    """
    name = str(store.attrs.get("name", "session"))
    rates = np.asarray(rates, dtype=np.float64)
    shape = tuple(store["spikes"].shape)
    if rates.shape != shape:
        raise InputError(name, "rates", f"shape (trial, time, unit) = {shape} of the store's spikes", got=rates.shape)
    train = _split_mask(store, train_split)
    evaluate = _split_mask(store, eval_split)
    if not evaluate.any():
        raise InputError(name, "split", f"evaluation trials in split {eval_split!r}",
                         got=sorted(set(np.asarray(store['split'].values).astype(str).tolist())))
    heldout = np.asarray(store["heldout"].values, dtype=bool)
    out: dict[str, float | int] = {
        "n_train_trials": int(train.sum()),
        "n_eval_trials": int(evaluate.sum()),
        "n_heldin_units": int((~heldout).sum()),
        "n_heldout_units": int(heldout.sum()),
        "bin_ms": float(store.attrs["bin_ms"]),
    }
    spikes = np.asarray(store["spikes"].values, dtype=np.float64)
    if heldout.any():
        out[CO_BPS] = co_bps(rates[evaluate][:, :, heldout], spikes[evaluate][:, :, heldout])
        out["eval_heldout_spikes_count"] = int(np.nansum(spikes[evaluate][:, :, heldout]))
    if "spikes_forward" in store and rates_forward is not None:
        fwd = np.asarray(store["spikes_forward"].values, dtype=np.float64)
        rates_forward = np.asarray(rates_forward, dtype=np.float64)
        if rates_forward.shape != fwd.shape:
            raise InputError(name, "rates_forward", f"shape {fwd.shape} of spikes_forward", got=rates_forward.shape)
        out[FP_BPS] = fp_bps(rates_forward[evaluate], fwd[evaluate])
    variables = _behaviour_vars(store)
    if behaviour is None and variables:
        velocities = [v for v in variables if v.endswith("_vel")]
        behaviour = (velocities or variables)[0] if len(velocities or variables) == 1 else None
        if behaviour is None:
            raise InputError(name, "behaviour", f"the variable to decode, one of {variables}")
    if behaviour is not None:
        if behaviour not in variables:
            raise InputError(name, "behaviour", f"a behaviour variable of the store, one of {variables}",
                             got=behaviour)
        if not train.any():
            raise InputError(name, "split", f"training trials in split {train_split!r} to fit the decoder")
        bin_ms = float(store.attrs["bin_ms"])
        lag_bins = lag_ms / bin_ms
        if abs(lag_bins - round(lag_bins)) > 1e-9:
            raise InputError(name, "lag_ms", f"a multiple of bin_ms={bin_ms}", got=lag_ms)
        beh = np.asarray(store[behaviour].values, dtype=np.float64)
        groups = None if decode_groups is None else np.asarray(store[decode_groups].values).astype(str)
        out[VEL_R2] = vel_r2(
            rates[train], beh[train], rates[evaluate], beh[evaluate], lag_bins=int(round(lag_bins)),
            train_groups=None if groups is None else groups[train],
            eval_groups=None if groups is None else groups[evaluate],
        )
    conditions = np.asarray(store["condition"].values).astype(str)
    if psth_kernel_sd_ms is not None and len(set(conditions.tolist())) > 1:
        used = train | evaluate
        names, target = condition_psth(spikes[used], conditions[used],
                                       kernel_sd_bins=psth_kernel_sd_ms / float(store.attrs["bin_ms"]))
        out[PSTH_R2] = psth_r2(rates[evaluate], conditions[evaluate], target, target_conditions=names)
    return out


# -- DMFC_RSG -------------------------------------------------------------------------------------------------
# The benchmark scores DMFC_RSG by "tp corr" instead of vel R² (nlb_tools evaluation.py, `evaluate`, read for its
# definition at commit 04f1c7e; ../shared/NLB-DANDI.md "Evaluation"): per evaluation trial the *neural speed* is
# the mean over consecutive bins of the set→go period of ||r(t+1) − r(t)|| (rates of held-in and held-out units
# together; the benchmark finds the period as the bins where the eval trial's held-out spikes are not NaN, its
# eval window being set_time→go_time padded at the front); trials are grouped by (is_eye, theta, is_short) — the
# prior, response modality and direction, not ts, which has too few trials per value — and within each group
# the speed is correlated (Pearson) with the produced interval tp; tp corr is the median over groups.
TP_CORR = "tp_corr"
DMFC_CONDITION_FIELDS = ("is_eye", "theta", "is_short")


def neural_speed(rates: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(trial,) mean ||Δ rates|| over each trial's valid bins (taken in order, as the benchmark does: the
    difference is between consecutive *valid* bins). rates (trial, time, unit); valid (trial, time) bool."""
    rates = _as_float("rates", rates)
    valid = np.asarray(valid, dtype=bool)
    if rates.ndim != 3 or valid.shape != rates.shape[:2]:
        raise InputError("tp_corr", "valid", f"a (trial, time) mask of rates' first two dims {rates.shape[:2]}", got=valid.shape)
    out = np.full(rates.shape[0], np.nan)
    for i in range(rates.shape[0]):
        r = rates[i][valid[i]]
        if len(r) >= 2:
            out[i] = float(np.mean(np.linalg.norm(np.diff(r, axis=0), axis=1)))
    return out


def tp_corr(rates: np.ndarray, valid: np.ndarray, conditions: np.ndarray, tp: np.ndarray) -> float:
    """The benchmark's tp corr: median over conditions of Pearson r(neural speed, tp).

    conditions: (trial, k) values of (is_eye, theta, is_short) per evaluation trial (rows with every value NaN
    belong to no condition); tp: (trial,) produced intervals. A condition with fewer than 2 trials, or with a
    constant speed or tp, has no correlation and is left out (the benchmark would return NaN for it and take
    the median over NaNs); NaN when no condition has one.
    """
    speed = neural_speed(rates, valid)
    conditions = np.asarray(conditions, dtype=np.float64)
    tp = np.asarray(tp, dtype=np.float64)
    if conditions.ndim == 1:
        conditions = conditions[:, None]
    if len(conditions) != len(speed) or tp.shape != speed.shape:
        raise InputError("tp_corr", "conditions/tp", f"one row per evaluation trial ({len(speed)})", got=(conditions.shape, tp.shape))
    keep = ~np.all(np.isnan(conditions), axis=1)
    rs = []
    for cond in {tuple(c) for c in conditions[keep]}:
        m = np.all(conditions == np.asarray(cond), axis=1) & np.isfinite(speed) & np.isfinite(tp)
        if m.sum() < 2 or np.std(speed[m]) == 0 or np.std(tp[m]) == 0:
            continue
        rs.append(float(np.corrcoef(speed[m], tp[m])[0, 1]))
    return float(np.median(rs)) if rs else float("nan")


def dmfc_jitter_ms(tp_ms: np.ndarray, split: np.ndarray, *, window_ms: float = 1500.0, max_ms: float = 300.0,
                   seed: int = 0) -> np.ndarray:
    """The benchmark's random alignment jitter of DMFC_RSG's training windows (../shared/NLB-DANDI.md, make_tensors
    PARAMS: 0…clip(window − tp, 0, max) ms for every trial not in the test split, seeded), in whole ms.

    The window (go − window … go) moves later by the jitter, which is at most ``window − tp`` so that set_time
    (go − tp) stays inside it. Drawn with ``np.random.default_rng(seed)``, one uniform integer per trial in order
    (test trials draw too, so adding test trials does not change the others' jitter) and zeroed for test trials.
    """
    tp_ms = np.asarray(tp_ms, dtype=np.float64)
    split = np.asarray(split).astype(str)
    top = np.clip(window_ms - np.nan_to_num(tp_ms, nan=window_ms), 0.0, max_ms)
    draws = np.random.default_rng(seed).random(len(tp_ms))
    jitter = np.floor(draws * (np.floor(top) + 1.0))
    jitter[split == "test"] = 0.0
    return jitter
