"""Failures a caller can act on. The API layer maps each to one HTTP status, once."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any


class ForesightError(Exception):
    """Base class; ``status`` is the HTTP status the API answers with."""

    status = 400

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidInput(ForesightError):
    """The request or file does not match what is expected; ``details`` names the fields."""

    status = 422


class PayloadTooLarge(ForesightError):
    """The request body or upload is over its size limit; the message says the limit."""

    status = 413


class NotFound(ForesightError):
    status = 404


class ModelNotFound(NotFound):
    """No model (or no such version) is registered under that name."""


class JobNotFound(NotFound):
    pass


class Conflict(ForesightError):
    status = 409


class GateFailed(ForesightError):
    """A candidate did worse than production on the same holdout."""

    status = 409


class NoModelAvailable(ForesightError):
    """Nothing can answer: no model is trained and no fallback exists."""

    status = 503


class ArtifactCorrupted(ForesightError):
    """The stored model file is missing or does not match its checksum."""

    status = 500


class SourceUnavailable(ForesightError):
    """An outside database could not be reached or did not answer in time; retry later."""

    status = 503


class OutsideUnavailable(ForesightError):
    """An outside HTTP service failed, timed out or is behind an open breaker; an app
    usually answers a degraded result instead of passing this on."""

    status = 503


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``known`` to a mistyped ``word``, or
    ``""`` when none is close (for the message of a 404 or 422 on an unknown name)."""
    close = difflib.get_close_matches(word, list(known), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""
