"""One upload reader for every app's batch and import routes.

:func:`receive_upload` streams a CSV — a multipart field ``file`` or a raw ``text/csv``
body — to a temporary file chunk by chunk, so a 200 MiB upload never sits in memory,
and refuses it as soon as it passes the size limit::

    with await receive_upload(request, max_bytes=MAX_UPLOAD_BYTES) as upload:
        frame = await run_in_threadpool(upload.read_frame)  # parsing blocks: off the loop

A background job that reads the file later takes it over with :meth:`Upload.hand_over`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pandas as pd
from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from foresight.api.bodies import size_text
from foresight.platform.csvfile import read_csv
from foresight.platform.errors import InvalidInput, PayloadTooLarge

READ_BYTES = 64 * 1024
MULTIPART_SLACK = 64 * 1024
"""Bytes a multipart body may carry beyond the file: boundaries, part headers, small fields."""
HOW_TO_SEND = (
    "send the CSV as a multipart form field named 'file' (curl -F file=@data.csv) "
    "or as the request body with Content-Type: text/csv (curl --data-binary @data.csv)"
)


@dataclass
class Upload:
    """A received upload in a temporary file; ``close()`` (or ``with``) deletes it,
    unless it was handed over."""

    path: Path
    filename: str | None
    size: int
    owned: bool = True

    def read_frame(self, what: str = "the uploaded CSV file") -> pd.DataFrame:
        """The file as a DataFrame (encoding detected); an unreadable or empty CSV is an
        InvalidInput. Blocking: call it off the event loop."""
        return read_csv(self.path, what)

    def hand_over(self) -> Path:
        """Give the file to a new owner (a job that reads it later and deletes it):
        closing the upload no longer deletes it."""
        self.owned = False
        return self.path

    def close(self) -> None:
        if self.owned:
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> Upload:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _too_large(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the upload is larger than the limit of {size_text(max_bytes)}; "
        "split the file and send the parts as separate requests"
    )


async def receive_upload(
    request: Request, *, max_bytes: int, directory: Path | None = None
) -> Upload:
    """Stream the request's CSV to a temporary file in ``directory`` (default: the
    system's) and return it; an empty, oversized or fieldless upload is an InvalidInput."""
    multipart = request.headers.get("content-type", "").startswith("multipart/form-data")
    declared = request.headers.get("content-length", "")
    # A declared length over the limit is refused before a byte is read.
    if declared.isdigit() and int(declared) > max_bytes + (MULTIPART_SLACK if multipart else 0):
        raise _too_large(max_bytes)
    fd, name = tempfile.mkstemp(prefix="foresight-upload-", suffix=".csv", dir=directory)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as sink:
            if multipart:
                filename, size, blank = await _copy_multipart(request, sink, max_bytes)
            else:
                filename = None
                size, blank = await _copy(request.stream(), sink, max_bytes)
        if blank:
            raise InvalidInput(f"the upload is empty; {HOW_TO_SEND}")
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return Upload(path=path, filename=filename, size=size)


async def _copy(chunks: AsyncIterator[bytes], sink: IO[bytes], max_bytes: int) -> tuple[int, bool]:
    """Write ``chunks`` to ``sink`` up to ``max_bytes``; returns (size, all blank)."""
    size, blank = 0, True
    async for chunk in chunks:
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(max_bytes)
        blank = blank and not chunk.strip()
        # A plain write: 64 KiB into the page cache costs microseconds, less than a
        # thread-pool hop would.
        sink.write(chunk)
    return size, blank


async def _capped(
    chunks: AsyncIterator[bytes], limit: int, max_bytes: int
) -> AsyncGenerator[bytes, None]:
    """``chunks``, refused once more than ``limit`` bytes arrived."""
    seen = 0
    async for chunk in chunks:
        seen += len(chunk)
        if seen > limit:
            raise _too_large(max_bytes)
        yield chunk


async def _file_chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(READ_BYTES):
        yield chunk


async def _copy_multipart(
    request: Request, sink: IO[bytes], max_bytes: int
) -> tuple[str | None, int, bool]:
    """Parse a multipart body (capped while it streams in) and copy its ``file`` field."""
    # The parser is fed a capped stream: ``request.form()`` would spool an oversized
    # body to disk whole before its size could be checked. It is starlette's own parser,
    # ``UploadFile`` parts spooled to temporary files as they arrive.
    stream = _capped(request.stream(), max_bytes + MULTIPART_SLACK, max_bytes)
    parser = MultiPartParser(request.headers, stream, max_files=1, max_fields=20)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        message = f"the multipart upload cannot be read ({exc.message}); {HOW_TO_SEND}"
        raise InvalidInput(message) from None
    try:
        upload: Any = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidInput(
                f"the multipart upload has no file field named 'file'; {HOW_TO_SEND}"
            )
        size, blank = await _copy(_file_chunks(upload), sink, max_bytes)
        return upload.filename, size, blank
    finally:
        await form.close()


def upload_body(json_schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``openapi_extra`` of a route that reads a CSV with :func:`receive_upload`
    (plus a JSON alternative, if given): documents it, and tells the body-size limit
    that this route streams its uploads to disk."""
    content: dict[str, Any] = {
        "text/csv": {"schema": {"type": "string"}},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
                "required": ["file"],
            }
        },
    }
    if json_schema is not None:
        content = {"application/json": {"schema": json_schema}} | content
    return {"requestBody": {"required": True, "content": content}}
