"""What `salesmeet demo` prints and how long it serves: the play's progress, a summary of the month
(meetings per provider and kind, what happened in them), what salesmeet wrote back to the emulated
HubSpot, the dashboard URL and the reports key."""

from __future__ import annotations

import threading
from collections import Counter

from rich.console import Console
from rich.table import Table

from sandbox_demo.config import REPORTS_KEY
from sandbox_demo.hubspot import outcomes_line
from sandbox_demo.plan import Outcome
from sandbox_demo.run import DemoOptions, DemoService, PlayResult, demo_service

PROVIDERS = ("zoom", "teams", "meet")
KINDS = ("internal", "customer")


def summary_table(result: PlayResult) -> Table:
    counts = result.counts()
    first, last = result.plan.first_day, result.plan.last_day
    table = Table(title=f"The demo month, {first.isoformat()} to {last.isoformat()}")
    for column in ("provider", "kind", "meetings", "held", "customer no-show", "host no-show", "cancelled"):
        table.add_column(column, justify="left" if column in ("provider", "kind") else "right")
    for provider in PROVIDERS:
        for kind in KINDS:
            row = {o: counts[(provider, kind, o.value)] for o in Outcome}
            total = sum(row.values())
            if total:
                table.add_row(
                    provider,
                    kind,
                    str(total),
                    *(
                        str(row[o])
                        for o in (
                            Outcome.HELD,
                            Outcome.CUSTOMER_NO_SHOW,
                            Outcome.HOST_NO_SHOW,
                            Outcome.CANCELLED,
                        )
                    ),
                )
    table.add_row(
        "all",
        "",
        str(sum(counts.values())),
        *(
            str(sum(v for (_, _, o), v in counts.items() if o == outcome.value))
            for outcome in (Outcome.HELD, Outcome.CUSTOMER_NO_SHOW, Outcome.HOST_NO_SHOW, Outcome.CANCELLED)
        ),
        style="bold",
    )
    return table


def _notes_line(notes: Counter[str]) -> str:
    return ", ".join(f"{count} with {note}" for note, count in sorted(notes.items())) or "none"


def run_demo(options: DemoOptions, *, serve: bool, console: Console | None = None) -> PlayResult | None:
    """Start the service, play the month into a fresh data dir, print the summary; then serve until
    interrupted (`serve`) or stop. Returns the play (None when the data dir was played before)."""
    out = console or Console()
    with demo_service(options) as demo:
        result = None
        if demo.has_meetings():
            out.print(
                f"{options.data_dir} already holds a demo: serving it as it is "
                "(use a new --data-dir to play again)"
            )
        else:
            result = demo.play(progress=lambda message: out.print(f"[dim]… {message}[/dim]"))
            out.print(summary_table(result))
            out.print(f"Also played: {_notes_line(result.notes())}.")
            out.print(
                f"Played in {result.seconds:.1f} s "
                "(HubSpot workflow webhooks and API creates, emulator plays, webhooks, worker, "
                "reconciliation, write-back to HubSpot)."
            )
        _print_access(out, demo, result)
        if serve:
            _serve_until_interrupted(out, demo)
    return result


def _print_access(out: Console, demo: DemoService, result: PlayResult | None) -> None:
    if result is not None:
        url = demo.dashboard_url(result.plan.first_day, result.plan.last_day)
    else:
        url = demo.dashboard_url()
    out.print(f"Dashboard:   {url}")
    if result is not None:
        engagements = sum(result.hubspot_outcomes.values())
        out.print(
            f"HubSpot:     {engagements} meeting engagements written back to the emulated portal "
            f"({outcomes_line(result.hubspot_outcomes)}), one per deal of the {len(result.deals)} "
            "customer meetings booked through its workflow webhook"
        )
    out.print(f"Reports key: {REPORTS_KEY}  (sandbox only; the page asks for it)")
    out.print(f"API:         {demo.url}/docs   data: {demo.options.data_dir}")


def _serve_until_interrupted(out: Console, demo: DemoService) -> None:
    # From here the worker runs in the background, as under `salesmeet serve`.
    demo.runtime.worker.start_in_thread()
    out.print("Serving; press Ctrl-C to stop.")
    stop = threading.Event()
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        out.print("stopped")
