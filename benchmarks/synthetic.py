"""SYNTHETIC loan applications: the Boston HMDA data scaled up for benchmarks, never for models.

Rows are drawn with replacement from the real ``loanapp`` data (seeded), so every row keeps
the joint pattern of one real application: its label, its leaked post-decision columns and
its protected attributes stay together. Numeric columns then get a small multiplicative
jitter that respects the schema (src/underwrite/schema.py):

- binary and categorical columns, the label, constant and leaked columns are not jittered;
- sentinels ("unknown" codes such as term 999999.375) and missing values stay as they are;
- jittered values are clipped to the column's range and stay whole numbers where the real
  column holds only whole numbers.

The Parquet file says it is synthetic twice: in its name and in its key-value metadata.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from underwrite.io import read_source
from underwrite.params import PACKAGED_SOURCE
from underwrite.schema import COLUMNS, Column, Kind, Role

log = logging.getLogger(__name__)

JITTER = 0.05  # relative standard deviation of the noise on numeric columns
METADATA_KEY = b"underwrite.synthetic"


def synthetic_path(folder: Path, rows: int, seed: int) -> Path:
    return folder / f"SYNTHETIC-loanapp-{rows}-seed{seed}.parquet"


def _jittered(column: Column, values: pd.Series, rng: np.random.Generator) -> pd.Series:
    """Values times (1 + noise), rounded if the real column is whole, clipped to the range."""
    keep = values.isna() | values.isin(column.sentinels)
    noisy = values * (1.0 + rng.normal(0.0, JITTER, len(values)))
    real = values[~keep]
    if (real == real.round()).all():
        noisy = noisy.round()
    noisy = noisy.clip(column.minimum, column.maximum)
    return values.where(keep, noisy).astype(values.dtype)


def scale_up(real: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    """``rows`` synthetic applications resampled from ``real`` with schema-respecting jitter."""
    if rows < 1:
        raise ValueError(f"rows must be positive, got {rows}")
    rng = np.random.default_rng(seed)
    picked = rng.integers(0, len(real), size=rows)
    frame = real.iloc[picked].reset_index(drop=True)
    for column in COLUMNS:
        if column.kind is Kind.NUMERIC and column.role in (Role.FEATURE, Role.PROTECTED):
            frame[column.name] = _jittered(column, frame[column.name], rng)
    return frame


def write_synthetic(frame: pd.DataFrame, path: Path, seed: int) -> None:
    """Parquet with a metadata entry saying where the rows came from and that they are fake."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    label = {
        "synthetic": True,
        "source": PACKAGED_SOURCE,
        "method": f"seeded resampling (seed {seed}) with {JITTER:.0%} jitter on numeric features",
        "purpose": "benchmarks only: not real applications",
    }
    metadata = {**(table.schema.metadata or {}), METADATA_KEY: json.dumps(label).encode()}
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table.replace_schema_metadata(metadata), path)


def make(folder: Path, rows: int, seed: int = 0) -> Path:
    """Write (or reuse) the synthetic file for ``rows`` and ``seed``; returns its path."""
    path = synthetic_path(folder, rows, seed)
    if path.is_file():
        log.info("reusing %s", path)
        return path
    log.info("generating %d synthetic rows (seed %d) -> %s", rows, seed, path)
    write_synthetic(scale_up(read_source(PACKAGED_SOURCE), rows, seed), path, seed)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", type=int, help="number of synthetic rows")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/.work/data"), help="folder")
    args = parser.parse_args()
    if args.rows < 1:
        parser.error(f"rows must be positive, got {args.rows}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    print(make(args.out, args.rows, args.seed))


if __name__ == "__main__":
    main()
