"""Point-forecast accuracy: MAE, RMSE, MAPE, sMAPE and MASE, per series and averaged.

Definitions follow the M competitions: sMAPE in percent, ``200 * |y - y_hat| / (|y| + |y_hat|)``
(0 when both are 0); MASE scales the error by the in-sample mean absolute seasonal
difference of the training series (lag ``season_length``, falling back to lag 1 when the
series is shorter than two seasons).
"""

from __future__ import annotations

import numpy as np


def mae(y: np.ndarray, y_hat: np.ndarray) -> float:
    return float(np.mean(np.abs(y - y_hat)))


def rmse(y: np.ndarray, y_hat: np.ndarray) -> float:
    return float(np.sqrt(np.mean((y - y_hat) ** 2)))


def mape(y: np.ndarray, y_hat: np.ndarray) -> float:
    """Mean absolute percentage error (%); points where y is 0 are left out."""
    nonzero = y != 0
    if not nonzero.any():
        return float("nan")
    return float(100 * np.mean(np.abs((y[nonzero] - y_hat[nonzero]) / y[nonzero])))


def smape_rows(y: np.ndarray, y_hat: np.ndarray) -> np.ndarray:
    """sMAPE along the last axis (one value per row of a 2-D array)."""
    denom = np.abs(y) + np.abs(y_hat)
    ratio = np.divide(
        np.abs(y - y_hat), denom, out=np.zeros_like(denom, dtype=float), where=denom != 0
    )
    return 200 * ratio.mean(axis=-1)


def smape(y: np.ndarray, y_hat: np.ndarray) -> float:
    return float(smape_rows(np.asarray(y, dtype=float), np.asarray(y_hat, dtype=float)))


def mase_scale(y_train: np.ndarray, season_length: int) -> float:
    """Mean absolute seasonal difference of the training series (the naive error)."""
    lag = season_length if len(y_train) > season_length else 1
    if len(y_train) <= lag:
        return float("nan")
    return float(np.mean(np.abs(y_train[lag:] - y_train[:-lag])))


def mase(y: np.ndarray, y_hat: np.ndarray, y_train: np.ndarray, season_length: int) -> float:
    scale = mase_scale(y_train, season_length)
    if not np.isfinite(scale) or scale == 0:
        return float("nan")
    return mae(y, y_hat) / scale


def all_metrics(
    y: np.ndarray, y_hat: np.ndarray, y_train: np.ndarray, season_length: int
) -> dict[str, float]:
    """Every metric for one series' forecast."""
    return {
        "mae": mae(y, y_hat),
        "rmse": rmse(y, y_hat),
        "mape": mape(y, y_hat),
        "smape": smape(y, y_hat),
        "mase": mase(y, y_hat, y_train, season_length),
    }
