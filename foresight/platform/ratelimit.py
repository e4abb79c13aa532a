"""Per-key rate limits with the ``limits`` library (memory or Redis storage)."""

from __future__ import annotations

import math
import time

from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter


class RateLimiter:
    def __init__(self, rate: str, storage_uri: str = "memory://", prefix: str = "foresight") -> None:
        self.item = parse(rate)
        self.storage = storage_from_string(storage_uri)
        self.limiter = MovingWindowRateLimiter(self.storage)
        self.prefix = prefix

    def hit(self, identity: str) -> tuple[bool, int]:
        """Count one request; returns (allowed, seconds to wait if not)."""
        if self.limiter.hit(self.item, self.prefix, identity):
            return True, 0
        reset = self.limiter.get_window_stats(self.item, self.prefix, identity).reset_time
        return False, max(1, math.ceil(reset - time.time()))

    def reset(self) -> None:
        self.storage.reset()
