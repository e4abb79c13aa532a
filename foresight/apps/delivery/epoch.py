"""``EpochSeconds``: a stored UTC time as whole epoch seconds, computed by the database
(SQLite and PostgreSQL), for reads of many rows that need no datetime objects; and
``recent_outcomes``, the batch's read of many customers' attempts with it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import BigInteger, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from foresight.apps.delivery.tables import AttemptRow
from foresight.platform.db.engine import Database

IN_CHUNK = 500  # ids per IN (...) list


class EpochSeconds(FunctionElement[int]):
    """A stored UTC time as whole epoch seconds, computed by the database: turning a few
    hundred thousand busy intervals into Python datetimes first costs seconds."""

    type = BigInteger()
    inherit_cache = True


@compiles(EpochSeconds, "sqlite")
def _epoch_sqlite(element: EpochSeconds, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite stores the time as UTC text without a zone; strftime reads it as UTC.
    return f"CAST(strftime('%s', {compiler.process(element.clauses, **kw)}) AS INTEGER)"


@compiles(EpochSeconds, "postgresql")
def _epoch_postgresql(element: EpochSeconds, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"CAST(FLOOR(EXTRACT(EPOCH FROM {column})) AS BIGINT)"


def recent_outcomes(
    db: Database, customer_ids: Sequence[str], *, keep: int
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each customer's newest ``keep`` attempts as (UTC epoch seconds, delivered), oldest
    first: what one answer reads (``attempts_of``), for many customers in a few queries;
    the times come from the database as integers (no datetime objects)."""
    query = select(
        AttemptRow.customer_id, EpochSeconds(AttemptRow.attempted_at), AttemptRow.delivered
    ).order_by(AttemptRow.customer_id, AttemptRow.attempted_at, AttemptRow.event_offset)
    rows: list[Any] = []
    with db.session() as session:
        conn = session.connection()
        ids = sorted(set(customer_ids))
        for start in range(0, len(ids), IN_CHUNK):
            part = ids[start : start + IN_CHUNK]
            rows.extend(conn.execute(query.where(AttemptRow.customer_id.in_(part))).all())
    if not rows:
        return {}
    ids, at, delivered = zip(*rows, strict=True)
    owner = np.array(ids, dtype=object)
    times, outcomes = np.array(at, dtype=np.int64), np.array(delivered, dtype=bool)
    starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    ends = np.r_[starts[1:], len(owner)]
    return {
        str(owner[a]): (times[max(a, b - keep) : b], outcomes[max(a, b - keep) : b])
        for a, b in zip(starts, ends, strict=True)
    }
