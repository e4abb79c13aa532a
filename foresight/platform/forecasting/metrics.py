"""Point-forecast accuracy: MAE, RMSE, MAPE, sMAPE and MASE, per series and averaged.

Definitions follow the M competitions: sMAPE in percent, ``200 * |y - y_hat| / (|y| + |y_hat|)``
(0 when both are 0); MASE scales the error by the in-sample mean absolute seasonal
difference of the training series (lag ``season_length``, falling back to lag 1 when the
series is shorter than two seasons).

Every metric takes an optional boolean ``mask`` (True = the step counts), so a series with
closed periods is scored on its open steps only:

>>> y, y_hat = np.array([10.0, 0.0, 12.0]), np.array([11.0, 5.0, 12.0])
>>> mae(y, y_hat), mae(y, y_hat, mask=np.array([True, False, True]))
(2.0, 0.5)
"""

from __future__ import annotations

import numpy as np


def _kept(
    y: np.ndarray, y_hat: np.ndarray, mask: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    if mask is None:
        return y, y_hat
    keep = np.asarray(mask, dtype=bool)
    return np.asarray(y)[keep], np.asarray(y_hat)[keep]


def mae(y: np.ndarray, y_hat: np.ndarray, *, mask: np.ndarray | None = None) -> float:
    y, y_hat = _kept(y, y_hat, mask)
    return float(np.mean(np.abs(y - y_hat)))


def rmse(y: np.ndarray, y_hat: np.ndarray, *, mask: np.ndarray | None = None) -> float:
    y, y_hat = _kept(y, y_hat, mask)
    return float(np.sqrt(np.mean((y - y_hat) ** 2)))


def mape(y: np.ndarray, y_hat: np.ndarray, *, mask: np.ndarray | None = None) -> float:
    """Mean absolute percentage error (%); points where y is 0 are left out."""
    y, y_hat = _kept(y, y_hat, mask)
    nonzero = y != 0
    if not nonzero.any():
        return float("nan")
    return float(100 * np.mean(np.abs((y[nonzero] - y_hat[nonzero]) / y[nonzero])))


def smape_rows(y: np.ndarray, y_hat: np.ndarray, *, mask: np.ndarray | None = None) -> np.ndarray:
    """sMAPE along the last axis (one value per row of a 2-D array); with ``mask``, the
    mean over the masked-in steps of each row (NaN for a row with none)."""
    denom = np.abs(y) + np.abs(y_hat)
    ratio = np.divide(
        np.abs(y - y_hat), denom, out=np.zeros_like(denom, dtype=float), where=denom != 0
    )
    if mask is None:
        return 200 * ratio.mean(axis=-1)
    keep = np.broadcast_to(np.asarray(mask, dtype=bool), ratio.shape)
    count = keep.sum(axis=-1)
    total = np.where(keep, ratio, 0.0).sum(axis=-1)
    return 200 * np.divide(total, count, out=np.full(count.shape, np.nan), where=count > 0)


def smape(y: np.ndarray, y_hat: np.ndarray, *, mask: np.ndarray | None = None) -> float:
    y, y_hat = _kept(y, y_hat, mask)
    return float(smape_rows(np.asarray(y, dtype=float), np.asarray(y_hat, dtype=float)))


def mase_scale(y_train: np.ndarray, season_length: int, *, mask: np.ndarray | None = None) -> float:
    """Mean absolute seasonal difference of the training series (the naive error).

    With ``mask`` (True = open), only differences between two open steps count: a closed
    step's zero says nothing about how the series moves, and a closed day would otherwise
    add a jump on either side of it.
    """
    lag = season_length if len(y_train) > season_length else 1
    if len(y_train) <= lag:
        return float("nan")
    diffs = np.abs(y_train[lag:] - y_train[:-lag])
    if mask is not None:
        keep = np.asarray(mask, dtype=bool)
        diffs = diffs[keep[lag:] & keep[:-lag]]
        if not len(diffs):
            return float("nan")
    return float(np.mean(diffs))


def mase(
    y: np.ndarray,
    y_hat: np.ndarray,
    y_train: np.ndarray,
    season_length: int,
    *,
    mask: np.ndarray | None = None,
    train_mask: np.ndarray | None = None,
) -> float:
    """MAE (on ``mask``'s steps) over the naive error of ``y_train`` (on ``train_mask``'s)."""
    scale = mase_scale(y_train, season_length, mask=train_mask)
    if not np.isfinite(scale) or scale == 0:
        return float("nan")
    return mae(y, y_hat, mask=mask) / scale


def all_metrics(
    y: np.ndarray,
    y_hat: np.ndarray,
    y_train: np.ndarray,
    season_length: int,
    *,
    mask: np.ndarray | None = None,
    train_mask: np.ndarray | None = None,
) -> dict[str, float]:
    """Every metric for one series' forecast; the masks leave out closed steps."""
    return {
        "mae": mae(y, y_hat, mask=mask),
        "rmse": rmse(y, y_hat, mask=mask),
        "mape": mape(y, y_hat, mask=mask),
        "smape": smape(y, y_hat, mask=mask),
        "mase": mase(y, y_hat, y_train, season_length, mask=mask, train_mask=train_mask),
    }
