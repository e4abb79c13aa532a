"""LightGBM's prepared single-row C API, for the one-row serving path.

``Booster.predict`` parses parameters and builds a predictor on every call; for one row
that is a large share of the time. ``LGBM_BoosterPredictForMatSingleRowFast`` does that
once (``…FastInit``) and then only predicts. Results are identical to ``Booster.predict``
(checked by the model tests). A prepared config is not shared between threads.
"""

from __future__ import annotations

import ctypes
import threading
from typing import Any

import lightgbm as lgb
import numpy as np
from lightgbm.basic import _LIB, _c_str, _safe_call

PREDICT_RAW, PREDICT_CONTRIB = 1, 3
DTYPE_FLOAT64 = 1


class _Prepared:
    def __init__(self, booster: lgb.Booster, predict_type: int, ncol: int, classes: int) -> None:
        self.handle = ctypes.c_void_p()
        _safe_call(
            _LIB.LGBM_BoosterPredictForMatSingleRowFastInit(
                booster._handle,
                ctypes.c_int(predict_type),
                ctypes.c_int(0),  # start iteration
                ctypes.c_int(-1),  # every iteration, as Booster.predict for our boosters
                ctypes.c_int(DTYPE_FLOAT64),
                ctypes.c_int32(ncol),
                _c_str("num_threads=1"),
                ctypes.byref(self.handle),
            )
        )
        width = classes * (ncol + 1 if predict_type == PREDICT_CONTRIB else 1)
        self.out = np.empty(width, dtype=np.float64)
        self.out_ptr = self.out.ctypes.data_as(ctypes.POINTER(ctypes.c_double))
        self.out_len = ctypes.c_int64(0)

    def __call__(self, row: np.ndarray) -> np.ndarray:
        row = np.ascontiguousarray(row, dtype=np.float64)
        _safe_call(
            _LIB.LGBM_BoosterPredictForMatSingleRowFast(
                self.handle,
                row.ctypes.data_as(ctypes.c_void_p),
                ctypes.byref(self.out_len),
                self.out_ptr,
            )
        )
        return self.out[: self.out_len.value].copy()

    def __del__(self) -> None:
        if self.handle:
            _LIB.LGBM_FastConfigFree(self.handle)


class FastRowPredictor:
    """Raw score and TreeSHAP contributions of one row, with per-thread prepared configs."""

    def __init__(self, booster: lgb.Booster, ncol: int, classes: int = 1) -> None:
        # ``classes``: outputs per row (the number of classes of a multiclass booster).
        self.booster, self.ncol, self.classes = booster, ncol, classes
        self._local = threading.local()

    def _prepared(self, predict_type: int) -> _Prepared:
        cache: dict[int, _Prepared] | None = getattr(self._local, "cache", None)
        if cache is None:
            cache = self._local.cache = {}
        prepared = cache.get(predict_type)
        if prepared is None:
            prepared = cache[predict_type] = _Prepared(
                self.booster, predict_type, self.ncol, self.classes
            )
        return prepared

    def raw(self, row: np.ndarray) -> float:
        return float(self._prepared(PREDICT_RAW)(row)[0])

    def raw_all(self, row: np.ndarray) -> np.ndarray:
        """Every raw output of one row (one per class for a multiclass booster)."""
        return self._prepared(PREDICT_RAW)(row)

    def contributions(self, row: np.ndarray) -> np.ndarray:
        """``ncol`` contributions then the expected value (per class, one after the
        other, for a multiclass booster), as ``pred_contrib=True``."""
        return self._prepared(PREDICT_CONTRIB)(row)

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError("FastRowPredictor holds native handles; it is rebuilt, not pickled")
