"""Answers cached per data version: a hit only for the version they were computed from,
the version re-read at most once per TTL, and kept while the database is away."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from foresight.platform.cache import AppCache, MemoryCache, TieredCache
from foresight.platform.data_version import DataVersion, cached_answer


@pytest.fixture
def cache() -> AppCache:
    return AppCache(TieredCache(MemoryCache()), "shop")


def test_a_hit_needs_the_same_data_version(cache: AppCache) -> None:
    calls: list[int] = []

    def compute() -> dict[str, Any]:
        calls.append(1)
        return {"value": len(calls)}

    assert cached_answer(cache, "k", 60, 1, compute) == {"value": 1, "cached": False}
    assert cached_answer(cache, "k", 60, 1, compute) == {"value": 1, "cached": True}
    assert cached_answer(cache, "k", 60, 2, compute) == {"value": 2, "cached": False}
    assert cached_answer(cache, "k", 60, 2, compute, enabled=False) == {
        "value": 3,
        "cached": False,
    }
    assert len(calls) == 3
    hit = cached_answer(cache, "k", 60, 2, compute)
    hit["value"] = 99  # the caller's copy, not the stored answer
    assert cached_answer(cache, "k", 60, 2, compute)["value"] == 2


def test_the_version_is_reread_after_its_ttl_and_kept_while_the_database_is_away() -> None:
    state: dict[str, Any] = {"version": 1, "away": False, "reads": 0}

    def read() -> int:
        state["reads"] += 1
        if state["away"]:
            raise OperationalError("SELECT", {}, Exception("gone"))
        return int(state["version"])

    version = DataVersion(read, ttl=60)
    assert version.get() == 1
    state["version"] = 2
    assert version.get() == 1 and state["reads"] == 1  # trusted for the TTL
    version.forget()
    assert version.get() == 2
    state["away"] = True
    version.ttl = 0.0  # every get re-reads
    assert version.get() == 2  # the last known version while the database is away
    with pytest.raises(OperationalError):
        DataVersion(read).get()  # nothing known yet: the error is the answer


def test_a_read_that_a_forget_overtook_is_not_kept() -> None:
    versions = iter([1, 2])
    holder: dict[str, DataVersion[int]] = {}

    def read() -> int:
        value = next(versions)
        if value == 1:
            holder["v"].forget()  # new data committed while this read was under way
        return value

    version = holder["v"] = DataVersion(read, ttl=60)
    assert version.get() == 1  # the caller gets what it read...
    assert version.get() == 2  # ...but it was not trusted for the TTL
