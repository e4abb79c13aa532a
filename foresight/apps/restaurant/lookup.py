"""The restaurant service of a platform, found through the app: ``service.py`` builds the
parts (kitchen, inventory) and push needs, so importing it from them would be a cycle."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from foresight.apps.restaurant.service import RestaurantService
    from foresight.platform.runtime import Platform

APP = "restaurant"


def restaurant_service(platform: Platform) -> RestaurantService:
    """This platform's restaurant service (created on first use)."""
    service: RestaurantService = platform.service_of(platform.app(APP).service_class)
    return service
