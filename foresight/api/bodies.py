"""Request bodies a route reads itself (the hot predict route, a JSON batch beside a CSV
upload): validated in one pydantic-core pass, and refused the way FastAPI refuses a body.

A body that fails raises FastAPI's ``RequestValidationError``, so the one handler in
``api/errors.py`` answers it (422, field errors, JSON syntax errors with line and column).
A pydantic ``ValidationError`` raised anywhere else is a server bug: a logged 500.
Body size limits (the JSON limit, the upload limit) are spelt by :func:`size_text`.
"""

from __future__ import annotations

from typing import TypeVar

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def parse_body(model: type[M], raw: bytes) -> M:
    """``raw`` (a JSON document) validated as ``model``; a 422 naming the fields if not.

    Example: ``body = parse_body(PredictRequest, await request.body())``.
    """
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False), body=raw) from None


def size_text(n: int) -> str:
    """A byte count as a limit is quoted to a client: ``10 MiB`` or ``65,536 bytes``."""
    return f"{n / 2**20:g} MiB" if n >= 2**20 else f"{n:,} bytes"
