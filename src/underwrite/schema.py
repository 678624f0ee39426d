"""The one data contract: every column of the Boston HMDA loan applications and its role.

Validation (pandera), the serving request model (pydantic), the model's preprocessing,
the fairness evaluation and drift monitoring all derive from ``COLUMNS``. A decision about
a column (is it a feature? does it leak the label? which value means "unknown"?) is made
here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pandas as pd


class Role(StrEnum):
    FEATURE = "feature"  # known when the application is filed: the model may use it
    LABEL = "label"  # what the model predicts
    # A protected class or prohibited basis (ECOA / Regulation B, 12 CFR 1002.2(z) and
    # 1002.6(b); Fair Housing Act, 42 U.S.C. 3605), or the closest stand-in the data has for one.
    PROTECTED = "protected"
    # Known at decision time but kept out of the model by the fair-lending policy: a
    # neighbourhood proxy for race, or an underwriter's own judgement (docs/fair-lending.md).
    EXCLUDED = "excluded"
    LEAKED = "leaked"  # recorded after (or because of) the decision: never a feature
    CONSTANT = "constant"  # one value in the whole data set: carries no information


# Roles a request may carry and the inference log keeps (for fairness and drift monitoring),
# and that a study with features.include_protected lets the model use.
POLICY_EXCLUDED: frozenset[Role] = frozenset({Role.PROTECTED, Role.EXCLUDED})


class Kind(StrEnum):
    NUMERIC = "numeric"
    BINARY = "binary"  # 0/1 flag
    CATEGORICAL = "categorical"  # integer codes


@dataclass(frozen=True)
class Column:
    name: str
    role: Role
    kind: Kind
    description: str
    unit: str = ""
    minimum: float | None = None
    maximum: float | None = None
    categories: tuple[int, ...] = ()
    sentinels: tuple[float, ...] = ()  # values the source uses for "unknown"
    nullable: bool = False
    why: str = ""  # one line: why the column has its role
    # +1: a higher value may never lower the approval probability; -1: may never raise it.
    # A direction makes the codes of a categorical column an ordered scale.
    monotone: int = 0

    @property
    def allowed_values(self) -> tuple[int, ...]:
        return (0, 1) if self.kind is Kind.BINARY else self.categories


F, L, P, E, X, C = (
    Role.FEATURE, Role.LABEL, Role.PROTECTED, Role.EXCLUDED, Role.LEAKED, Role.CONSTANT
)  # fmt: skip
NUM, BIN, CAT = Kind.NUMERIC, Kind.BINARY, Kind.CATEGORICAL
_POST = "post-decision"
_REG_B = "a prohibited basis under ECOA (Reg B 12 CFR 1002.2(z), 1002.6(b)(1))"
_FHA = "and the Fair Housing Act (42 U.S.C. 3605)"
_TRACT = "a neighbourhood proxy for race that adds no ROC AUC (docs/fair-lending.md)"
_JUDGED = (
    "an underwriter's assessment made during underwriting, not at filing: it would carry "
    "the historical decisions (and their bias) into the model (docs/fair-lending.md)"
)
_UNKNOWN_CODE = "the source's 'unknown' code"

# fmt: off
COLUMNS: tuple[Column, ...] = (
    Column("occ", F, CAT, "occupancy (1 owner-occupied, 2 not, 3 unknown)", categories=(1, 2, 3),
           why="the property's use, stated on the application"),
    Column("loanamt", F, NUM, "loan amount", "thousands of dollars", 1, 10_000,
           why="the amount asked for"),
    Column("action", X, CAT, "type of action taken (1, 2 approved, 3 denied)",
           categories=(1, 2, 3), why=f"{_POST}: the decision itself (approve is derived from it)"),
    Column("msa", C, NUM, "metropolitan statistical area of the property", minimum=1120,
           maximum=1120, why="constant: every application is in the Boston MSA (1120)"),
    Column("suffolk", E, BIN, "property in Suffolk county", why=f"the county: {_TRACT}"),
    # 666 is a spike of 21 rows where only four incomes are higher (732 to 972): the same
    # "unknown" code gdlin uses, not an income of $666k.
    Column("appinc", F, NUM, "applicant income", "thousands of dollars per year", 0, 10_000,
           sentinels=(666,), monotone=1, why="ability to repay"),
    Column("typur", X, CAT, "type of purchaser of the loan", categories=(0, 1, 3, 5, 6, 7, 8, 9),
           why=f"{_POST}: only originated loans are sold, so a purchaser implies approval"),
    Column("unit", F, NUM, "number of units in the property", "units", 1, 4, nullable=True,
           why="the collateral"),
    Column("married", P, BIN, "applicant married", nullable=True,
           why=f"marital status: {_REG_B}"),
    Column("dep", P, NUM, "number of dependents", "people", 0, 20, nullable=True,
           why="the data's stand-in for familial status, a protected class under the Fair "
           "Housing Act (42 U.S.C. 3605); it adds no ROC AUC (docs/fair-lending.md)"),
    # Only 0, 1, 6 and 9 occur (1803/147/27/12 rows for emp): codes whose key the source
    # does not publish, not years, so each is a category of its own.
    Column("emp", F, CAT, "employment in line of work, coded (0, 1, 6, 9; key unpublished)",
           categories=(0, 1, 6, 9), why="employment stability, as the source coded it"),
    Column("yjob", F, CAT, "time at this job, coded (0, 1, 6, 9; key unpublished)",
           categories=(0, 1, 6, 9), why="employment stability, as the source coded it"),
    Column("self", F, BIN, "applicant self-employed", why="income stability"),
    Column("atotinc", F, NUM, "applicant total monthly income", "dollars per month", 0, 1e6,
           monotone=1, why="ability to repay"),
    Column("cototinc", F, NUM, "co-applicant total monthly income", "dollars per month", 0, 1e6,
           monotone=1, why="ability to repay"),
    Column("hexp", F, NUM, "proposed housing expense", "dollars per month", 0, 1e5,
           why="the payment asked for"),
    Column("price", F, NUM, "purchase price", "thousands of dollars", 1, 1e5,
           why="the collateral"),
    Column("other", F, NUM, "other financing", "thousands of dollars", 0, 1e5,
           why="other debt on the property"),
    # 1,000,000 (a billion dollars) in 9 rows, where the next largest is 8,650: a code.
    Column("liq", F, NUM, "liquid assets", "thousands of dollars", 0, 1e7,
           sentinels=(1_000_000,), monotone=1, why="reserves after closing"),
    Column("rep", F, NUM, "number of credit reports", "reports", 0, 20, nullable=True,
           why="depth of the credit file"),
    Column("gdlin", E, BIN, "credit history meets guidelines", sentinels=(666,), why=_JUDGED),
    Column("lines", F, NUM, "number of credit lines on reports", "lines", 0, 500,
           sentinels=(999999.375,), why="depth of the credit file"),
    # 1 is "no mortgage history" (mortno), 2 "no late payments" (mortperf): ranking 1 first
    # never penalises a first-time buyer against a perfect payer (approved 93% and 86%).
    Column("mortg", F, CAT, "mortgage payment history (1 none, 2 no late payments, 3 one or "
           "two late, 4 more than two late)", categories=(1, 2, 3, 4), monotone=-1,
           why="credit history from the credit reports"),
    Column("cons", F, CAT, "credit history on consumer payments (1 best .. 6 worst)",
           categories=(1, 2, 3, 4, 5, 6), monotone=-1,
           why="credit history from the credit reports"),
    Column("pubrec", F, BIN, "filed for bankruptcy (public record)", monotone=-1,
           why="credit history from public records"),
    Column("hrat", F, NUM, "housing expense", "percent of total income", 0, 100, monotone=-1,
           why="housing expense ratio: ability to repay"),
    Column("obrat", F, NUM, "total obligations (debt to income)", "percent of total income",
           0, 100, monotone=-1, why="debt-to-income ratio: ability to repay"),
    Column("fixadj", F, BIN, "adjustable rate (1) or fixed (0)", why="the loan's terms"),
    Column("term", F, NUM, "term of loan", "months", 1, 600, sentinels=(999999.375,),
           why="the loan's terms"),
    Column("apr", F, NUM, "appraised value", "thousands of dollars", 1, 1e5,
           why="the collateral"),
    Column("prop", F, CAT, "type of property", categories=(1, 2, 3), why="the collateral"),
    Column("inss", F, BIN, "private mortgage insurance sought", why="the loan's terms"),
    # 28 of the 30 ones were denied: the insurer's refusal, decided during underwriting.
    Column("inson", X, BIN, "private mortgage insurance denied",
           why=f"{_POST}: the insurer's refusal comes during underwriting, after filing, "
           "and 28 of its 30 cases were denied"),
    Column("gift", F, BIN, "gift as down payment", why="source of the down payment"),
    Column("cosign", F, BIN, "has a cosigner", why="a second obligor"),
    Column("unver", E, BIN, "unverifiable information", why=_JUDGED),
    Column("review", X, NUM, "number of times the file was reviewed", "reviews", 0, 100,
           sentinels=(999,),
           why="recorded during underwriting, not at filing: 0 reviews marks files closed early "
           "(14% approved against 88%)"),
    Column("netw", F, NUM, "net worth", "thousands of dollars", -1e6, 1e7,
           why="reserves"),
    Column("unem", F, NUM, "unemployment rate in the applicant's industry", "percent", 0, 100,
           why="income stability"),
    Column("min30", E, BIN, "minority population of the tract above 30%", nullable=True,
           why="a proxy for race: using it is redlining (Fair Housing Act, 42 U.S.C. 3605)"),
    Column("bd", E, BIN, "boarded-up values in the tract above the MSA median",
           why=f"the tract: {_TRACT}"),
    Column("mi", E, BIN, "tract income above the MSA median", why=f"the tract: {_TRACT}"),
    Column("old", P, BIN, "applicant age above the MSA median",
           why=f"age: {_REG_B}; 1002.6(b)(2) allows age in a scoring system only if the elderly "
           "never get a negative value, and here it lowers approval"),
    Column("vr", E, BIN, "tract vacancy rate above the MSA median", why=f"the tract: {_TRACT}"),
    Column("sch", F, BIN, "more than 12 years of schooling", why="income prospects"),
    Column("black", P, BIN, "applicant is black", why=f"race: {_REG_B} {_FHA}"),
    Column("hispan", P, BIN, "applicant is Hispanic",
           why=f"ethnicity (national origin): {_REG_B} {_FHA}"),
    Column("male", P, BIN, "applicant is male", nullable=True, why=f"sex: {_REG_B} {_FHA}"),
    Column("reject", X, BIN, "application denied", why=f"{_POST}: 1 - approve"),
    Column("approve", L, BIN, "application approved (action 1 or 2)",
           why="the historical underwriter's decision, not repayment"),
    Column("mortno", F, BIN, "no mortgage payment history", why="credit history"),
    Column("mortperf", F, BIN, "no late mortgage payments", why="credit history"),
    Column("mortlat1", F, BIN, "one or two late mortgage payments", monotone=-1,
           why="credit history"),
    Column("mortlat2", F, BIN, "more than two late mortgage payments", monotone=-1,
           why="credit history"),
    Column("chist", F, BIN, "no accounts 60+ days delinquent", monotone=1, why="credit history"),
    Column("multi", F, BIN, "two or more units", nullable=True, why="the collateral"),
    Column("loanprc", F, NUM, "loan amount over purchase price (loan to value)", "ratio", 0, 10,
           monotone=-1, why="loan-to-value ratio: the collateral's cushion"),
    Column("thick", F, BIN, "more than two credit reports", nullable=True,
           why="depth of the credit file"),
    Column("white", P, BIN, "applicant is white", why=f"race: {_REG_B} {_FHA}"),
)
# fmt: on

BY_NAME: dict[str, Column] = {c.name: c for c in COLUMNS}
LABEL: str = next(c.name for c in COLUMNS if c.role is Role.LABEL)
RACE_COLUMNS: dict[str, str] = {"white": "white", "black": "black", "hispan": "hispanic"}
GROUPS: tuple[str, ...] = ("race", "sex")


def columns_with(roles: Iterable[Role]) -> tuple[Column, ...]:
    wanted = set(roles)
    return tuple(c for c in COLUMNS if c.role in wanted)


def feature_columns(include_protected: bool = False) -> tuple[Column, ...]:
    """The model's inputs: FEATURE columns, plus, for a study, every column the policy keeps
    out (PROTECTED and EXCLUDED). With ``include_protected=True``: every field a request
    may carry and the inference log records."""
    roles = {Role.FEATURE, *POLICY_EXCLUDED} if include_protected else {Role.FEATURE}
    return columns_with(roles)


def model_columns(include_protected: bool, drop: Iterable[str] = ()) -> tuple[Column, ...]:
    """The columns a model is trained on: ``feature_columns`` less DROP (an experiment's
    smaller feature set, e.g. without the strongest proxies)."""
    offered = feature_columns(include_protected)
    unknown = sorted(set(drop) - set(names(offered)))
    if unknown:
        raise ValueError(
            f"features.drop names {', '.join(unknown)}, which the model would not use anyway; "
            f"drop only columns of: {', '.join(names(offered))}"
        )
    return tuple(c for c in offered if c.name not in set(drop))


def names(columns: Iterable[Column], kind: Kind | None = None) -> list[str]:
    return [c.name for c in columns if kind is None or c.kind is kind]


def protected_groups(frame: pd.DataFrame) -> pd.DataFrame:
    """The fairness groups of each row: race (white/black/hispanic) and sex (male/female).

    Rows whose group the data does not record get "unknown".
    """
    race = pd.Series("unknown", index=frame.index, dtype=object)
    for column, group in RACE_COLUMNS.items():
        race = race.mask(frame[column] == 1, group)
    sex = np.select([frame["male"] == 1, frame["male"] == 0], ["male", "female"], default="unknown")
    return pd.DataFrame({"race": race, "sex": sex}, index=frame.index)


def describe() -> pd.DataFrame:
    """Every column's contract as a table (for docs and reports)."""
    return pd.DataFrame(
        {
            "column": c.name,
            "role": str(c.role),
            "kind": str(c.kind),
            "description": c.description,
            "unit": c.unit,
            "range": "" if c.minimum is None else f"{c.minimum:g} .. {c.maximum:g}",
            "values": ", ".join(map(str, c.allowed_values)),
            "unknown": ", ".join([*(f"{s:.10g}" for s in c.sentinels), *(["null"] * c.nullable)]),
            "monotone": f"{c.monotone:+d}" if c.monotone else "",
            "why": c.why,
        }
        for c in COLUMNS
    )
