"""The delivery CLI through Typer's runner: simulate a small world, import it, and read it
back, every number checked against the simulator's own files (pandas, not the app).

The commands run through the ``foresight`` app when the delivery app is installed (its
entry point), otherwise through the same tree built here from the app's own Typer objects.
Either way one platform serves the whole module, so each command skips the start-up.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner, Result

from foresight.apps.delivery.cli import cli, import_delivery, predict_delivery
from foresight.platform.runtime import Platform
from foresight.platform.terminal import PlatformHandle
from tests.conftest import make_settings

NY = ZoneInfo("America/New_York")
PRIOR, SHRINK = 0.7, 2.0  # the default rule's prior and shrinkage (plan §5.1)
runner = CliRunner()


class SharedHandle(PlatformHandle):
    """The module's platform for every command; it outlives each of them."""

    def close(self) -> None:
        pass


def fallback_app() -> typer.Typer:
    """``foresight delivery|import delivery|predict delivery`` as the top-level CLI builds
    them, for a tree where the app is not installed yet."""
    root, imports, predicts = typer.Typer(), typer.Typer(), typer.Typer()
    imports.command("delivery")(import_delivery)
    predicts.command("delivery")(predict_delivery)
    root.add_typer(cli, name="delivery")
    root.add_typer(imports, name="import")
    root.add_typer(predicts, name="predict")
    return root


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A platform with 30 simulated households × 8 weeks imported through the CLI."""
    import foresight.cli as top

    tmp = tmp_path_factory.mktemp("delivery-cli")
    platform = Platform.create(make_settings(tmp / "data", apps=["foresight.apps.delivery"]))
    installed = any(group.name == "delivery" for group in top.app.registered_groups)
    with pytest.MonkeyPatch.context() as patch:
        if installed:
            patch.setattr(top, "PlatformHandle", lambda factory: SharedHandle(lambda: platform))
            app, obj = top.app, None
        else:
            app, obj = fallback_app(), SharedHandle(lambda: platform)

        def run(*args: str) -> Result:
            return runner.invoke(app, list(args), obj=obj, env={"COLUMNS": "250"})

        sim = tmp / "sim"
        simulated = run("delivery", "simulate", str(sim), "--households", "30", "--weeks", "8")
        assert simulated.exit_code == 0, simulated.output
        customers = pd.read_csv(sim / "customers.csv", dtype={"customer_id": str})
        attempts = pd.read_csv(sim / "attempts.csv", dtype={"customer_id": str})
        imported = run(
            "import",
            "delivery",
            str(sim / "customers.csv"),
            "--attempts",
            str(sim / "attempts.csv"),
        )
        yield SimpleNamespace(
            run=run,
            tmp=tmp,
            sim=sim,
            customers=customers,
            attempts=attempts,
            imported=imported,
            simulated=simulated,
            platform=platform,
        )
    platform.close()


def table_rows(output: str) -> list[list[str]]:
    """The body rows of a Rich table as stripped cells."""
    return [
        [cell.strip() for cell in line.split("│")[1:-1]]
        for line in output.splitlines()
        if line.startswith("│")
    ]


def rule_probability(history: pd.DataFrame, start: datetime, end: datetime) -> float:
    """The history rule by hand: the weekday's clock hours the window covers, shrunk to the
    customer's overall rate, that to the prior (attempts all before the window)."""
    local = pd.to_datetime(history["attempted_at"], utc=True).dt.tz_convert(NY)
    delivered = history["delivered"].astype(bool)
    overall = (delivered.sum() + SHRINK * PRIOR) / (len(history) + SHRINK)
    hours = set(range(start.hour, end.hour))
    near = (local.dt.dayofweek == start.weekday()) & local.dt.hour.isin(hours)
    return float((delivered[near].sum() + SHRINK * overall) / (near.sum() + SHRINK))


def next_weekday(weekday: int, hour: int) -> datetime:
    """The next such local weekday at ``hour`` (after every simulated attempt)."""
    today = datetime.now(NY).date() + timedelta(days=1)
    day = today + timedelta(days=(weekday - today.weekday()) % 7)
    return datetime(day.year, day.month, day.day, hour, tzinfo=NY)


def test_every_command_is_there_with_its_help(world: Any) -> None:
    out = world.run("delivery", "--help").output
    for command in ("customers", "attempts", "events", "import", "predict", "rebuild", "simulate"):
        assert re.search(rf"│ {command}\s", out), command
    assert "--attempts" in world.run("import", "delivery", "--help").output
    assert "window_start" in world.run("predict", "delivery", "--help").output
    assert "availability" in world.run("delivery", "predict", "--help").output
    assert "--households" in world.run("delivery", "simulate", "--help").output


def test_simulate_writes_the_same_files_for_the_same_seed(world: Any) -> None:
    again = world.tmp / "again"
    r = world.run("delivery", "simulate", str(again), "--households", "30", "--weeks", "8")
    assert r.exit_code == 0, r.output
    for name in ("customers.csv", "attempts.csv", "households.csv"):
        assert (again / name).read_bytes() == (world.sim / name).read_bytes(), name
    assert len(list((again / "calendars").glob("*.ics"))) > 0
    n = len(world.attempts)
    rate = world.attempts["delivered"].mean()
    assert f"30 customers, {n:,} attempts ({rate:.0%} delivered)" in world.simulated.output
    small = ("--households", "30", "--weeks", "8")
    other = world.run("delivery", "simulate", str(world.tmp / "s2"), *small, "--seed", "9")
    assert other.exit_code == 0, other.output
    changed = (world.tmp / "s2" / "attempts.csv").read_bytes()
    assert changed != (world.sim / "attempts.csv").read_bytes()
    bad = world.run("delivery", "simulate", str(world.tmp / "s3"), "--start", "June")
    assert bad.exit_code == 1 and "--start must be a date" in bad.output


def test_import_records_every_customer_and_attempt(world: Any) -> None:
    out = world.imported.output
    assert world.imported.exit_code == 0, out
    assert "30 rows: 30 created, 0 updated, 0 unchanged" in out
    assert f"{len(world.attempts):,} attempts recorded" in out
    listed = world.run("delivery", "customers", "list", "--limit", "1000")
    counts = {row[0]: int(row[4].replace(",", "")) for row in table_rows(listed.output)}
    expected = world.attempts["customer_id"].value_counts()
    for cid in world.customers["customer_id"]:
        assert counts[cid] == expected.get(cid, 0), cid
    # Imported again: every row is there already, nothing changes.
    again = world.run("delivery", "import", str(world.sim / "customers.csv"))
    assert again.exit_code == 0 and "0 created, 0 updated, 30 unchanged" in again.output


def test_a_bad_file_is_a_clear_error_and_imports_nothing(world: Any) -> None:
    path = world.tmp / "bad.csv"
    path.write_text(
        "customer_id,timezone,address_zone\nn-1,America/New_York,Z01\nn-2,Mars/Base,Z02\n"
    )
    r = world.run("import", "delivery", str(path))
    assert r.exit_code == 1
    assert "row 3" in r.output and "unknown time zone 'Mars/Base'" in r.output
    gone = world.run("delivery", "customers", "show", "n-1")
    assert gone.exit_code == 1 and "no customer 'n-1'" in gone.output
    attempts = world.tmp / "bad-attempts.csv"
    attempts.write_text(
        "customer_id,attempted_at,window_start,window_end,delivered,failure_reason\n"
        "c-00001,2025-02-01T10:00:00,2025-02-01T09:00:00Z,2025-02-01T11:00:00Z,true,\n"
    )
    r = world.run(
        "import", "delivery", str(world.sim / "customers.csv"), "--attempts", str(attempts)
    )
    assert r.exit_code == 1 and "attempted_at" in r.output and "nothing was recorded" in r.output


def test_show_and_attempts_read_the_customer_back(world: Any) -> None:
    cid = world.attempts["customer_id"].value_counts().index[0]  # the busiest customer
    row = world.customers.set_index("customer_id").loc[cid]
    shown = dict(r[:2] for r in table_rows(world.run("delivery", "customers", "show", cid).output))
    assert shown["address_zone"] == row["address_zone"]
    assert shown["household_type"] == row["household_type"]
    assert shown["timezone"] == "America/New_York"
    mine = world.attempts[world.attempts["customer_id"] == cid]
    assert shown["attempts"] == str(len(mine))
    r = world.run("delivery", "attempts", cid, "--limit", "5")
    assert r.exit_code == 0, r.output
    newest = pd.to_datetime(mine["attempted_at"], utc=True).sort_values(ascending=False)[:5]
    rows = table_rows(r.output)
    assert [x[1] for x in rows] == [t.tz_convert(NY).strftime("%Y-%m-%d %H:%M %Z") for t in newest]
    assert f"5 of {len(mine)} attempts" in r.output
    typo = world.run("delivery", "attempts", cid[:-1] + "x")
    assert typo.exit_code == 1 and f"no customer '{cid[:-1]}x'; did you mean" in typo.output


def test_events_are_the_customers_log(world: Any) -> None:
    cid = world.customers["customer_id"].iloc[3]
    r = world.run("delivery", "events", cid, "--limit", "1000")
    assert r.exit_code == 0, r.output
    types = [row[1] for row in table_rows(r.output)]
    assert types[0].endswith("CustomerProfileUpdated")
    attempted = sum(t.endswith("DeliveryAttempted") for t in types)
    assert attempted == int((world.attempts["customer_id"] == cid).sum())
    only = world.run("delivery", "events", cid, "--type", types[0], "--limit", "1000")
    assert {row[1] for row in table_rows(only.output)} == {types[0]}
    bad = world.run("delivery", "events", cid, "--type", "Nope")
    assert bad.exit_code == 1 and "unknown event type 'Nope'" in bad.output


def test_predict_availability_answers_the_history_rule(world: Any) -> None:
    counts = world.attempts["customer_id"].value_counts()
    cid = counts.index[1]
    start = next_weekday(1, 14)  # a Tuesday, 14:00–16:00 local
    end = start + timedelta(hours=2)
    r = world.run("delivery", "predict", "availability", cid, start.isoformat(), end.isoformat())
    assert r.exit_code == 0, r.output
    expected = rule_probability(world.attempts[world.attempts["customer_id"] == cid], start, end)
    assert f"P(delivered) {expected:.1%}" in r.output
    assert f"({counts[cid]} attempts" in r.output and "fallback default" in r.output


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2030-01-01T10:00:00", "2030-01-01T12:00:00-05:00", "needs a UTC offset"),
        ("2030-01-01T12:00:00Z", "2030-01-01T10:00:00Z", "must be after window_start"),
        ("2030-01-01T10:00:00Z", "2030-01-02T12:00:00Z", "a window is 15 min to 24 h long"),
        ("soon", "2030-01-01T12:00:00Z", "window_start"),
    ],
)
def test_predict_availability_says_what_is_wrong(
    world: Any, start: str, end: str, message: str
) -> None:
    r = world.run("delivery", "predict", "availability", "c-00001", start, end)
    assert r.exit_code == 1 and message in r.output.replace("\n", " "), r.output


def test_predict_optimal_time_ranks_windows_as_availability_rates_them(world: Any) -> None:
    cid = world.attempts["customer_id"].value_counts().index[0]
    day = next_weekday(2, 0).date()  # a Wednesday
    r = world.run("delivery", "predict", "optimal-time", cid, day.isoformat(), "--top", "3")
    assert r.exit_code == 0, r.output
    assert "26 windows of 30 min scored" in r.output
    ranked = re.findall(r"^\s+(\d)\. (\S+ \S+) \S+ → (\S+)\s+([\d.]+)%", r.output, re.M)
    assert [int(rank) for rank, *_ in ranked] == [1, 2, 3]
    _, start, end, percent = ranked[0]
    begin = datetime.fromisoformat(start).replace(tzinfo=NY)
    finish = begin.replace(hour=int(end[:2]), minute=int(end[3:]))
    one = world.run(
        "delivery", "predict", "availability", cid, begin.isoformat(), finish.isoformat()
    )
    assert f"P(delivered) {percent}%" in one.output
    bad = world.run("delivery", "predict", "optimal-time", cid, day.isoformat(), "--minutes", "40")
    assert bad.exit_code == 1 and "window_minutes: Input should be a multiple of 15" in bad.output


def test_predict_file_scores_good_rows_and_lists_bad_ones(world: Any) -> None:
    ids = world.customers["customer_id"].iloc[:3].tolist()
    start = next_weekday(3, 18)  # a Thursday, 18:00–19:00 local
    end = start + timedelta(hours=1)
    pairs = pd.DataFrame(
        {
            "customer_id": [*ids, ids[0], "zz-404"],
            "window_start": [start.isoformat()] * 3 + ["2030-01-01T10:00:00", start.isoformat()],
            "window_end": [end.isoformat()] * 5,
        }
    )
    src, out = world.tmp / "pairs.csv", world.tmp / "scored.csv"
    pairs.to_csv(src, index=False)
    r = world.run("predict", "delivery", str(src), "--out", str(out))
    assert r.exit_code == 0, r.output
    assert "3 windows scored" in r.output and "2 rows rejected" in r.output
    scored = pd.read_csv(out)
    assert scored["row"].tolist() == [2, 3, 4] and scored["customer_id"].tolist() == ids
    for cid, p in zip(ids, scored["probability"], strict=True):
        mine = world.attempts[world.attempts["customer_id"] == cid]
        assert p == pytest.approx(rule_probability(mine, start, end), abs=1e-4)
    errors = pd.read_csv(world.tmp / "scored.errors.csv")
    assert errors["row"].tolist() == [5, 6]
    assert "needs a UTC offset" in errors["message"][0] and "zz-404" in errors["message"][1]


def test_create_checks_the_body_and_refuses_a_taken_id(world: Any) -> None:
    args = ["delivery", "customers", "create", "new-1", "--timezone", "Europe/Paris"]
    prefs = '{"preferred": [{"days": ["mon"], "start": "18:00", "end": "20:00"}]}'
    r = world.run(*args, "--zone", "Z05", "--type", "retired", "--preferences", prefs)
    assert r.exit_code == 0 and "customer new-1 created" in r.output, r.output
    shown = dict(
        x[:2] for x in table_rows(world.run("delivery", "customers", "show", "new-1").output)
    )
    assert shown["household_type"] == "retired" and shown["preferred"] == "mon 18:00–20:00"
    taken = world.run(*args, "--zone", "Z05")
    assert taken.exit_code == 1 and "customer 'new-1' exists" in taken.output
    r = world.run(
        "delivery", "customers", "create", "new-2", "--timezone", "Nowhere", "--zone", "Z1"
    )
    assert r.exit_code == 1 and "timezone: unknown time zone 'Nowhere'" in r.output
    r = world.run(*args[:3], "new-3", "--timezone", "UTC", "--zone", "Z1", "--preferences", "{")
    assert r.exit_code == 1 and "--preferences must be JSON" in r.output
    r = world.run(*args[:3], "new-4", "--timezone", "UTC", "--zone", "Z1", "--type", "cat")
    assert r.exit_code == 2 and "'cat' is not one of" in r.output
    r = world.run("delivery", "customers", "list", "--type", "retiree")
    assert r.exit_code == 2 and "'retiree' is not one of" in r.output


def test_rebuild_replays_the_log_into_the_same_tables(world: Any) -> None:
    before = world.run("delivery", "customers", "list", "--limit", "1000").output
    r = world.run("delivery", "rebuild")
    live = len(table_rows(before))
    assert r.exit_code == 0 and f"{live} customer(s) rebuilt" in r.output, r.output
    after = world.run("delivery", "customers", "list", "--limit", "1000").output
    assert table_rows(after) == table_rows(before)
    one = world.run("delivery", "rebuild", "c-00002")
    assert one.exit_code == 0 and "1 customer(s) rebuilt" in one.output
    none = world.run("delivery", "rebuild", "zz-0")
    assert none.exit_code == 1 and "no events for customer 'zz-0'" in none.output
