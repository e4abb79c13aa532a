"""A key revoked anywhere — the CLI, another replica — stops working on a running server
within about a second, not after the 30 s key cache runs out."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from foresight.api.app import create_app
from foresight.cli import app as cli
from foresight.platform.auth import KeyStore, Principal
from foresight.platform.runtime import Platform
from tests.conftest import make_settings


def _refused_within(client: TestClient, headers: dict[str, str], seconds: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if client.get("/api/v1/models", headers=headers).status_code == 401:
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError(f"the revoked key still worked after {seconds} s")


def test_a_key_revoked_with_the_cli_is_refused_by_a_running_server(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    platform = Platform.create(settings)
    plain, principal = platform.keys.create(name="ci", role="analyst")
    headers = {"X-API-Key": plain}
    env = {"FORESIGHT_DATA_DIR": str(tmp_path), "FORESIGHT_APPS": ",".join(settings.apps)}
    with TestClient(create_app(platform)) as client:
        assert client.get("/api/v1/models", headers=headers).status_code == 200  # now cached
        result = CliRunner().invoke(cli, ["keys", "revoke", str(principal.key_id)], env=env)
        assert result.exit_code == 0, result.output
        waited = _refused_within(client, headers, seconds=5.0)
    platform.close()
    assert waited < 3.0  # the watcher polls every second


def test_a_revocation_on_one_replica_reaches_another(tmp_path: Path, pg_url: str) -> None:
    settings = make_settings(tmp_path, database_url=pg_url)
    one, other = Platform.create(settings), Platform.create(settings, migrate_db=False)
    other.keys.watch()  # what the API server's lifespan does
    plain, principal = one.keys.create(name="ci", role="service")
    assert other.keys.verify(plain) == principal  # cached on the other replica
    one.keys.revoke(principal.key_id)
    deadline = time.monotonic() + 5
    while other.keys.verify(plain) is not None:
        assert time.monotonic() < deadline, "the other replica still accepts the revoked key"
        time.sleep(0.05)
    for p in (one, other):
        p.close()


def _watchers() -> int:
    return sum(t.name == "key-watch" and t.is_alive() for t in threading.enumerate())


def test_the_watcher_starts_with_the_server_not_on_a_request(tmp_path: Path) -> None:
    platform = Platform.create(make_settings(tmp_path))
    plain, principal = platform.keys.create(name="ci", role="analyst")
    before = _watchers()
    assert platform.keys.verify(plain) == principal  # a CLI command checking a key
    assert _watchers() == before  # no thread started on the request path
    with TestClient(create_app(platform)):
        assert _watchers() == before + 1
        platform.keys.watch()  # idempotent
        assert _watchers() == before + 1
    platform.close()
    assert _watchers() == before


def test_a_lookup_under_way_during_a_revocation_does_not_cache_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    platform = Platform.create(make_settings(tmp_path))
    keys = platform.keys
    plain, principal = keys.create(name="ci", role="service")
    lookup = keys._lookup

    def revoked_while_looking(key: str) -> Principal | None:
        found = lookup(key)  # read before the revocation commits...
        keys.revoke(principal.key_id)  # ...which lands before the answer is cached
        return found

    monkeypatch.setattr(keys, "_lookup", revoked_while_looking)
    assert keys.verify(plain) == principal  # the request that began before it
    monkeypatch.setattr(keys, "_lookup", lookup)
    assert keys.verify(plain) is None  # not served from a cache for 30 s more
    platform.close()


def test_verify_never_fails_on_an_entry_expiring_or_dropped_meanwhile(tmp_path: Path) -> None:
    """Request threads read the cache while entries expire and the watcher drops it; a
    read must never raise (that would be a 500)."""
    platform = Platform.create(make_settings(tmp_path))
    keys = KeyStore(platform.db, cache_seconds=0.0002, watch_seconds=0)
    plain, principal = keys.create(name="ci", role="service")
    _, revoked = keys.create(name="old", role="service")
    errors: list[BaseException] = []
    stop = threading.Event()

    def dropping() -> None:
        while not stop.is_set():
            keys.revoke(revoked.key_id)  # drops the cache, as the watcher does

    def verifying() -> None:
        try:
            for _ in range(3000):
                assert keys.verify(plain) == principal
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=verifying) for _ in range(3)]
    dropper = threading.Thread(target=dropping)
    for t in (*threads, dropper):
        t.start()
    for t in threads:
        t.join()
    stop.set()
    dropper.join()
    platform.close()
    assert errors == []
