"""The forecasting engine shared by every forecasting app (docs/forecasting.md).

- :mod:`.series` validates long-format input; :mod:`.metrics` scores forecasts.
- :mod:`.local` (AutoETS, Theta, CES, Prophet per series) and :mod:`.gbm` (one global
  LightGBM/XGBoost model) are the members; :mod:`.baselines` is seasonal naive, also as
  the rule baseline with an interval (``seasonal_naive_path``).
- :mod:`.ensemble` chooses weights on backtests and calibrates conformal intervals.
- :mod:`.closed` handles closed periods (``forecast(…, closed=…)``): zeros there, left
  out of weights and intervals.
- :mod:`.engine` runs it all: ``forecast(series, ForecastConfig(horizon=…))``.
"""
