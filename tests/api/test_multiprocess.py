"""The production shape: real server processes. ``--workers 2`` sums every worker's
metrics at each scrape; two API processes on one PostgreSQL share jobs, and restarting
one never fails the other's running job (nor makes a client score a batch twice)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from prometheus_client.multiprocess import MultiProcessCollector

from foresight.platform.runtime import Platform
from tests.conftest import make_customers, make_keys, make_settings
from tests.servers import free_port


class ApiProcess:
    """``foresight serve`` in its own process group (so a kill reaches its workers)."""

    def __init__(self, env: dict[str, str], workers: int = 1) -> None:
        self.env, self.workers = env, workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [sys.executable, "-m", "foresight", "serve", "--port", str(self.port)]
        self.proc = subprocess.Popen(
            [*command, "--workers", str(self.workers)],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert self.proc.poll() is None, "the API process exited"
            time.sleep(0.2)
        raise AssertionError("the API did not become ready")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


def _env(platform: Platform, data_dir: Path) -> dict[str, str]:
    settings = platform.settings
    return os.environ | {
        "FORESIGHT_DATA_DIR": str(data_dir),
        "FORESIGHT_DATABASE_URL": settings.resolved_database_url,
        "FORESIGHT_APPS": ",".join(settings.apps),
        "FORESIGHT_SCHEDULER": "false",
        "FORESIGHT_LOG_JSON": "false",
    }


@pytest.fixture
def stopper() -> Iterator[list[ApiProcess]]:
    started: list[ApiProcess] = []
    yield started
    for api in started:
        api.kill()


def _requests_counted(metrics: str, route: str) -> float:
    pattern = rf'^foresight_http_requests_total\{{[^}}]*route="{re.escape(route)}"[^}}]*\}} (\S+)$'
    return sum(float(m) for m in re.findall(pattern, metrics, flags=re.M))


def _requests_in_file(path: Path, route: str) -> float:
    """Requests one worker counted, from its own multiprocess file."""
    return sum(
        sample.value
        for metric in MultiProcessCollector.merge([str(path)])
        for sample in metric.samples
        if sample.name == "foresight_http_requests_total" and sample.labels["route"] == route
    )


def test_metrics_of_two_workers_are_summed_at_every_scrape(
    trained: Platform, stopper: list[ApiProcess]
) -> None:
    api = ApiProcess(_env(trained, trained.settings.data_dir), workers=2)
    stopper.append(api)
    api.start()
    for _ in range(120):  # new connections: the kernel spreads them over both workers
        httpx.get(f"{api.url}/live", timeout=5)
    # Each worker writes its counters to its own file; read them one by one. A request
    # is counted after its response is sent, so the last one may land a moment later.
    deadline = time.monotonic() + 5
    while True:
        files = (trained.settings.data_dir / "prometheus").glob("counter_*.db")
        per_worker = {path.name: _requests_in_file(path, "/live") for path in files}
        answered = [n for n in per_worker.values() if n > 0]
        if sum(answered) >= 120 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(answered) == 2 and sum(answered) >= 120, per_worker  # both workers answered
    scrapes = [httpx.get(f"{api.url}/metrics", timeout=5).text for _ in range(6)]
    counts = [_requests_counted(text, "/live") for text in scrapes]
    # One worker alone answered only its share; every scrape must show all of them.
    assert all(c >= 120 for c in counts), counts
    assert "foresight_churn_high_risk_customers" in scrapes[0]


def test_restarting_one_api_process_leaves_the_others_job_running(
    tmp_path: Path, pg_url: str, stopper: list[ApiProcess]
) -> None:
    platform = Platform.create(make_settings(tmp_path / "setup", database_url=pg_url))
    service = platform.service_of(platform.app("churn").service_class)
    customers = make_customers(400, seed=4)
    service.import_frame(customers, source="t", id_column="account", target_column="left")
    service.train()
    keys = make_keys(platform)
    one = ApiProcess(_env(platform, tmp_path / "one"))
    other = ApiProcess(_env(platform, tmp_path / "other"))
    stopper.extend([one, other])
    one.start()
    other.start()
    rows = 100_000  # tens of seconds of scoring: far longer than a restart
    big = customers.drop(columns=["left"]).sample(rows, replace=True, random_state=1)
    big["account"] = np.char.add("B", np.arange(rows).astype(str))
    csv = pd.DataFrame(big).to_csv(index=False).encode()
    headers = keys["service"] | {"Content-Type": "text/csv"}
    job = httpx.post(
        f"{one.url}/api/v1/churn/predict/batch", content=csv, headers=headers, timeout=60
    ).json()
    status_url = f"{one.url}{job['status_url']}"
    other.kill()  # a crash of the other replica while the job runs ...
    other.start()  # ... and its restart, which recovers stale jobs
    state = httpx.get(status_url, headers=keys["service"], timeout=10).json()
    # Otherwise the job finished before the restart and the test proves nothing.
    assert state["status"] == "running", state
    seen = set()
    deadline = time.monotonic() + 180
    while True:
        state = httpx.get(status_url, headers=keys["service"], timeout=10).json()
        seen.add(state["status"])
        if state["status"] in ("done", "failed") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert "failed" not in seen and state["status"] == "done", state
    assert state.get("error") is None
    assert state["summary"]["scored"] == rows
    platform.close()
