"""Per-feature drift statistics (scipy), schema drift and prediction drift for one window.

The rule: a feature's distribution drifts when its two-sample test is significant after
Holm's correction over the features AND an effect size reaches its threshold (large
windows make every p-value tiny; small ones make effect sizes noisy: each guards the
other). Numeric features: Kolmogorov-Smirnov on the known values, the Wasserstein distance
over the reference standard deviation, and PSI over the reference's quantile bins.
Binary and categorical features: chi-squared on the category counts, PSI and the
Jensen-Shannon distance. Counts include one bucket for missing values and one per category
unseen in training, so every case has a defined, finite result.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import stats
from scipy.spatial.distance import jensenshannon
from scipy.special import rel_entr

from underwrite.drift.profile import FeatureProfile, Profile
from underwrite.drift.window import FeatureCounts, WindowSummary
from underwrite.params import DriftParams, DriftThresholds
from underwrite.schema import BY_NAME, Role

PSEUDO_COUNT = 0.5  # per bucket, so an empty bucket on one side gives a finite PSI


@dataclass
class FeatureResult:
    name: str
    kind: str
    test: str  # "ks", "chi2" or "none" (nothing to compare)
    statistic: float
    p_value: float
    psi: float
    jensen_shannon: float
    wasserstein: float | None  # numeric only, in reference standard deviations
    missing_reference: float
    missing_current: float
    unknown_share: float = 0.0
    unknown_values: list[float] = field(default_factory=list)
    out_of_range_share: float = 0.0
    p_adjusted: float = 1.0
    protected: bool = False  # a protected attribute: reported, never an alarm on its own
    distribution_drift: bool = False
    schema_drift: list[str] = field(default_factory=list)
    note: str = ""

    @property
    def drifted(self) -> bool:
        return self.distribution_drift or bool(self.schema_drift)


@dataclass
class PredictionResult:
    approval_rate_reference: float
    approval_rate_current: float
    approval_p_value: float
    score_ks: float
    score_p_value: float
    score_wasserstein: float
    score_psi: float
    reasons: list[str] = field(default_factory=list)

    @property
    def drifted(self) -> bool:
        return bool(self.reasons)


def holm(p_values: list[float]) -> np.ndarray:
    """Holm's step-down adjustment: controls the family-wise error rate over the features."""
    p = np.asarray(p_values, dtype="float64")
    if not len(p):
        return p
    order = np.argsort(p)
    steps = (len(p) - np.arange(len(p))) * p[order]
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(np.maximum.accumulate(steps), 1.0)
    return adjusted


def divergences(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """PSI and the Jensen-Shannon distance (base 2) of two count vectors."""
    p = (reference + PSEUDO_COUNT) / (reference.sum() + PSEUDO_COUNT * len(reference))
    q = (current + PSEUDO_COUNT) / (current.sum() + PSEUDO_COUNT * len(current))
    psi = float(np.sum(rel_entr(p, q) + rel_entr(q, p)))
    return psi, float(jensenshannon(p, q, base=2))


def buckets(ref: FeatureProfile, counts: FeatureCounts) -> tuple[np.ndarray, np.ndarray]:
    """Reference and current counts over bins or categories, unseen categories and missing."""
    unseen = sorted(counts.unknown)
    reference = [*ref.counts, *([0] * len(unseen)), ref.missing]
    current = [*counts.counts.tolist(), *(counts.unknown[v] for v in unseen), counts.missing]
    return np.asarray(reference, dtype="float64"), np.asarray(current, dtype="float64")


def chi_squared(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """Pearson's chi-squared test of homogeneity on the bucket counts, without Yates.

    scipy applies Yates' continuity correction only to 2x2 tables, so with it a binary
    feature's test would change character with whether its missing bucket happens to be
    empty; the correction only makes the test more conservative, at these counts (hundreds
    of rows against thousands) the uncorrected statistic is accurate, and the alarm rests
    on the effect sizes anyway.
    """
    table = np.vstack([reference, current])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 0.0, 1.0  # one bucket in both, or an empty side: no evidence of a difference
    result = stats.chi2_contingency(table, correction=False)
    return float(result.statistic), float(result.pvalue)


def compare_feature(ref: FeatureProfile, window: WindowSummary) -> FeatureResult:
    counts = window.features[ref.name]
    reference, current = buckets(ref, counts)
    psi, js = divergences(reference, current)
    missing_ref = ref.missing / ref.rows if ref.rows else 0.0
    result = FeatureResult(
        ref.name, ref.kind, "none", 0.0, 1.0, psi, js, None, missing_ref,
        counts.missing / counts.rows if counts.rows else 0.0,
        protected=BY_NAME[ref.name].role is Role.PROTECTED,
    )  # fmt: skip
    known = counts.rows - counts.missing
    if known:
        result.unknown_share = sum(counts.unknown.values()) / known
        result.unknown_values = sorted(counts.unknown)
        result.out_of_range_share = counts.outside / known
    if ref.numeric:
        _numeric_test(result, ref, window.sample(ref.name))
    else:
        result.test = "chi2"
        result.statistic, result.p_value = chi_squared(reference, current)
    return result


def _numeric_test(result: FeatureResult, ref: FeatureProfile, current: np.ndarray) -> None:
    if not len(current) or not ref.sample:
        side = "current window" if ref.sample else "reference"
        result.note = f"no known values in the {side}: only the missing share is compared"
        return
    sample = np.asarray(ref.sample)
    test = stats.ks_2samp(
        sample, current, method="asymp"
    )  # exact is slow and adds nothing at these sizes
    result.test, result.statistic, result.p_value = "ks", float(test.statistic), float(test.pvalue)
    scale = ref.std if ref.std > 0 else max(abs(sample[0]), 1.0)
    if ref.std == 0:
        result.note = f"constant in training ({sample[0]:g}): distances in units of {scale:g}"
    result.wasserstein = float(stats.wasserstein_distance(sample, current) / scale)


def judge_features(results: list[FeatureResult], params: DriftParams) -> None:
    """Holm-adjust the p-values, then mark distribution and schema drift per feature."""
    limits = params.thresholds
    for result, adjusted in zip(results, holm([r.p_value for r in results]), strict=True):
        result.p_adjusted = float(adjusted)
        large = result.psi >= limits.psi or (
            (result.wasserstein or 0.0) >= limits.wasserstein
            if result.test == "ks"
            else result.jensen_shannon >= limits.jensen_shannon
        )
        result.distribution_drift = bool(adjusted < params.alpha and large)
        result.schema_drift = schema_reasons(result, limits)


def schema_reasons(result: FeatureResult, limits: DriftThresholds) -> list[str]:
    reasons = []
    if result.unknown_share >= limits.unknown_share:
        values = ", ".join(f"{v:g}" for v in result.unknown_values[:5])
        reasons.append(f"{result.unknown_share:.1%} of rows have categories unseen in training "
                       f"({values})")  # fmt: skip
    if result.out_of_range_share >= limits.out_of_range_share:
        reasons.append(f"{result.out_of_range_share:.1%} of values outside the training range")
    change = result.missing_current - result.missing_reference
    if abs(change) >= limits.missing_rate:
        reasons.append(
            f"missing share {result.missing_reference:.1%} -> {result.missing_current:.1%}"
        )
    return reasons


def compare_predictions(profile: Profile, window: WindowSummary, params: DriftParams):
    """Approval rate and score distribution against the training split's, or None."""
    ref = profile.prediction
    scores = window.sample("probability")
    if ref is None or not len(scores) or not window.decided:
        return None
    rate = window.approved / window.decided
    expected = ref.approval_rate
    approval_p = float(stats.binomtest(window.approved, window.decided, expected).pvalue)
    sample = np.asarray(ref.sample)
    ks = stats.ks_2samp(sample, scores, method="asymp")
    scale = ref.std if ref.std > 0 else 1.0
    psi, _ = divergences(np.asarray(ref.counts, dtype="float64"), window.score_counts)
    result = PredictionResult(
        expected, rate, approval_p, float(ks.statistic), float(ks.pvalue),
        float(stats.wasserstein_distance(sample, scores) / scale), psi,
    )  # fmt: skip
    result.reasons = _prediction_reasons(result, params)
    return result


def _prediction_reasons(result: PredictionResult, params: DriftParams) -> list[str]:
    limits, alpha = params.thresholds, params.alpha / 2  # Bonferroni over the two tests
    reasons = []
    change = result.approval_rate_current - result.approval_rate_reference
    if abs(change) >= limits.approval_rate and result.approval_p_value < alpha:
        reasons.append(
            f"approval rate {result.approval_rate_reference:.1%} -> "
            f"{result.approval_rate_current:.1%}"
        )
    large = result.score_wasserstein >= limits.wasserstein or result.score_psi >= limits.psi
    if large and result.score_p_value < alpha:
        reasons.append(
            f"score distribution moved (KS {result.score_ks:.3f}, "
            f"Wasserstein {result.score_wasserstein:.2f} sd, PSI {result.score_psi:.2f})"
        )
    return reasons
