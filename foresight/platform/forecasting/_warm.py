"""Imported by the forkserver: compiles/loads numba code once, so every worker starts warm."""

from foresight.platform.forecasting.local import warm_up

warm_up()
