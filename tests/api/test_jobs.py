"""Job routes (status, paged results, CSV) and the shared upload reader, over HTTP."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from foresight.api.app import create_app
from foresight.api.errors import install_error_handlers
from foresight.api.uploads import receive_upload
from foresight.platform.errors import InvalidInput
from foresight.platform.jobs import JobContext
from foresight.platform.runtime import Platform
from tests.conftest import make_keys

ROWS = [
    {"row": i, "value": i * 2} | ({"note": f"check {i}"} if i % 1000 == 5 else {})
    for i in range(2500)
]
ROW_ERRORS = [{"row": i, "message": f"row {i} is bad"} for i in range(150)]


def emit_rows(ctx: JobContext) -> dict[str, Any]:
    ctx.emit(ROWS[:1200])
    ctx.emit(ROWS[1200:])
    return {"scored": len(ROWS), "errors": ROW_ERRORS}


@pytest.fixture
def client(platform: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(platform)) as c:
        yield c


@pytest.fixture
def headers(platform: Platform) -> dict[str, str]:
    return make_keys(platform)["service"]  # service keys submit batches and read results


@pytest.fixture
def done_job(platform: Platform) -> str:
    job, future = platform.jobs.submit(app="test", kind="emit", fn=emit_rows, total=len(ROWS))
    future.result(timeout=30)
    return job.id


def test_status_shows_progress_and_first_errors_never_results(
    client: TestClient, headers: dict[str, str], done_job: str
) -> None:
    r = client.get(f"/api/v1/jobs/{done_job}", headers=headers)
    assert r.status_code == 200
    body = r.json()
    assert {k: body[k] for k in ("id", "app", "kind", "status", "progress", "total")} == {
        "id": done_job,
        "app": "test",
        "kind": "emit",
        "status": "done",
        "progress": 1.0,
        "total": 2500,
    }
    assert body["summary"] == {"scored": 2500}
    assert body["errors"] == ROW_ERRORS[:100]
    assert body["error_count"] == 150
    assert body["error"] is None
    assert body["results_url"] == f"/api/v1/jobs/{done_job}/results"
    assert body["heartbeat_at"] is not None and body["finished_at"] is not None
    assert "items" not in body and "results" not in body


def test_results_come_in_pages(client: TestClient, headers: dict[str, str], done_job: str) -> None:
    url = f"/api/v1/jobs/{done_job}/results"
    r = client.get(url, params={"offset": 990, "limit": 20}, headers=headers)
    assert r.status_code == 200
    assert r.json() == {
        "job_id": done_job,
        "offset": 990,
        "limit": 20,
        "total": 2500,
        "items": ROWS[990:1010],
    }
    first = client.get(url, headers=headers).json()
    assert (first["limit"], first["items"]) == (1000, ROWS[:1000])
    last = client.get(url, params={"offset": 2000, "limit": 10_000}, headers=headers).json()
    assert last["items"] == ROWS[2000:]
    assert client.get(url, params={"limit": 10_001}, headers=headers).status_code == 422
    assert client.get(url, params={"offset": -1}, headers=headers).status_code == 422


def test_results_stream_as_csv(client: TestClient, headers: dict[str, str], done_job: str) -> None:
    r = client.get(f"/api/v1/jobs/{done_job}/results?format=csv", headers=headers)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"] == f'attachment; filename="test-emit-{done_job}.csv"'
    lines = r.text.splitlines()
    assert len(lines) == 2501
    assert lines[:7] == ["row,value,note", "0,0,", "1,2,", "2,4,", "3,6,", "4,8,", "5,10,check 5"]
    assert lines[-1] == "2499,4998,"
    assert lines[2006] == "2005,4010,check 2005"


def test_results_answer_409_until_the_job_is_done(
    client: TestClient, headers: dict[str, str], platform: Platform
) -> None:
    started, release = threading.Event(), threading.Event()

    def slow(ctx: JobContext) -> dict[str, Any]:
        started.set()
        assert release.wait(10)
        ctx.emit([{"a": 1}])
        return {}

    job, future = platform.jobs.submit(app="test", kind="slow", fn=slow, total=10)
    assert started.wait(10)
    try:
        status = client.get(f"/api/v1/jobs/{job.id}", headers=headers).json()
        assert (status["status"], status["progress"], status["errors"]) == ("running", 0.0, [])
        for params in ({}, {"format": "csv"}):
            r = client.get(f"/api/v1/jobs/{job.id}/results", params=params, headers=headers)
            assert r.status_code == 409
            assert r.json()["detail"] == (
                f"job {job.id} is running (0%); its results can be read once its status is done"
            )
    finally:
        release.set()
    future.result(timeout=10)
    r = client.get(f"/api/v1/jobs/{job.id}/results", headers=headers)
    assert (r.status_code, r.json()["items"], r.json()["total"]) == (200, [{"a": 1}], 1)


def test_failed_job_says_why_in_user_terms_and_has_no_results(
    client: TestClient, headers: dict[str, str], platform: Platform
) -> None:
    def boom(ctx: JobContext) -> dict[str, Any]:
        raise IndexError("index 0 is out of bounds for axis 0 with size 0")

    def refuse(ctx: JobContext) -> dict[str, Any]:
        raise InvalidInput("the uploaded CSV file cannot be parsed: line 7 has 3 fields, not 2")

    job, future = platform.jobs.submit(app="test", kind="boom", fn=boom)
    future.result(timeout=10)
    status = client.get(f"/api/v1/jobs/{job.id}", headers=headers).json()
    internal = (
        f"internal error while running the job (reference {job.id}); "
        "the details are in the server log"
    )
    assert (status["status"], status["error"]) == ("failed", internal)
    r = client.get(f"/api/v1/jobs/{job.id}/results", headers=headers)
    assert r.status_code == 409
    assert r.json()["detail"] == f"job {job.id} failed and has no results: {internal}"

    job, future = platform.jobs.submit(app="test", kind="refuse", fn=refuse)
    future.result(timeout=10)
    status = client.get(f"/api/v1/jobs/{job.id}", headers=headers).json()
    assert status["error"] == "the uploaded CSV file cannot be parsed: line 7 has 3 fields, not 2"


def test_unknown_job_is_404_and_a_key_is_required(
    client: TestClient, headers: dict[str, str], done_job: str
) -> None:
    for url in ("/api/v1/jobs/nope", "/api/v1/jobs/nope/results"):
        r = client.get(url, headers=headers)
        assert (r.status_code, r.json()["detail"]) == (404, "no job with id nope")
    for url in (f"/api/v1/jobs/{done_job}", f"/api/v1/jobs/{done_job}/results"):
        assert client.get(url).status_code == 401


# ---- the upload reader -------------------------------------------------------------------
CSV = b"id,age\nA1,31\nA2,45\nA3,27\n"
EMPTY = (
    "the upload is empty; send the CSV as a multipart form field named 'file' "
    "(curl -F file=@data.csv) or as the request body with Content-Type: text/csv "
    "(curl --data-binary @data.csv)"
)
TOO_LARGE = (
    "the upload is larger than the limit of 64 bytes; "
    "split the file and send the parts as separate requests"
)


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    path = tmp_path / "uploads"
    path.mkdir()
    return path


@pytest.fixture
def uploader(spool: Path) -> Iterator[TestClient]:
    """A tiny app whose one route reads an upload of at most 64 bytes into ``spool``."""
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/upload")
    async def upload(request: Request) -> dict[str, Any]:
        with await receive_upload(request, max_bytes=64, directory=spool) as received:
            frame = received.read_frame()
            return {
                "filename": received.filename,
                "size": received.size,
                "rows": len(frame),
                "columns": [str(c) for c in frame.columns],
                "stored": received.path.read_bytes().decode(),
            }

    with TestClient(app) as c:
        yield c
    assert list(spool.iterdir()) == []  # every temporary file was deleted


def expect(r: Any, status: int, detail: str) -> None:
    assert (r.status_code, r.json()["detail"]) == (status, detail)


def test_upload_reads_a_multipart_file(uploader: TestClient) -> None:
    r = uploader.post("/upload", files={"file": ("people.csv", CSV, "text/csv")})
    assert r.status_code == 200
    assert r.json() == {
        "filename": "people.csv",
        "size": len(CSV),
        "rows": 3,
        "columns": ["id", "age"],
        "stored": CSV.decode(),
    }


def test_upload_reads_a_raw_csv_body_sent_whole_or_chunked(uploader: TestClient) -> None:
    r = uploader.post("/upload", content=CSV, headers={"Content-Type": "text/csv"})
    assert r.status_code == 200
    assert (r.json()["filename"], r.json()["size"], r.json()["rows"]) == (None, len(CSV), 3)
    chunked = uploader.post(
        "/upload", content=iter([CSV[:10], CSV[10:]]), headers={"Content-Type": "text/csv"}
    )
    assert (chunked.status_code, chunked.json()["stored"]) == (200, CSV.decode())


def test_upload_rejects_empty_bodies_and_files(uploader: TestClient) -> None:
    expect(uploader.post("/upload", content=b"", headers={"Content-Type": "text/csv"}), 422, EMPTY)
    expect(
        uploader.post("/upload", content=b" \n\n", headers={"Content-Type": "text/csv"}), 422, EMPTY
    )
    expect(uploader.post("/upload", files={"file": ("empty.csv", b"", "text/csv")}), 422, EMPTY)


def test_upload_rejects_files_over_the_limit(uploader: TestClient) -> None:
    big = CSV * 4  # 104 bytes
    expect(
        uploader.post("/upload", content=big, headers={"Content-Type": "text/csv"}), 413, TOO_LARGE
    )
    # No Content-Length: refused while streaming.
    streamed = uploader.post("/upload", content=iter([big]), headers={"Content-Type": "text/csv"})
    expect(streamed, 413, TOO_LARGE)
    expect(uploader.post("/upload", files={"file": ("big.csv", big, "text/csv")}), 413, TOO_LARGE)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252", "utf-16", "utf-32"])
def test_upload_reads_the_encodings_spreadsheets_write(spool: Path, encoding: str) -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/upload")
    async def upload(request: Request) -> list[dict[str, Any]]:
        with await receive_upload(request, max_bytes=1000, directory=spool) as received:
            return received.read_frame().to_dict("records")  # type: ignore[return-value]

    data = "id,city\nA1,Zürich\nA2,Genève\n".encode(encoding)
    with TestClient(app) as c:
        r = c.post("/upload", files={"file": ("people.csv", data, "text/csv")})
    assert r.status_code == 200, r.text
    assert r.json() == [{"id": "A1", "city": "Zürich"}, {"id": "A2", "city": "Genève"}]
    assert list(spool.iterdir()) == []


def test_upload_in_utf16_without_byte_order_mark_names_the_encoding_to_use(
    uploader: TestClient,
) -> None:
    data = "id,city\nA1,Zürich\n".encode("utf-16-le")
    r = uploader.post("/upload", content=data, headers={"Content-Type": "text/csv"})
    expect(
        r,
        422,
        "the uploaded CSV file looks like UTF-16 or UTF-32 text without a byte-order mark; "
        "save it as UTF-8 (in Excel: 'CSV UTF-8'), or UTF-16 with a byte-order mark",
    )


def test_a_handed_over_upload_outlives_its_request(spool: Path, uploader: TestClient) -> None:
    app = FastAPI()
    kept: list[Path] = []

    @app.post("/keep")
    async def keep(request: Request) -> dict[str, Any]:
        with await receive_upload(request, max_bytes=64, directory=spool) as received:
            kept.append(received.hand_over())
        return {}

    with TestClient(app) as c:
        assert c.post("/keep", content=CSV, headers={"Content-Type": "text/csv"}).status_code == 200
    assert kept[0].read_bytes() == CSV
    kept[0].unlink()  # the new owner deletes it (the fixture checks the spool is empty)


def test_upload_needs_a_file_field_named_file(uploader: TestClient) -> None:
    missing = (
        "the multipart upload has no file field named 'file'; send the CSV as a multipart "
        "form field named 'file' (curl -F file=@data.csv) or as the request body with "
        "Content-Type: text/csv (curl --data-binary @data.csv)"
    )
    r = uploader.post("/upload", files={"document": ("people.csv", CSV, "text/csv")})
    expect(r, 422, missing)
    # A text field called "file" is not a file.
    r = uploader.post("/upload", data={"file": "id,age"}, files={"x": ("x.csv", CSV, "text/csv")})
    expect(r, 422, missing)
