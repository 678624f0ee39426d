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
    PROTECTED = "protected"  # excluded from features by default, kept for fairness evaluation
    LEAKED = "leaked"  # recorded after (or because of) the decision: never a feature
    CONSTANT = "constant"  # one value in the whole data set: carries no information


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
    why: str = ""  # the reason for a role other than FEATURE
    # +1: a higher value may never lower the approval probability; -1: may never raise it.
    # A direction makes the codes of a categorical column an ordered scale.
    monotone: int = 0

    @property
    def allowed_values(self) -> tuple[int, ...]:
        return (0, 1) if self.kind is Kind.BINARY else self.categories


F, L, P, X, C = Role.FEATURE, Role.LABEL, Role.PROTECTED, Role.LEAKED, Role.CONSTANT
NUM, BIN, CAT = Kind.NUMERIC, Kind.BINARY, Kind.CATEGORICAL
_POST = "post-decision"

# fmt: off
COLUMNS: tuple[Column, ...] = (
    Column("occ", F, CAT, "occupancy (1 owner-occupied, 2 not, 3 unknown)", categories=(1, 2, 3)),
    Column("loanamt", F, NUM, "loan amount", "thousands of dollars", 1, 10_000),
    Column("action", X, CAT, "type of action taken (1, 2 approved, 3 denied)",
           categories=(1, 2, 3), why=f"{_POST}: the decision itself (approve is derived from it)"),
    Column("msa", C, NUM, "metropolitan statistical area of the property", minimum=1120,
           maximum=1120, why="constant: every application is in the Boston MSA (1120)"),
    Column("suffolk", F, BIN, "property in Suffolk county"),
    Column("appinc", F, NUM, "applicant income", "thousands of dollars per year", 0, 10_000,
           monotone=1),
    Column("typur", X, CAT, "type of purchaser of the loan", categories=(0, 1, 3, 5, 6, 7, 8, 9),
           why=f"{_POST}: only originated loans are sold, so a purchaser implies approval"),
    Column("unit", F, NUM, "number of units in the property", "units", 1, 4, nullable=True),
    Column("married", F, BIN, "applicant married", nullable=True),
    Column("dep", F, NUM, "number of dependents", "people", 0, 20, nullable=True),
    Column("emp", F, NUM, "years employed in line of work (as coded in the source)", "years",
           0, 60),
    Column("yjob", F, NUM, "years at this job (as coded in the source)", "years", 0, 60),
    Column("self", F, BIN, "applicant self-employed"),
    Column("atotinc", F, NUM, "applicant total monthly income", "dollars per month", 0, 1e6,
           monotone=1),
    Column("cototinc", F, NUM, "co-applicant total monthly income", "dollars per month", 0, 1e6),
    Column("hexp", F, NUM, "proposed housing expense", "dollars per month", 0, 1e5),
    Column("price", F, NUM, "purchase price", "thousands of dollars", 1, 1e5),
    Column("other", F, NUM, "other financing", "thousands of dollars", 0, 1e5),
    Column("liq", F, NUM, "liquid assets", "thousands of dollars", 0, 1e7),
    Column("rep", F, NUM, "number of credit reports", "reports", 0, 20, nullable=True),
    Column("gdlin", F, BIN, "credit history meets guidelines", sentinels=(666,)),
    Column("lines", F, NUM, "number of credit lines on reports", "lines", 0, 500,
           sentinels=(999999.375,)),
    Column("mortg", F, CAT, "credit history on mortgage payments (1 best .. 4 worst)",
           categories=(1, 2, 3, 4), monotone=-1),
    Column("cons", F, CAT, "credit history on consumer payments (1 best .. 6 worst)",
           categories=(1, 2, 3, 4, 5, 6), monotone=-1),
    Column("pubrec", F, BIN, "filed for bankruptcy (public record)", monotone=-1),
    Column("hrat", F, NUM, "housing expense", "percent of total income", 0, 100),
    Column("obrat", F, NUM, "other obligations", "percent of total income", 0, 100),
    Column("fixadj", F, BIN, "adjustable rate (1) or fixed (0)"),
    Column("term", F, NUM, "term of loan", "months", 1, 600, sentinels=(999999.375,)),
    Column("apr", F, NUM, "appraised value", "thousands of dollars", 1, 1e5),
    Column("prop", F, CAT, "type of property", categories=(1, 2, 3)),
    Column("inss", F, BIN, "private mortgage insurance sought"),
    Column("inson", X, BIN, "private mortgage insurance approved",
           why=f"{_POST}: insurers approve PMI for loans being originated"),
    Column("gift", F, BIN, "gift as down payment"),
    Column("cosign", F, BIN, "has a cosigner"),
    Column("unver", F, BIN, "unverifiable information"),
    Column("review", X, NUM, "number of times the file was reviewed", "reviews", 0, 100,
           sentinels=(999,),
           why="recorded during underwriting, not at filing: 0 reviews marks files closed early "
           "(14% approved against 88%)"),
    Column("netw", F, NUM, "net worth", "thousands of dollars", -1e6, 1e7),
    Column("unem", F, NUM, "unemployment rate in the applicant's industry", "percent", 0, 100),
    Column("min30", P, BIN, "minority population of the tract above 30%", nullable=True,
           why="a proxy for race: using it is redlining"),
    Column("bd", F, BIN, "boarded-up values in the tract above the MSA median"),
    Column("mi", F, BIN, "tract income above the MSA median"),
    Column("old", F, BIN, "applicant age above the MSA median"),
    Column("vr", F, BIN, "tract vacancy rate above the MSA median"),
    Column("sch", F, BIN, "more than 12 years of schooling"),
    Column("black", P, BIN, "applicant is black", why="race"),
    Column("hispan", P, BIN, "applicant is Hispanic", why="ethnicity"),
    Column("male", P, BIN, "applicant is male", nullable=True, why="sex"),
    Column("reject", X, BIN, "application denied", why=f"{_POST}: 1 - approve"),
    Column("approve", L, BIN, "application approved (action 1 or 2)"),
    Column("mortno", F, BIN, "no mortgage payment history"),
    Column("mortperf", F, BIN, "no late mortgage payments"),
    Column("mortlat1", F, BIN, "one or two late mortgage payments"),
    Column("mortlat2", F, BIN, "more than two late mortgage payments"),
    Column("chist", F, BIN, "no accounts 60+ days delinquent"),
    Column("multi", F, BIN, "two or more units", nullable=True),
    Column("loanprc", F, NUM, "loan amount over purchase price", "ratio", 0, 10),
    Column("thick", F, BIN, "more than two credit reports", nullable=True),
    Column("white", P, BIN, "applicant is white", why="race"),
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
    """The model's inputs: FEATURE columns, plus PROTECTED ones when asked for."""
    roles = {Role.FEATURE, Role.PROTECTED} if include_protected else {Role.FEATURE}
    return columns_with(roles)


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
