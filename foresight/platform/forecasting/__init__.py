"""The forecasting engine shared by sales, restaurant and pricing (issue 3, in progress).

Built so far: input validation of long-format series (:mod:`.series`) and the accuracy
metrics (:mod:`.metrics`). Models, backtests, ensembles and intervals come next.
"""
