"""The forecasting engine shared by sales, restaurant and pricing (issue 3, in progress).

Built so far: input validation of long-format series (:mod:`.series`), accuracy metrics
(:mod:`.metrics`), the seasonal-naive baseline (:mod:`.baselines`) and rolling-origin
backtests (:mod:`.backtest`). Statistical and LightGBM models, ensemble weights from
backtests, prediction intervals and the CLI come next.
"""
