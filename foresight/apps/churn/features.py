"""Pure data → features for churn: split a customer table into ids, features and target."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from foresight.platform.errors import InvalidInput

TRUE_LABELS = ("yes", "true", "1", "y", "churn", "churned")
MAX_ID_CHARS = 100  # the customer id columns hold this much (store.py)
MAX_NAME_CHARS = 100  # the id and target column names, and the positive label


@dataclass
class CustomerTable:
    ids: pd.Series
    features: pd.DataFrame
    target: np.ndarray | None  # 1 = churned; None when the file has no target column


def infer_positive_label(values: pd.Series) -> str:
    """The label meaning 'churned' in a two-valued target column."""
    labels = sorted({str(v).strip() for v in values.dropna().unique()})
    if len(labels) != 2:
        raise InvalidInput(
            f"the target column must have exactly two values; found {len(labels)}: "
            + ", ".join(labels[:10]),
            details=[{"field": "target", "message": "expected two classes, e.g. Yes/No or 1/0"}],
        )
    for label in labels:
        if label.lower() in TRUE_LABELS:
            return label
    raise InvalidInput(
        f"cannot tell which of {labels} means 'churned'; pass --positive LABEL",
        details=[{"field": "target", "message": "ambiguous positive label"}],
    )


def split_table(
    frame: pd.DataFrame,
    *,
    id_column: str,
    target_column: str | None,
    positive_label: str | None = None,
) -> tuple[CustomerTable, str | None]:
    """Check the id and target columns and split the frame; returns the positive label used."""
    if frame.empty:
        raise InvalidInput("the file has no rows")
    for what, name in (("id column", id_column), ("target column", target_column)):
        if name and len(name) > MAX_NAME_CHARS:
            raise InvalidInput(f"the {what}'s name is longer than {MAX_NAME_CHARS} characters")
    # An empty name ("") is a column the file does not have, not "no column".
    missing = [c for c in (id_column, target_column) if c is not None and c not in frame.columns]
    if missing:
        raise InvalidInput(
            f"column(s) not in the file: {', '.join(missing)}; the file has: "
            + ", ".join(map(str, frame.columns)),
            details=[{"field": c, "message": "column not found"} for c in missing],
        )
    ids = frame[id_column].astype(str).str.strip()
    if ids.eq("").any() or frame[id_column].isna().any():
        rows = np.flatnonzero(ids.eq("").to_numpy() | frame[id_column].isna().to_numpy())[:10]
        raise InvalidInput(f"empty {id_column} in row(s) {', '.join(str(r + 2) for r in rows)}")
    too_long = ids.str.len() > MAX_ID_CHARS
    if too_long.any():
        rows = np.flatnonzero(too_long.to_numpy())[:10]
        raise InvalidInput(
            f"{id_column} is longer than {MAX_ID_CHARS} characters in row(s) "
            + ", ".join(str(r + 2) for r in rows)
        )
    dupes = ids[ids.duplicated()].unique()
    if len(dupes):
        raise InvalidInput(f"duplicate {id_column}: {', '.join(dupes[:10])}")
    target = None
    if target_column:
        col = frame[target_column]
        if col.isna().any():
            rows = np.flatnonzero(col.isna().to_numpy())[:10]
            raise InvalidInput(
                f"target {target_column} is empty in row(s) {', '.join(str(r + 2) for r in rows)}"
            )
        positive_label = positive_label or infer_positive_label(col)
        if len(positive_label) > MAX_NAME_CHARS:
            raise InvalidInput(f"the positive label is longer than {MAX_NAME_CHARS} characters")
        target = (col.astype(str).str.strip() == positive_label).to_numpy(dtype=np.int64)
    features = frame.drop(columns=[c for c in (id_column, target_column) if c])
    if features.shape[1] == 0:
        raise InvalidInput("the file has no feature columns besides the id and target")
    return CustomerTable(
        ids=ids, features=features.reset_index(drop=True), target=target
    ), positive_label


def json_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts: missing cells become None, NumPy scalars plain Python."""
    clean = frame.astype(object).where(frame.notna(), None)
    return [
        {k: (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()}
        for r in clean.to_dict("records")
    ]
