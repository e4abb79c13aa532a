"""The dashboard in a real headless Chromium: the churn page loads data from a live API,
draws its charts and answers a what-if. Needs Debian's chromium (`make test` installs it)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from foresight.cli.run import dashboard_command
from tests.servers import free_port

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.mark.slow
def test_churn_page_in_a_browser(live_api: str, trained, tmp_path: Path) -> None:
    if not os.path.exists(CHROMIUM):
        pytest.fail("chromium is needed: apt-get install -y chromium (make test does this)")
    from playwright.sync_api import sync_playwright

    key, _ = trained.keys.create(name="browser-test", role="analyst")
    port = free_port()
    env = {**os.environ, "FORESIGHT_API_URL": live_api, "FORESIGHT_API_KEY": key}
    proc = subprocess.Popen(
        dashboard_command(port), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(100):
            try:
                httpx.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM,
                args=[
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                ],
            )
            page = browser.new_page(viewport={"width": 1400, "height": 2400})
            page.goto(f"http://127.0.0.1:{port}/churn")
            page.wait_for_selector("text=At-risk customers", timeout=60_000)
            page.wait_for_selector("text=7,043", timeout=30_000)
            page.wait_for_selector("text=What moves this customer", timeout=30_000)
            page.locator(".vega-embed").nth(1).wait_for(timeout=30_000)  # both Vega charts drawn
            page.get_by_text("What if…").click()
            page.wait_for_selector("text=What-if probability", timeout=30_000)
            page.screenshot(path=str(tmp_path / "churn.png"), full_page=True)
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_selector("text=Scheduled tasks", timeout=60_000)
            page.get_by_text("healthy", exact=True).first.wait_for(timeout=30_000)
            page.goto(f"http://127.0.0.1:{port}/models")
            # The button, not the text: a model never checked says "…POST to this URL to
            # check now", which a text match finds first.
            check = page.get_by_role("button", name="Check now", exact=True)
            check.wait_for(timeout=60_000)
            check.click()
            page.wait_for_selector("text=Drift per feature", timeout=60_000)
            page.screenshot(path=str(tmp_path / "models.png"), full_page=True)
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
