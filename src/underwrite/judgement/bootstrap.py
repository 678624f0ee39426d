"""Bootstrap intervals for one model, and paired differences between two on the same rows."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

from underwrite.judgement import statistics as st
from underwrite.judgement.cells import Cells, collapse, observed, resample_counts
from underwrite.params import BootstrapParams

POWER = 0.8  # the minimum detectable difference is the one found with this probability
BETTER, NO_DIFFERENCE, WORSE = "better", "no detectable difference", "worse"

Statistic = Callable[[np.ndarray], dict[str, np.ndarray]]


@dataclass(frozen=True)
class Estimate:
    """A statistic on the holdout and its bootstrap interval (nan: undefined)."""

    value: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class Difference:
    """Candidate minus production on the same rows, with its paired bootstrap interval."""

    candidate: float
    production: float
    difference: float
    ci_low: float
    ci_high: float
    minimum_detectable: float  # the smallest true difference found with probability POWER

    def judged(self, higher_is_better: bool) -> str:
        """Better or worse when the whole interval lies on one side of zero, else neither."""
        if self.ci_low > 0 or self.ci_high < 0:
            return BETTER if (self.ci_low > 0) == higher_is_better else WORSE
        return NO_DIFFERENCE


@dataclass(frozen=True)
class Judgement:
    estimates: dict[str, Estimate]  # flat names: roc_auc, race.tpr_gap, race.groups.black.fpr
    references: dict[str, str]  # per attribute, the group adverse impact ratios refer to
    method: str


@dataclass(frozen=True)
class PairedJudgement:
    differences: dict[str, Difference]
    references: dict[str, str]
    method: str


def statistics(
    weights: np.ndarray, cells: Cells, references: Mapping[str, str], model: int = 0
) -> dict[str, np.ndarray]:
    """Every statistic of one model, per resample, under flat dotted names."""
    result = dict(st.quality(weights, cells, model))
    for attribute in cells.names:
        rates = st.group_rates(weights, cells, attribute, model)
        ratios = st.impact_ratios(rates, references[attribute])
        for name, value in st.gaps(rates).items():
            result[f"{attribute}.{name}"] = value
        result[f"{attribute}.{st.AIR}"] = st.lowest_ratio(ratios, references[attribute])
        for group, values in rates.items():
            for name, value in {**values, st.AIR: ratios[group]}.items():
                result[f"{attribute}.groups.{group}.{name}"] = value
    return result


def references(cells: Cells, declared: Mapping[str, str], model: int = 0) -> dict[str, str]:
    """Per attribute, the reference group, fixed on the observed data."""
    return {
        attribute: st.reference_group(
            st.group_rates(observed(cells), cells, attribute, model), declared.get(attribute)
        )
        for attribute in cells.names
    }


def draws(cells: Cells, statistic: Statistic, params: BootstrapParams) -> dict[str, np.ndarray]:
    """Each statistic over every resample (the same resamples for all statistics)."""
    blocks = [statistic(w) for w in resample_counts(cells, params.resamples, params.seed)]
    return {name: np.concatenate([block[name] for block in blocks]) for name in blocks[0]}


def interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    """The percentile interval of the resamples where the statistic is defined."""
    finite = values[np.isfinite(values)]
    if len(finite) == 0:
        return float("nan"), float("nan")
    low, high = np.quantile(finite, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(low), float(high)


def method(params: BootstrapParams, cells: Cells, paired: bool = False) -> str:
    """The method, as the metrics files name it."""
    text = (
        f"{'paired ' if paired else ''}percentile bootstrap, stratified by label: "
        f"{params.resamples} resamples, seed {params.seed}, {params.confidence:.0%} intervals"
    )
    if cells.score_decimals is not None:
        text += f"; scores rounded to {cells.score_decimals} decimals for resampling"
    return text


def judge(
    label: np.ndarray,
    score: np.ndarray,
    threshold: float,
    groups: pd.DataFrame,
    params: BootstrapParams,
    declared: Mapping[str, str] | None = None,
) -> Judgement:
    """Every statistic of one model on the holdout, with its bootstrap interval."""
    cells = collapse(label, [score], threshold, groups)
    refs = references(cells, declared or {})
    point = statistics(observed(cells), cells, refs)
    resampled = draws(cells, lambda w: statistics(w, cells, refs), params)
    estimates = {
        name: Estimate(float(point[name][0]), *interval(resampled[name], params.confidence))
        for name in point
    }
    return Judgement(estimates, refs, method(params, cells))


def paired(
    label: np.ndarray,
    candidate: np.ndarray,
    production: np.ndarray,
    threshold: float,
    groups: pd.DataFrame,
    params: BootstrapParams,
    declared: Mapping[str, str] | None = None,
) -> PairedJudgement:
    """Candidate minus production for every statistic, both scored on the same rows.

    Both models are judged on the same resamples, so what the rows have in common cancels
    out; adverse impact ratios of both refer to production's reference groups.
    """
    cells = collapse(label, [candidate, production], threshold, groups)
    refs = references(cells, declared or {}, model=1)

    def both(weights: np.ndarray) -> tuple[dict, dict]:
        return statistics(weights, cells, refs, 0), statistics(weights, cells, refs, 1)

    point_candidate, point_production = both(observed(cells))
    resampled = draws(cells, lambda w: _differences(*both(w)), params)
    z = norm.ppf((1 + params.confidence) / 2) + norm.ppf(POWER)
    differences = {}
    for name, values in resampled.items():
        if name.endswith(".applications"):  # the same rows: sizes never differ
            continue
        cand, prod = float(point_candidate[name][0]), float(point_production[name][0])
        spread = float(np.nanstd(values, ddof=1)) if np.isfinite(values).sum() > 1 else np.nan
        differences[name] = Difference(
            cand, prod, cand - prod, *interval(values, params.confidence), float(z * spread)
        )
    return PairedJudgement(differences, refs, method(params, cells, paired=True))


def _differences(candidate: dict, production: dict) -> dict[str, np.ndarray]:
    return {name: candidate[name] - production[name] for name in candidate}
