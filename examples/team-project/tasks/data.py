"""Before paying for a sweep: is the data there, and is there enough of it?"""

from __future__ import annotations

import csv
from pathlib import Path

from prefect import task

MIN_ROWS = 20


@task(name="check-data")
def check_data(path: str) -> int:
    """The number of rows in the CSV at `path`; an error when it is missing a column or too short."""
    with Path(path).open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or {"x", "y"} - set(rows[0]):
        raise ValueError(f"{path}: expected the columns x and y; found {sorted(rows[0]) if rows else 'no rows'}")
    if len(rows) < MIN_ROWS:
        raise ValueError(f"{path}: {len(rows)} rows, fewer than the {MIN_ROWS} a sweep needs; add data first")
    return len(rows)
