"""The built-in apps. Each package implements :class:`foresight.platform.apps.App` and is
announced in the ``foresight.apps`` entry-point group (``pyproject.toml``)."""
