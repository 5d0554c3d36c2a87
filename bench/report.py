"""How long the comparison report takes over a year of a 500-rep org, next to hand-written SQL.

    python -m bench.report [--meetings 250000] [--participants 22] [--own-rates 10]
                           [--database-url URL [--keep-schema NAME]] [--keep-sqlite PATH]

Builds the year with bulk inserts (SQLite: executemany in large transactions; PostgreSQL: COPY)
straight into `meetings` and `participant_attendance`, then counts each meeting's attendance onto
its row (what the worker does as it writes each record). Then, in the same run and interleaved, it times
the report (`ComparisonReporter.build`, group_by=kind, the whole year) and two hand-written SQL
aggregates of the same figures: over the same tables the report reads (the target's baseline), and
over every participant row (what the report would cost without those counts). It prints the
medians and the ratio (SPEC target: report < 1 s and <= 2x the hand-written query); all three must
agree to the integer, or the run fails. Other groupings are timed too, for information.

SQLite (a temp file) by default; `--database-url postgresql://...` runs on PostgreSQL instead, in
a schema of its own dropped afterwards (`--keep-schema NAME`: built in that schema if it does not
exist yet, reused if it does, and kept).
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Connection, create_engine, text

from service.logging import configure_logging
from service.storage import attendance_repo, report_repo
from service.storage.database import Database, create_database_engine, upgrade_database
from service.storage.report_repo import GroupSums
from service.usecases.comparison_report import ComparisonReporter, CostRates

REPS = 500
YEAR = 2026
TIMEZONE = "Europe/Berlin"
AS_OF = datetime(YEAR + 1, 1, 1, tzinfo=UTC)


def cost_rates(people_with_own_rate: int) -> CostRates:
    """85/h by default; the first reps (sales leaders) at a rate of their own."""
    own = {f"rep{i:03d}@acme.example": 150.0 + i for i in range(people_with_own_rate)}
    return CostRates(default=85.0, currency="EUR", overrides=own)


RUNS = 5

MEETING_COLUMNS = (
    "id, origin, title, kind, kind_derived, start_at, end_at, duration_minutes, timezone, "
    "organizer_email, provider, provider_meeting_id, provider_instance, provider_extra, status, "
    "provider_attempts, actual_start, actual_end, completeness, attendance_dirty, reconcile_attempts, "
    "created_at, updated_at"
)
PARTICIPANT_COLUMNS = (
    "meeting_id, participant_key, email, name, classification, invited, attended_seconds, attended, "
    "first_join, last_leave, late_seconds, sessions"
)


class Generator:
    """A deterministic year: meetings in working hours, 60% customer, ~5% cancelled, ~7% no data."""

    def __init__(self, meetings: int, participants: int, seed: int = 7) -> None:
        self.meetings = meetings
        self.participants = participants
        self.random = random.Random(seed)

    def batches(
        self, size: int = 2000
    ) -> Iterator[tuple[list[tuple[object, ...]], list[tuple[object, ...]]]]:
        rnd = self.random
        year_start = datetime(YEAR, 1, 1, 7, tzinfo=UTC)
        meeting_rows: list[tuple[object, ...]] = []
        people_rows: list[tuple[object, ...]] = []
        for n in range(self.meetings):
            start = year_start + timedelta(days=rnd.randrange(365), minutes=15 * rnd.randrange(40))
            minutes = rnd.choice((15, 30, 30, 45, 60, 60, 90))
            customer = rnd.random() < 0.6
            organizer = f"rep{rnd.randrange(REPS):03d}@acme.example"
            cancelled = rnd.random() < 0.05
            recorded = not cancelled and rnd.random() < 0.93
            meeting_id = str(uuid.UUID(int=rnd.getrandbits(128), version=4))
            actual_start = actual_end = None
            if recorded:
                actual_start = start + timedelta(seconds=rnd.randrange(-120, 600))
                actual_end = actual_start + timedelta(
                    seconds=max(60, minutes * 60 + rnd.randrange(-900, 1200))
                )
            meeting_rows.append(
                (
                    meeting_id,
                    "api",
                    f"Meeting {n}",
                    "customer" if customer else "internal",
                    True,
                    start,
                    start + timedelta(minutes=minutes),
                    minutes,
                    TIMEZONE,
                    organizer,
                    rnd.choice(("zoom", "teams", "meet")),
                    str(n),
                    "",
                    "{}",
                    "cancelled" if cancelled else "ended",
                    "[]",
                    actual_start,
                    actual_end,
                    "reconciled",
                    False,
                    0,
                    start - timedelta(days=7),
                    start,
                )
            )
            if recorded:
                assert actual_start is not None and actual_end is not None
                span = int((actual_end - actual_start).total_seconds())
                count = max(2, round(rnd.gauss(self.participants, self.participants / 3)))
                for p in range(count):
                    internal = p == 0 or not customer or rnd.random() < 0.4
                    email = (
                        organizer
                        if p == 0
                        else f"rep{rnd.randrange(REPS):03d}@acme.example"
                        if internal
                        else f"buyer{rnd.randrange(50_000)}@customer{rnd.randrange(5_000)}.example"
                    )
                    came = rnd.random() < 0.85
                    seconds = rnd.randrange(60, span + 1) if came else rnd.randrange(0, 60)
                    joined = actual_start + timedelta(seconds=rnd.randrange(0, max(1, span - seconds)))
                    left = joined + timedelta(seconds=seconds)
                    people_rows.append(
                        (
                            meeting_id,
                            f"{email}#{p}",  # one row per participant, as the engine keys them
                            email,
                            f"Person {p}",
                            "internal" if internal else "external",
                            rnd.random() < 0.8,
                            seconds,
                            came,
                            joined,
                            left,
                            max(0, int((joined - start).total_seconds())),
                            f'[["{joined.isoformat()}", "{left.isoformat()}"]]',
                        )
                    )
            if len(meeting_rows) >= size:
                yield meeting_rows, people_rows
                meeting_rows, people_rows = [], []
        if meeting_rows:
            yield meeting_rows, people_rows


def _sqlite_value(value: object) -> object:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")  # how UtcDateTime stores it
    if isinstance(value, bool):
        return int(value)
    return value


def _copy_value(value: object) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return "t" if value else "f"
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def load(db: Database, generator: Generator) -> tuple[int, int]:
    meetings = people = 0
    raw = db.engine.raw_connection()
    try:
        driver = raw.driver_connection
        assert driver is not None
        cursor = raw.cursor()
        if db.dialect == "sqlite":
            cursor.execute("PRAGMA cache_size=-1000000")
        for meeting_rows, people_rows in generator.batches():
            if db.dialect == "sqlite":
                for table, columns, rows in (
                    ("meetings", MEETING_COLUMNS, meeting_rows),
                    ("participant_attendance", PARTICIPANT_COLUMNS, people_rows),
                ):
                    marks = ", ".join("?" * len(columns.split(",")))
                    cursor.execute("BEGIN")
                    cursor.executemany(
                        f"INSERT INTO {table} ({columns}) VALUES ({marks})",
                        [tuple(_sqlite_value(v) for v in row) for row in rows],
                    )
                    cursor.execute("COMMIT")
            else:
                for table, columns, rows in (
                    ("meetings", MEETING_COLUMNS, meeting_rows),
                    ("participant_attendance", PARTICIPANT_COLUMNS, people_rows),
                ):
                    buffer = io.StringIO()
                    for row in rows:
                        buffer.write("\t".join(_copy_value(v) for v in row) + "\n")
                    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                        copy.write(buffer.getvalue())
                driver.commit()
            meetings += len(meeting_rows)
            people += len(people_rows)
        cursor.close()
    finally:
        raw.close()
    began = time.perf_counter()
    with db.write() as conn:
        attendance_repo.count_attendance(conn)  # what the worker does record by record
    print(f"attendance of every meeting counted in {time.perf_counter() - began:.1f} s")
    with db.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.exec_driver_sql("ANALYZE" if db.dialect == "sqlite" else "VACUUM ANALYZE")
    return meetings, people


def _seconds(dialect: str) -> Callable[[str, str], str]:
    if dialect == "postgresql":
        return lambda later, earlier: f"CAST(round(extract(epoch FROM {later} - {earlier})) AS BIGINT)"
    return lambda later, earlier: (
        f"CAST(round((julianday({later}) - julianday({earlier})) * 86400) AS BIGINT)"
    )


def _rate_case(rates: CostRates, column: str, minus_default: bool = False) -> str:
    default = round(rates.default * 100)
    cases = " ".join(
        f"WHEN '{email}' THEN {round(r * 100) - (default if minus_default else 0)}"
        for email, r in rates.overrides.items()
    )
    return f"CASE {column} {cases} ELSE {0 if minus_default else default} END"


def _meeting_figures(dialect: str, sources: str, c: dict[str, str]) -> str:
    """The per-kind sums over `sources` (meetings as m, with `c` naming each meeting's counts)."""
    seconds = _seconds(dialect)
    actual = seconds("m.actual_end", "m.actual_start")
    held = f"m.status <> 'cancelled' AND {c['attended']} > 0"
    span = f"{held} AND m.actual_start IS NOT NULL AND m.actual_end IS NOT NULL"
    due = "m.status <> 'cancelled' AND m.end_at <= :as_of AND m.kind = 'customer'"
    passed = "m.status <> 'cancelled' AND m.end_at <= :as_of"
    return f"""
SELECT m.kind AS kind,
  sum(CASE WHEN m.status <> 'cancelled' THEN 1 ELSE 0 END),
  sum(CASE WHEN m.status = 'cancelled' THEN 1 ELSE 0 END),
  sum(CASE WHEN {held} THEN 1 ELSE 0 END),
  sum(CASE WHEN m.status <> 'cancelled' THEN m.duration_minutes * 60 ELSE 0 END),
  sum(CASE WHEN {span} THEN 1 ELSE 0 END),
  sum(CASE WHEN {span} THEN {actual} ELSE 0 END),
  sum(CASE WHEN {span} AND m.origin = 'api' THEN 1 ELSE 0 END),
  sum(CASE WHEN {span} AND m.origin = 'api' THEN {actual} - m.duration_minutes * 60 ELSE 0 END),
  sum(CASE WHEN {held} AND m.origin = 'api' AND m.actual_start IS NOT NULL THEN 1 ELSE 0 END),
  sum(CASE WHEN {held} AND m.origin = 'api' AND m.actual_start IS NOT NULL
      THEN {seconds("m.actual_start", "m.start_at")} ELSE 0 END),
  sum(CASE WHEN {held} THEN {c["attended"]} ELSE 0 END),
  sum(CASE WHEN {held} THEN {c["att_int"]} ELSE 0 END),
  sum(CASE WHEN {held} THEN {c["att_ext"]} ELSE 0 END),
  sum(CASE WHEN {passed} THEN {c["invited"]} ELSE 0 END),
  sum(CASE WHEN {passed} THEN {c["invited_att"]} ELSE 0 END),
  sum(CASE WHEN {due} THEN 1 ELSE 0 END),
  sum(CASE WHEN {due} AND {c["att_ext"]} = 0 THEN 1 ELSE 0 END),
  sum(CASE WHEN {due} AND {c["att_int"]} = 0 THEN 1 ELSE 0 END),
  sum(CASE WHEN m.status <> 'cancelled' THEN {c["int_s"]} ELSE 0 END),
  sum(CASE WHEN m.status <> 'cancelled' THEN {c["int_cost"]} ELSE 0 END) AS int_cost
FROM {sources}
WHERE m.start_at >= :start AND m.start_at < :end AND m.status NOT IN ('creating', 'failed')
GROUP BY m.kind
"""


def hand_written_over_participants(dialect: str, rates: CostRates) -> str:
    """The aggregate a person would write over the participant rows alone: every row is read."""
    rate = _rate_case(rates, "pa.email")
    names = ("attended", "att_int", "att_ext", "invited", "invited_att", "int_s", "int_cost")
    counts = {n: f"coalesce(p.{n}, 0)" for n in names}
    return f"""
WITH p AS (
  SELECT m.id AS meeting_id,
    sum(CASE WHEN pa.attended THEN 1 ELSE 0 END) AS attended,
    sum(CASE WHEN pa.attended AND pa.classification = 'internal' THEN 1 ELSE 0 END) AS att_int,
    sum(CASE WHEN pa.attended AND pa.classification = 'external' THEN 1 ELSE 0 END) AS att_ext,
    sum(CASE WHEN pa.invited THEN 1 ELSE 0 END) AS invited,
    sum(CASE WHEN pa.invited AND pa.attended THEN 1 ELSE 0 END) AS invited_att,
    sum(CASE WHEN pa.classification = 'internal' THEN pa.attended_seconds ELSE 0 END) AS int_s,
    sum(CASE WHEN pa.classification = 'internal' THEN CAST(pa.attended_seconds AS BIGINT) * {rate}
        ELSE 0 END) AS int_cost
  FROM meetings m JOIN participant_attendance pa ON pa.meeting_id = m.id
  WHERE m.start_at >= :start AND m.start_at < :end AND m.status NOT IN ('creating', 'failed')
  GROUP BY m.id
)
{_meeting_figures(dialect, "meetings m LEFT JOIN p ON p.meeting_id = m.id", counts)}"""


def _counts_on_meeting_rows(internal_cost: str) -> dict[str, str]:
    """The attendance counts the meeting rows carry, and how the internal cost is summed."""
    return {
        "attended": "m.attended_count",
        "att_int": "m.attended_internal_count",
        "att_ext": "m.attended_external_count",
        "invited": "m.invited_count",
        "invited_att": "m.invited_attended_count",
        "int_s": "m.internal_attended_seconds",
        "int_cost": internal_cost,
    }


def hand_written_over_same_tables(dialect: str, rates: CostRates) -> str:
    """The same over what the report reads, as a person would write it in one statement: the
    meetings summed per kind with the attendance counts on their rows (every condition spelled out
    in each sum), plus the time of the people with their own rate, repriced per kind from their
    rows (found by e-mail, joined to their meetings)."""
    default = round(rates.default * 100)
    emails = ", ".join(f"'{e}'" for e in rates.overrides)
    counts = _counts_on_meeting_rows(f"m.internal_attended_seconds * {default}")
    return f"""
WITH figures AS ({_meeting_figures(dialect, "meetings m", counts)}),
extra AS (
  SELECT m.kind AS kind,
    sum(CAST(pa.attended_seconds AS BIGINT) * {_rate_case(rates, "pa.email", minus_default=True)}) AS cost
  FROM participant_attendance pa JOIN meetings m ON m.id = pa.meeting_id
  WHERE pa.email IN ({emails}) AND pa.classification = 'internal'
    AND m.start_at >= :start AND m.start_at < :end AND m.status NOT IN ('creating', 'failed', 'cancelled')
  GROUP BY m.kind
)
SELECT figures.*, coalesce(extra.cost, 0) FROM figures LEFT JOIN extra ON extra.kind = figures.kind"""


def hand_written_over_same_tables_per_meeting(dialect: str, rates: CostRates) -> str:
    """The previous baseline (for information): the repriced time summed per meeting and joined to
    each meeting, which costs a lookup per meeting."""
    default = round(rates.default * 100)
    emails = ", ".join(f"'{e}'" for e in rates.overrides)
    counts = _counts_on_meeting_rows(f"m.internal_attended_seconds * {default} + coalesce(extra.cost, 0)")
    return f"""
WITH extra AS (
  SELECT pa.meeting_id,
    sum(CAST(pa.attended_seconds AS BIGINT) * {_rate_case(rates, "pa.email", minus_default=True)}) AS cost
  FROM participant_attendance pa
  WHERE pa.email IN ({emails}) AND pa.classification = 'internal'
  GROUP BY pa.meeting_id
)
{_meeting_figures(dialect, "meetings m LEFT JOIN extra ON extra.meeting_id = m.id", counts)}"""


def run_hand_written(conn: Connection, sql: str, start: datetime, end: datetime) -> dict[str, GroupSums]:
    if conn.dialect.name == "sqlite":
        params: dict[str, object] = {
            k: _sqlite_value(v) for k, v in (("start", start), ("end", end), ("as_of", AS_OF))
        }
    else:
        params = {"start": start, "end": end, "as_of": AS_OF}
    rows = conn.execute(text(sql), params).all()
    return {row[0]: _sums(row[1:]) for row in rows}


def _sums(figures: Sequence[object]) -> GroupSums:
    """A row's figures in `GroupSums` order; a last figure beyond them is cost added to the last."""
    numbers = [int(v) for v in figures]  # type: ignore[call-overload]
    if len(numbers) > len(GroupSums.__dataclass_fields__):
        extra = numbers.pop()
        numbers[-1] += extra
    return GroupSums(*numbers)


def measure(db: Database, rates: CostRates) -> None:
    reporter = ComparisonReporter(db, timezone=TIMEZONE, rates=rates, clock=lambda: AS_OF)
    request = reporter.parse(f"{YEAR}-01-01", f"{YEAR}-12-31", "kind")
    baselines = {
        "hand-written SQL, same tables": hand_written_over_same_tables(db.dialect, rates),
        "hand-written SQL, cost joined per meeting": hand_written_over_same_tables_per_meeting(
            db.dialect, rates
        ),
        "hand-written SQL, participant rows": hand_written_over_participants(db.dialect, rates),
    }

    def hand_written(sql: str) -> dict[str, GroupSums]:
        with db.read() as conn:
            return run_hand_written(conn, sql, request.start, request.end)

    with db.read() as conn:  # the report's own figures, before they are divided, to compare exactly
        sums = {str(k[0]): v for k, v in report_repo.comparison_sums(conn, reporter.query(request)).items()}
    for name, sql in baselines.items():
        assert hand_written(sql) == sums, f"the report and the {name} disagree"
    report = reporter.build(request)
    print("meetings:", ", ".join(f"{g.group['kind']}={g.metrics.meetings_scheduled}" for g in report.groups))

    def report_sql() -> object:
        with db.read() as conn:
            return report_repo.comparison_sums(conn, reporter.query(request))

    timings: dict[str, list[float]] = {"report": [], "report's SQL alone": [], **{n: [] for n in baselines}}
    for _ in range(RUNS):  # interleaved, so a noisy neighbour slows all of them alike
        timings["report"].append(timed(lambda: reporter.build(request)))
        timings["report's SQL alone"].append(timed(report_sql))
        for name, sql in baselines.items():
            timings[name].append(timed(lambda sql=sql: hand_written(sql)))  # type: ignore[misc]
    medians = {name: statistics.median(values) for name, values in timings.items()}
    report_s, same_tables_s = medians["report"], medians["hand-written SQL, same tables"]
    verdict = "OK" if report_s < 1.0 and report_s <= 2 * same_tables_s else "MISSED"
    for name, seconds in medians.items():
        print(f"{name + ' (group_by=kind, one year)':<72} {seconds * 1000:8.1f} ms  (median of {RUNS})")
    print(f"{'ratio report / hand-written SQL over the same tables':<72} {report_s / same_tables_s:8.2f}x")
    print(f"target: report < 1 s and <= 2x: {verdict}")
    for group_by in ("kind,week", "kind,month", "provider,organizer"):
        other = reporter.parse(f"{YEAR}-01-01", f"{YEAR}-12-31", group_by)
        elapsed = statistics.median(timed(lambda other=other: reporter.build(other)) for _ in range(3))  # type: ignore[misc]
        print(f"{'report (group_by=' + group_by + ')':<72} {elapsed * 1000:8.1f} ms")


def timed(action: Callable[[], object]) -> float:
    began = time.perf_counter()
    action()
    return time.perf_counter() - began


@contextmanager
def postgres_schema(url: str, kept: str | None = None) -> Iterator[tuple[str, bool]]:
    """A schema's URL, and whether the schema is new: a fresh one dropped afterwards, or `kept`."""
    url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    schema = kept or f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        exists = conn.execute(
            text("SELECT 1 FROM information_schema.schemata WHERE schema_name = :s"), {"s": schema}
        ).first()
        if not exists:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        sep = "&" if "?" in url else "?"
        yield f"{url}{sep}options=-csearch_path%3D{schema}", not exists
    finally:
        if kept is None:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def run(url: str, generator: Generator, rates: CostRates, *, fresh: bool = True) -> None:
    db = Database(create_database_engine(url))
    upgrade_database(db.engine)
    if fresh:
        began = time.perf_counter()
        meetings, people = load(db, generator)
        print(f"loaded {meetings} meetings, {people} participant rows in {time.perf_counter() - began:.0f} s")
    measure(db, rates)
    db.dispose()


def main() -> None:
    configure_logging(json_format=False, level="WARNING")
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--meetings", type=int, default=250_000)
    parser.add_argument("--participants", type=int, default=22, help="average rows per recorded meeting")
    parser.add_argument(
        "--own-rates", type=int, default=10, help="people with an hourly rate of their own (leaders)"
    )
    parser.add_argument("--database-url", default=None, help="PostgreSQL URL (default: a SQLite temp file)")
    parser.add_argument(
        "--keep-schema", default=None, help="with --database-url: build (or reuse) this schema, and keep it"
    )
    parser.add_argument(
        "--keep-sqlite", type=Path, default=None, help="build (or reuse, if it exists) this SQLite file"
    )
    args = parser.parse_args()
    generator = Generator(args.meetings, args.participants)
    rates = cost_rates(args.own_rates)
    if args.database_url:
        with postgres_schema(args.database_url, args.keep_schema) as (url, fresh):
            print(f"postgresql: schema {args.keep_schema}" if args.keep_schema else "postgresql")
            run(url, generator, rates, fresh=fresh)
    elif args.keep_sqlite:
        exists = args.keep_sqlite.exists()
        print(f"sqlite: {args.keep_sqlite}")
        run(f"sqlite:///{args.keep_sqlite}", generator, rates, fresh=not exists)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            print("sqlite")
            run(f"sqlite:///{tmp}/bench.db", generator, rates)


if __name__ == "__main__":
    main()
