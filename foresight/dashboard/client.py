"""A small HTTP client for the dashboard pages, configured from the environment."""

from __future__ import annotations

import os
from typing import Any

import httpx


class ApiError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status, self.detail = status, detail


class ApiClient:
    def __init__(
        self, base_url: str, key: str | None, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        headers = {"X-API-Key": key} if key else {}
        self.http = httpx.Client(
            base_url=base_url, headers=headers, timeout=30.0, transport=transport
        )

    def _check(self, resp: httpx.Response) -> Any:
        if resp.status_code >= 400:
            try:
                detail = resp.json().get("detail", resp.text)
            except ValueError:
                detail = resp.text
            raise ApiError(resp.status_code, str(detail))
        if resp.headers.get("content-type", "").startswith("application/json"):
            return resp.json()
        return resp.text

    def get(self, path: str, **params: Any) -> Any:
        return self._check(
            self.http.get(path, params={k: v for k, v in params.items() if v is not None})
        )

    def post(
        self,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        content_type: str | None = None,
        **params: Any,
    ) -> Any:
        headers = {"Content-Type": content_type} if content_type else None
        return self._check(
            self.http.post(path, json=json, content=content, headers=headers, params=params or None)
        )


def from_env(key: str | None = None) -> ApiClient:
    """A client for ``FORESIGHT_API_URL`` with ``key`` or ``FORESIGHT_API_KEY``."""
    return ApiClient(
        os.environ.get("FORESIGHT_API_URL", "http://127.0.0.1:8000"),
        key or os.environ.get("FORESIGHT_API_KEY"),
    )
