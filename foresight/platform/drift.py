"""Data drift per feature: a training reference, and the inputs of recent predictions against it.

Pure statistics, no I/O. ``Reference.from_frame`` summarises the training frame (stored as
JSON with the model version); ``compare`` tests recent inputs against that summary.

The test is Evidently's default choice, read in ``_get_default_stattest``
(``src/evidently/legacy/calculations/stattests/registry.py``, evidentlyai/evidently at
a4aa4c2b, May 2026, which the current ``DataDriftPreset`` also calls), with the thresholds
of the test modules beside it. By non-missing training values of the feature:

- ≤ 1000, numeric: two-sample Kolmogorov–Smirnov, drift if p ≤ 0.05;
- ≤ 1000, categorical: chi-square, p < 0.05; z-test for two proportions, p < 0.05, when
  reference and current together show at most 2 values;
- > 1000, numeric: Wasserstein distance / max(reference std, 0.001), drift if ≥ 0.1;
- > 1000, categorical: Jensen–Shannon distance (natural log), drift if ≥ 0.1.

As in Evidently, NaN and ±inf are dropped before testing; bool columns and numeric ones
with ≤ 5 distinct values get the categorical tests; the dataset drifts when the share of
drifted features is ≥ 0.5 (``get_dataset_drift``).

Deliberate differences. Evidently's chi-square is a goodness-of-fit test that treats the
reference shares as exact; with ≤ 1000 reference values that ignores their own noise
(measured: 11% false alarms at a nominal 5% for 800 vs 300 rows), so we run the two-sample
test of homogeneity (5%). The reference is a summary: categorical tests use the stored top-50
shares (the rest, and unseen current values, pooled as ``"__other__"``); KS and Wasserstein
use the seeded sample of ≤ ``sample_size`` values (exact when training had no more). A
column absent from ``current`` or entirely missing there is drifted (Evidently raises);
fewer than ``min_rows`` values: no test. A ``"numeric"`` kind forced via ``kinds`` keeps
KS/Wasserstein even with ≤ 5 distinct values.

PSI, the metric exported to Prometheus, is computed for every feature on the reference
quantile bins (or categories) plus one bin for missing values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial import distance

NUMERIC = "numeric"
CATEGORICAL = "categorical"
OTHER = "__other__"
LARGE_REFERENCE = 1000
MAX_CATEGORIES = 50
MAX_DISTINCT_AS_CATEGORICAL = 5
P_VALUE_THRESHOLD = 0.05
DISTANCE_THRESHOLD = 0.1
PSI_EPSILON = 1e-4
FORMAT_VERSION = 1


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index ``Σ (a − e) · ln(a / e)`` of two distributions on the same bins.

    Each argument holds counts or shares (it is divided by its sum); an empty bin counts as
    ``1e-4`` so the logarithm stays finite. Usual reading: < 0.1 stable, > 0.25 a major shift.

    >>> round(psi(np.array([0.25, 0.25, 0.25, 0.25]), np.array([0.1, 0.2, 0.3, 0.4])), 4)
    0.2282
    >>> psi(np.array([50, 50]), np.array([0.5, 0.5]))
    0.0
    """
    e, a = np.asarray(expected, dtype=float), np.asarray(actual, dtype=float)
    e, a = e / (e.sum() or 1.0), a / (a.sum() or 1.0)
    if e.shape != a.shape:
        raise ValueError(f"psi needs the same bins on both sides, got {e.shape} and {a.shape}")
    e, a = np.where(e > 0, e, PSI_EPSILON), np.where(a > 0, a, PSI_EPSILON)
    return float(np.sum((a - e) * np.log(a / e)))


def infer_kind(column: pd.Series) -> str | None:
    """``"numeric"``, ``"categorical"``, or None for date/time columns (not compared)."""
    if pd.api.types.is_bool_dtype(column):
        return CATEGORICAL
    if column.dtype.kind in "mM":
        return None
    if pd.api.types.is_numeric_dtype(column):
        few = column.nunique(dropna=True) <= MAX_DISTINCT_AS_CATEGORICAL
        return CATEGORICAL if few else NUMERIC
    return CATEGORICAL


@dataclass(frozen=True)
class FeatureReference:
    """One training column: its kind, size, missing share and distribution summary."""

    kind: str
    n_values: int  # non-missing training values: decides the test regime
    missing_share: float
    edges: tuple[float, ...] = ()  # numeric: quantile bin edges, min to max
    bin_shares: tuple[float, ...] = ()  # numeric: share of the values per bin
    mean: float | None = None
    std: float | None = None  # population std (ddof=0), as Evidently norms by np.std
    sample: tuple[float, ...] = ()  # numeric: sorted seeded sample of the values
    categories: dict[str, float] = field(default_factory=dict)  # categorical: value → share

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureReference:
        if data["kind"] not in (NUMERIC, CATEGORICAL):
            raise ValueError(f"unknown feature kind {data['kind']!r}")
        return cls(
            kind=str(data["kind"]),
            n_values=int(data["n_values"]),
            missing_share=float(data["missing_share"]),
            edges=_floats(data["edges"]),
            bin_shares=_floats(data["bin_shares"]),
            mean=None if data["mean"] is None else float(data["mean"]),
            std=None if data["std"] is None else float(data["std"]),
            sample=_floats(data["sample"]),
            categories={str(k): float(v) for k, v in data["categories"].items()},
        )


@dataclass(frozen=True)
class Reference:
    """The training reference stored with a model version (see ``from_frame``)."""

    n_rows: int
    features: dict[str, FeatureReference]

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        *,
        kinds: Mapping[str, str] | None = None,
        sample_size: int = 1000,
        bins: int = 10,
        seed: int = 0,
    ) -> Reference:
        """Summarise every column of ``frame``; ``kinds`` overrides the inferred kind."""
        kinds = dict(kinds or {})
        if unknown := sorted(set(kinds) - set(map(str, frame.columns))):
            raise ValueError(f"kinds names columns absent from the frame: {unknown}")
        if bad := sorted({k for k in kinds.values() if k not in (NUMERIC, CATEGORICAL)}):
            raise ValueError(f"kinds must be 'numeric' or 'categorical', got {bad}")
        features: dict[str, FeatureReference] = {}
        for name in frame.columns:
            column = frame[name]
            kind = kinds.get(str(name)) or infer_kind(column)
            if kind == NUMERIC:
                features[str(name)] = _numeric_reference(
                    column, bins=bins, sample_size=sample_size, seed=seed
                )
            elif kind == CATEGORICAL:
                features[str(name)] = _categorical_reference(column)
        return cls(n_rows=len(frame), features=features)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict: plain floats, non-finite numbers as None."""
        return _json_safe({"version": FORMAT_VERSION, **asdict(self)})  # type: ignore[no-any-return]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Reference:
        if data.get("version") != FORMAT_VERSION:
            raise ValueError(f"unsupported reference version {data.get('version')!r}")
        features = {str(k): FeatureReference.from_dict(v) for k, v in data["features"].items()}
        return cls(n_rows=int(data["n_rows"]), features=features)


@dataclass(frozen=True)
class FeatureDrift:
    """One feature's verdict. ``threshold`` applies to ``p_value`` if set, else to ``statistic``.

    ``method`` is a test (``ks``, ``chisquare``, ``z``, ``wasserstein``, ``jensenshannon``) or
    why none ran: ``missing`` (absent or all missing: drifted), ``too_few_rows``,
    ``no_reference`` (no training values).
    """

    name: str
    kind: str
    method: str
    statistic: float | None
    threshold: float | None
    p_value: float | None
    psi: float | None
    drifted: bool
    n_current: int  # non-missing current values


@dataclass(frozen=True)
class DriftReport:
    """Per-feature verdicts, in reference order, and the dataset verdict."""

    features: tuple[FeatureDrift, ...]
    drifted_features: tuple[str, ...]
    share_drifted: float
    dataset_drift: bool
    n_current: int  # rows in the current frame

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict, for the ``drift.detected`` webhook."""
        return _json_safe(asdict(self))  # type: ignore[no-any-return]


def compare(
    reference: Reference,
    current: pd.DataFrame,
    *,
    threshold_share: float = 0.5,
    min_rows: int = 30,
) -> DriftReport:
    """Test each reference feature in ``current``; extra columns in ``current`` are ignored."""
    results = tuple(
        _compare_feature(name, feature, current, min_rows=min_rows)
        for name, feature in reference.features.items()
    )
    drifted = tuple(r.name for r in results if r.drifted)
    share = len(drifted) / len(results) if results else 0.0
    return DriftReport(
        features=results,
        drifted_features=drifted,
        share_drifted=share,
        dataset_drift=bool(results) and share >= threshold_share,
        n_current=len(current),
    )


class _Test(NamedTuple):
    method: str
    statistic: float | None = None
    threshold: float | None = None
    p_value: float | None = None
    drifted: bool = False


def _compare_feature(
    name: str, ref: FeatureReference, current: pd.DataFrame, *, min_rows: int
) -> FeatureDrift:
    if ref.n_values == 0:
        return FeatureDrift(name, ref.kind, "no_reference", None, None, None, None, False, 0)
    if name not in current.columns:
        return FeatureDrift(name, ref.kind, "missing", None, None, None, None, True, 0)
    column = current[name]
    values, counts = np.empty(0), {}
    if ref.kind == NUMERIC:
        values = _finite(pd.to_numeric(column, errors="coerce"))
        n, binned = len(values), _bin_counts(values, np.asarray(ref.edges))
        ref_binned = np.asarray(ref.bin_shares)
    else:
        counts = _category_counts(column, ref.categories)
        keys = [*ref.categories, *([] if OTHER in ref.categories else [OTHER])]
        n, binned = sum(counts.values()), np.array([counts.get(k, 0) for k in keys])
        ref_binned = np.array([ref.categories.get(k, 0.0) for k in keys])
    # Missing values are one more PSI bin, so a broken upstream pipeline shows there too.
    expected = np.append(ref_binned * (1 - ref.missing_share), ref.missing_share)
    # A handful of rows makes any PSI huge; below min_rows it says nothing, so none is given.
    psi_value = (
        psi(expected, np.append(binned, len(column) - n)) if len(column) >= min_rows else None
    )
    if n == 0 and len(column) >= min_rows:
        test = _Test("missing", drifted=True)
    elif n < min_rows:
        test = _Test("too_few_rows")
    elif ref.kind == NUMERIC:
        test = _numeric_test(ref, values)
    else:
        test = _categorical_test(ref, counts, n)
    return FeatureDrift(
        name, ref.kind, test.method, test.statistic, test.threshold, test.p_value,
        psi_value, test.drifted, n,
    )  # fmt: skip


def _numeric_test(ref: FeatureReference, values: np.ndarray) -> _Test:
    sample = np.asarray(ref.sample)
    if ref.n_values <= LARGE_REFERENCE:
        ks = stats.ks_2samp(sample, values)
        p = float(ks.pvalue)
        return _Test("ks", float(ks.statistic), P_VALUE_THRESHOLD, p, p <= P_VALUE_THRESHOLD)
    score = float(stats.wasserstein_distance(sample, values)) / max(ref.std or 0.0, 0.001)
    return _Test("wasserstein", score, DISTANCE_THRESHOLD, None, score >= DISTANCE_THRESHOLD)


def _categorical_test(ref: FeatureReference, counts: Mapping[str, int], n: int) -> _Test:
    keys = sorted(k for k in {*ref.categories, *counts} if ref.categories.get(k) or counts.get(k))
    ref_shares = np.array([ref.categories.get(k, 0.0) for k in keys])
    observed = np.array([counts.get(k, 0) for k in keys], dtype=float)
    if ref.n_values > LARGE_REFERENCE:
        score = float(distance.jensenshannon(ref_shares, observed / n))
        return _Test("jensenshannon", score, DISTANCE_THRESHOLD, None, score >= DISTANCE_THRESHOLD)
    if len(keys) > 2:
        table = np.array([ref_shares * ref.n_values, observed])
        chi = stats.chi2_contingency(table, correction=False)
        p = float(chi.pvalue)
        return _Test("chisquare", float(chi.statistic), P_VALUE_THRESHOLD, p, p < P_VALUE_THRESHOLD)
    if len(keys) < 2:  # one and the same value on both sides
        return _Test("z", 0.0, P_VALUE_THRESHOLD, 1.0, False)
    p_ref, p_cur, n_ref = ref_shares[1], observed[1] / n, ref.n_values
    pooled = (p_ref * n_ref + p_cur * n) / (n_ref + n)
    z = float((p_ref - p_cur) / math.sqrt(pooled * (1 - pooled) * (1 / n_ref + 1 / n)))
    p = float(2 * stats.norm.sf(abs(z)))
    return _Test("z", z, P_VALUE_THRESHOLD, p, p < P_VALUE_THRESHOLD)


def _numeric_reference(
    column: pd.Series, *, bins: int, sample_size: int, seed: int
) -> FeatureReference:
    raw = pd.to_numeric(column, errors="raise")
    values = _finite(raw)
    missing = (len(raw) - len(values)) / len(raw) if len(raw) else 0.0
    if len(values) == 0:
        return FeatureReference(kind=NUMERIC, n_values=0, missing_share=missing)
    edges = np.unique(np.quantile(values, np.linspace(0.0, 1.0, bins + 1)))
    sample = values
    if len(values) > sample_size:
        sample = np.random.default_rng(seed).choice(values, size=sample_size, replace=False)
    return FeatureReference(
        kind=NUMERIC,
        n_values=len(values),
        missing_share=missing,
        edges=_floats(edges),
        bin_shares=_floats(_bin_counts(values, edges) / len(values)),
        mean=float(values.mean()),
        std=float(values.std()),
        sample=_floats(np.sort(sample)),
    )


def _categorical_reference(column: pd.Series) -> FeatureReference:
    counts = _category_counts(column)
    n = sum(counts.values())
    missing = (len(column) - n) / len(column) if len(column) else 0.0
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    kept = dict(ranked[:MAX_CATEGORIES])
    if rest := sum(count for _, count in ranked[MAX_CATEGORIES:]):
        kept[OTHER] = kept.get(OTHER, 0) + rest
    shares = {key: count / n for key, count in kept.items()}
    return FeatureReference(kind=CATEGORICAL, n_values=n, missing_share=missing, categories=shares)


def _finite(column: pd.Series) -> np.ndarray:
    values = column.to_numpy(dtype=float, na_value=np.nan)
    return values[np.isfinite(values)]


def _bin_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    # Only the inner edges split: values beyond the training range land in the outer bins.
    index = np.searchsorted(edges[1:-1], values, side="right")
    return np.bincount(index, minlength=max(len(edges) - 1, 1))


def _category_counts(column: pd.Series, known: Mapping[str, float] | None = None) -> dict[str, int]:
    """Non-missing values per category key; keys not in ``known`` (if given) pooled as OTHER."""
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    per_unique = np.bincount(codes[codes >= 0], minlength=len(uniques))
    counts: dict[str, int] = {}
    for value, count in zip(uniques, per_unique, strict=True):
        key = _category_key(value)
        key = OTHER if known is not None and key not in known else key
        counts[key] = counts.get(key, 0) + int(count)
    return counts


def _category_key(value: object) -> str:
    # JSON keys are strings; 3, 3.0 and np.int64(3) must be one category (a NaN in the
    # current batch turns an int column into float).
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | float | np.integer | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _floats(values: Any) -> tuple[float, ...]:
    return tuple(math.nan if v is None else float(v) for v in values)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value
