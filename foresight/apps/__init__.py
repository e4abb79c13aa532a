"""The built-in apps. Each package implements :class:`foresight.platform.apps.App`;
``FORESIGHT_APPS`` names the ones a deployment loads (these by default)."""

BUILT_IN = ("foresight.apps.churn", "foresight.apps.sales")
