"""`salesmeet`: serve, worker, config check, db upgrade, api-key new, inbox replay, outbox, report."""

from __future__ import annotations

import secrets
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.console import Console
from rich.table import Table
from rich.text import Text

from integrations.registry import DEFAULT_PLUGINS
from service.api.app import create_app
from service.api.reports import ComparisonOut, comparison_reporter, report_csv
from service.bootstrap import Runtime, StartupError, build_runtime
from service.config.errors import ConfigError, ConfigIssue
from service.config.loader import load_config
from service.config.schema import AppConfig, hash_api_key
from service.config.secrets import MissingSecretError, Settings, missing_secrets, redact_url
from service.errors import InvalidInput
from service.logging import configure_logging
from service.storage import crm_repo, inbox_repo
from service.storage.database import Database, create_database_engine, upgrade_database
from service.usecases.comparison_report import METRIC_NAMES, ComparisonReport

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
config_app = typer.Typer(no_args_is_help=True, help="Check the admin config file.")
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
key_app = typer.Typer(no_args_is_help=True, help="API keys.")
inbox_app = typer.Typer(no_args_is_help=True, help="The webhook inbox.")
app.add_typer(config_app, name="config")
app.add_typer(db_app, name="db")
app.add_typer(key_app, name="api-key")
app.add_typer(inbox_app, name="inbox")
outbox_app = typer.Typer(no_args_is_help=True, help="CRM deliveries and the write-back outbox.")
app.add_typer(outbox_app, name="outbox")

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help="Config file (default: $SALESMEET_CONFIG or config/salesmeet.yaml)."),
]


def _print_issues(path: Path, issues: list[ConfigIssue]) -> None:
    typer.echo(f"{path}: {len(issues)} problem(s):", err=True)
    for issue in issues:
        where = f"{path}:{issue.line}" if issue.line else str(path)
        typer.echo(f"  {where}: {issue.location}: {issue.message}", err=True)


def _checked_config(settings: Settings, path: Path) -> AppConfig:
    """The config file, valid and with every secret it needs set; otherwise print why and exit 2."""
    try:
        config = load_config(path)
    except ConfigError as exc:
        _print_issues(path, exc.issues)
        raise typer.Exit(2) from None
    issues = missing_secrets(config, settings)
    if issues:
        _print_issues(path, issues)
        raise typer.Exit(2)
    return config


def _load(config_path: Path | None) -> tuple[Settings, AppConfig]:
    settings = Settings()
    config = _checked_config(settings, config_path or settings.config)
    configure_logging(json_format=settings.log_format == "json", level=settings.log_level)
    return settings, config


def _build(app_config: AppConfig, settings: Settings, sandbox_base_url: str | None = None) -> Runtime:
    """Wire the service and bring its database schema up to date, or exit with the reason."""
    try:
        runtime = build_runtime(app_config, settings, sandbox_base_url=sandbox_base_url)
    except (StartupError, MissingSecretError) as exc:
        typer.echo(f"cannot start: {exc}", err=True)
        raise typer.Exit(2) from None
    upgrade_database(runtime.db.engine)
    return runtime


@config_app.command("check")
def config_check(
    path: Annotated[Path | None, typer.Argument(help="The config file to check.")] = None,
) -> None:
    """Report every mistake in the config file with its place; exit 2 when there is one."""
    settings = Settings()
    target = path or settings.config
    config = _checked_config(settings, target)
    enabled = ", ".join(p.value for p in config.enabled_providers()) or "none"
    crms = f"; crm: {', '.join(config.enabled_crms())}" if config.enabled_crms() else ""
    typer.echo(f"{target}: OK (providers: {enabled}{crms}; {len(config.api_keys)} API key(s))")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database schema to the newest version."""
    settings = Settings()
    engine = create_database_engine(settings.database_url)
    upgrade_database(engine)
    engine.dispose()
    typer.echo(f"database at {redact_url(settings.database_url)} is up to date")


@key_app.command("new")
def api_key_new(
    name: Annotated[str, typer.Argument(help="A name for the key, e.g. hubspot.")],
    scope: Annotated[str, typer.Option("--scope", help="crm, reports or admin.")],
) -> None:
    """Print a new API key once, and the line to add under `api_keys:` in the config file."""
    if scope not in ("crm", "reports", "admin"):
        typer.echo("--scope must be crm, reports or admin", err=True)
        raise typer.Exit(2)
    key = "sm_" + secrets.token_urlsafe(32)
    typer.echo(f"API key (shown once, give it to the caller): {key}")
    typer.echo("Add to the config file under api_keys:")
    typer.echo(f'  - {{name: "{name}", scope: {scope}, hash: "{hash_api_key(key)}"}}')


_PROVIDER_NAMES = ", ".join(name.value for name in DEFAULT_PLUGINS.names())
_REPLAYABLE = ("parked", "done", "all")


@inbox_app.command("replay")
def inbox_replay(
    provider: Annotated[
        str | None, typer.Option(help=f"Only this provider's deliveries ({_PROVIDER_NAMES}).")
    ] = None,
    status: Annotated[str, typer.Option(help="parked (default), done, or all.")] = "parked",
) -> None:
    """Queue stored deliveries again; processing is idempotent, so a replay never double counts."""
    if provider is not None and provider not in DEFAULT_PLUGINS.names():
        typer.echo(f"--provider must be one of: {_PROVIDER_NAMES}", err=True)
        raise typer.Exit(2)
    if status not in _REPLAYABLE:
        typer.echo("--status must be parked, done or all", err=True)
        raise typer.Exit(2)
    settings = Settings()
    db = Database(create_database_engine(settings.database_url))
    with db.write() as conn:
        count = inbox_repo.requeue(
            conn, provider=provider, status=None if status == "all" else status, now=datetime.now(UTC)
        )
    db.dispose()
    typer.echo(f"{count} deliveries queued again; a running worker applies them")


@inbox_app.command("status")
def inbox_status() -> None:
    """Deliveries by status (unresolved, pending, done, parked)."""
    settings = Settings()
    db = Database(create_database_engine(settings.database_url))
    with db.read() as conn:
        counts = inbox_repo.counts_by_status(conn)
    db.dispose()
    for status in (inbox_repo.UNRESOLVED, inbox_repo.PENDING, inbox_repo.DONE, inbox_repo.PARKED):
        typer.echo(f"{status}: {counts.get(status, 0)}")


_CRM_NAMES = ", ".join(DEFAULT_PLUGINS.crms.names())


@outbox_app.command("status")
def outbox_status() -> None:
    """Per CRM: inbound deliveries and write-back items by state, the oldest pending, the last error,
    and the most recently parked deliveries and write-backs with why they were parked."""
    db = Database(create_database_engine(Settings().database_url))
    with db.read() as conn:
        deliveries = crm_repo.delivery_counts(conn)
        names = sorted({crm for crm, _ in deliveries} | set(crm_repo.outbox_crms(conn)))
        summaries = [crm_repo.outbox_summary(conn, name) for name in names]
        parked = {
            name: (
                crm_repo.recent_parked_deliveries(conn, name),
                crm_repo.recent_parked_write_backs(conn, name),
            )
            for name in names
        }
    db.dispose()
    if not summaries:
        typer.echo("no CRM deliveries or write-backs yet")
    for summary in summaries:
        inbound = ", ".join(f"{s} {deliveries.get((summary.crm, s), 0)}" for s in crm_repo.STATES)
        outbound = ", ".join(f"{s} {n}" for s, n in summary.counts.items())
        typer.echo(f"{summary.crm}: deliveries: {inbound}; write-backs: {outbound}")
        if summary.oldest_pending_at is not None:
            typer.echo(f"  oldest pending write-back since {summary.oldest_pending_at.isoformat()}")
        if summary.last_error:
            typer.echo(f"  last error: {crm_repo.error_preview(summary.last_error)}")
        if any(parked[summary.crm]):
            Console().print(_parked_table(summary.crm, *parked[summary.crm]))


def _parked_table(
    crm: str, deliveries: list[crm_repo.ParkedDelivery], write_backs: list[crm_repo.ParkedWriteBack]
) -> Table:
    """The most recent parked items, one row each: an admin fixes the cause, then replays them."""
    table = Table(
        title=f"{crm}: recently parked",
        caption="after a fix: `salesmeet outbox replay` (`--inbound` for deliveries)",
    )
    table.add_column("parked")
    table.add_column("delivery / record", overflow="fold")
    table.add_column("attempts", justify="right")
    table.add_column("at (UTC)", no_wrap=True)
    table.add_column("why", overflow="fold")
    # Text, not str: a CRM's key or message with "[...]" in it is shown as sent, not read as markup.
    for d in deliveries:
        table.add_row(
            "delivery", Text(d.delivery_key), str(d.attempts), _when(d.parked_at), Text(d.error or "")
        )
    for w in write_backs:
        what = Text(f"{w.record_id or '-'} (meeting {w.meeting_id})")
        table.add_row("write-back", what, str(w.attempts), _when(w.parked_at), Text(w.error or ""))
    return table


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S}"


@outbox_app.command("replay")
def outbox_replay(
    crm: Annotated[str | None, typer.Option(help=f"Only this CRM ({_CRM_NAMES}).")] = None,
    state: Annotated[str, typer.Option(help="parked (default), done, or all.")] = "parked",
    inbound: Annotated[
        bool, typer.Option("--inbound", help="Replay the CRM's inbound deliveries instead of write-backs.")
    ] = False,
) -> None:
    """Queue write-backs (or inbound deliveries) again; both are idempotent, so nothing doubles."""
    if crm is not None and crm not in DEFAULT_PLUGINS.crms.names():
        typer.echo(f"--crm must be one of: {_CRM_NAMES}", err=True)
        raise typer.Exit(2)
    if state not in _REPLAYABLE:
        typer.echo("--state must be parked, done or all", err=True)
        raise typer.Exit(2)
    db = Database(create_database_engine(Settings().database_url))
    wanted = None if state == "all" else state
    with db.write() as conn:
        if inbound:
            count = crm_repo.requeue_deliveries(conn, crm=crm, status=wanted, now=datetime.now(UTC))
        else:
            count = crm_repo.requeue_outbox(conn, crm=crm, state=wanted, now=datetime.now(UTC))
    db.dispose()
    what = "deliveries" if inbound else "write-backs"
    typer.echo(f"{count} {what} queued again; a running worker applies them")


@app.command()
def serve(
    config: ConfigOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    worker: Annotated[
        bool | None,
        typer.Option("--worker/--no-worker", help="Run background work in-process (default: on for SQLite)."),
    ] = None,
) -> None:
    """Run the API, webhooks and dashboard (and, on SQLite, the background work)."""
    settings, app_config = _load(config)
    # The sandbox emulators post their webhooks to this very process, wherever it listens.
    local_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104 - compared, not bound
    runtime = _build(app_config, settings, sandbox_base_url=f"http://{local_host}:{port}")
    run_worker = worker if worker is not None else runtime.db.dialect == "sqlite"
    try:
        uvicorn.run(
            create_app(runtime, run_worker=run_worker),
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
        )
    finally:
        runtime.close()


@app.command("worker")
def worker_command(config: ConfigOption = None) -> None:
    """Background work only: inbox processing, attendance, reconciliation (scale-out next to `serve`)."""
    settings, app_config = _load(config)
    runtime = _build(app_config, settings)

    def stop(_signum: int, _frame: object) -> None:
        runtime.worker.stop(timeout=0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        runtime.worker.run_forever()
    finally:
        runtime.close()


def _report_table(report: ComparisonReport) -> Table:
    """One column per group and a total; one row per figure (a long breakdown reads better as CSV)."""
    title = f"{report.start:%Y-%m-%d %H:%M} to {report.end:%Y-%m-%d %H:%M} UTC ({report.timezone})"
    table = Table(title=f"Comparison report, {title}", caption=f"internal_cost in {report.currency}")
    table.add_column("figure")
    for group in report.groups:
        table.add_column(" / ".join(str(v) for v in group.group.values()), justify="right")
    table.add_column("total", justify="right", style="bold")
    for name in METRIC_NAMES:
        values = [getattr(g.metrics, name) for g in report.groups] + [getattr(report.total, name)]
        table.add_row(name, *(_figure(v) for v in values))
    return table


def _figure(value: float | None) -> str:
    if value is None:
        return "-"
    return str(value) if isinstance(value, int) else f"{value:.4f}".rstrip("0").rstrip(".")


@app.command("report")
def report_command(
    start: Annotated[str, typer.Option("--from", help="First day (company time zone) or RFC 3339 instant.")],
    end: Annotated[str, typer.Option("--to", help="Last day (included) or RFC 3339 instant (excluded).")],
    group_by: Annotated[
        str, typer.Option("--group-by", help="Comma-separated: kind, provider, organizer, week, month.")
    ] = "kind",
    output: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
    config: ConfigOption = None,
) -> None:
    """The comparison report (internal vs customer meetings) from the database, as the API gives it."""
    if output not in ("table", "csv", "json"):
        typer.echo("--format must be table, csv or json", err=True)
        raise typer.Exit(2)
    settings = Settings()
    path = config or settings.config
    try:
        app_config = load_config(path)
    except ConfigError as exc:
        _print_issues(path, exc.issues)
        raise typer.Exit(2) from None
    db = Database(create_database_engine(settings.database_url))
    try:
        reporter = comparison_reporter(app_config, db, lambda: datetime.now(UTC))
        report = reporter.build(reporter.parse(start, end, group_by))
    except InvalidInput as exc:
        typer.echo(f"{exc.message}", err=True)
        raise typer.Exit(2) from None
    finally:
        db.dispose()
    if output == "csv":
        typer.echo(report_csv(report), nl=False)
    elif output == "json":
        typer.echo(ComparisonOut.of(report).model_dump_json(by_alias=True, indent=2))
    else:
        Console().print(_report_table(report))


def main() -> None:  # pragma: no cover - the console script entry point
    sys.exit(app())


@app.command("demo")
def demo_command(
    data_dir: Annotated[
        Path, typer.Option("--data-dir", help="The demo's own SQLite file and sandbox credentials.")
    ] = Path("data/demo"),
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port).")] = 8080,
    days: Annotated[int, typer.Option(min=1, max=120, help="How many days up to yesterday to play.")] = 30,
    seed: Annotated[int, typer.Option(help="The same seed plays the same month.")] = 1,
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Keep serving the dashboard after the play.")
    ] = True,
) -> None:
    """Run the service on the sandboxed Zoom, Teams and Meet, play a month of a small sales org
    through the API, the emulators and their webhooks, then serve the dashboard."""
    # Imported here: the demo package drives the emulators, which the service itself never imports.
    from sandbox_demo.command import run_demo  # noqa: PLC0415
    from sandbox_demo.run import DemoError, DemoOptions  # noqa: PLC0415

    configure_logging(json_format=False, level="WARNING")
    options = DemoOptions(data_dir=data_dir, host=host, port=port, days=days, seed=seed)
    try:
        run_demo(options, serve=serve_after)
    except DemoError as exc:
        typer.echo(f"demo failed: {exc}", err=True)
        raise typer.Exit(1) from None
