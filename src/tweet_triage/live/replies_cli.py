"""`tweet-triage triage x connect|status|disconnect` and `triage outbox run|status`.

`x connect` works on a headless host: it prints X's authorize URL, the admin opens it in any
browser, approves, and pastes back the URL the browser was sent to (the inbox's /x/callback,
which need not be reachable from that browser: only its query string is read).
"""

from __future__ import annotations

import threading
from typing import Annotated

import typer

from tweet_triage.config import load_settings
from tweet_triage.logs import configure_logging

x_app = typer.Typer(no_args_is_help=True, help="The mission's X account the team answers as.")
outbox_app = typer.Typer(no_args_is_help=True, help="The reply outbox and its worker.")


def _store():  # -> TriageStore (imported lazily, like the other triage commands)
    from tweet_triage.live.store import TriageStore

    store = TriageStore.from_settings(load_settings())
    store.migrate()
    return store


@x_app.command("connect")
def x_connect(
    redirect_uri: Annotated[
        str | None,
        typer.Option(help="Callback URL registered for the X app; default X_REDIRECT_URI."),
    ] = None,
) -> None:
    """Connect the account: open the printed URL, approve, paste back where X sent you."""
    from tweet_triage.live.replies.x_connection import x_account

    settings = load_settings()
    account = x_account(settings, _store())
    pending = account.begin_connect(redirect_uri or settings.x_redirect_uri)
    typer.echo(
        "1. Open this URL in a browser signed in to X as the account the team answers as, "
        "and authorize the app:\n\n"
        f"   {pending.authorize_url}\n\n"
        f"2. X then sends the browser to {pending.redirect_uri}?state=...&code=... (a page "
        "that may not load from here; that is fine). Copy that whole address from the "
        "browser's address bar and paste it below within 30 seconds (X's codes expire).",
        err=True,
    )
    redirect = typer.prompt("redirect URL", err=True).strip()
    tokens = account.finish_connect(pending, redirect)
    typer.echo(
        f"connected as @{tokens.username} (scopes: {tokens.scope}); tokens sealed in the triage "
        "store, refreshed before they expire"
    )


@x_app.command("status")
def x_status() -> None:
    """Connected as @name, expired, revoked or not connected (exit 1 unless connected)."""
    from tweet_triage.live.replies.x_account import ConnectionState
    from tweet_triage.live.replies.x_connection import describe_connection, x_account

    account = x_account(load_settings(), _store())
    typer.echo(describe_connection(account))
    if account.state() is not ConnectionState.CONNECTED:
        raise typer.Exit(1)


@x_app.command("disconnect")
def x_disconnect() -> None:
    """Revoke the account's tokens at X and forget them; replies wait until reconnected."""
    from tweet_triage.live.replies.x_connection import disconnect, x_account

    typer.echo(disconnect(x_account(load_settings(), _store())))


@outbox_app.command("run")
def outbox_run(
    once: Annotated[bool, typer.Option("--once", help="Send what is due now, then exit.")] = False,
) -> None:
    """Send queued replies to X until SIGTERM or Ctrl-C (a supervised service of triage-up)."""
    from tweet_triage.live.outbox_worker import OutboxWorker, drain
    from tweet_triage.live.replies.x_connection import x_account, x_poster
    from tweet_triage.live.services import outbox_stats_path
    from tweet_triage.signals import stop_on_signals

    settings = load_settings()
    configure_logging(settings)
    store = _store()
    poster = x_poster(settings, x_account(settings, store))
    try:
        if once:
            typer.echo(f"outbox: {drain(store, poster)} reply(ies) handled")
            return
        with stop_on_signals(threading.Event()) as stop:
            stats = OutboxWorker(
                store,
                poster,
                poll_seconds=settings.triage_outbox_poll_seconds,
                stop=stop,
                stats_path=outbox_stats_path(settings),
            ).run()
    finally:
        poster.close()
    typer.echo(
        f"outbox worker stopped: {stats.handled} reply(ies) handled, {stats.errors} error(s)"
    )


@outbox_app.command("status")
def outbox_status() -> None:
    """Replies by delivery status, and the X account's connection."""
    from tweet_triage.config import SettingsError
    from tweet_triage.live.replies.x_connection import describe_connection, x_account

    settings = load_settings()
    store = _store()
    counts = store.reply_counts()
    typer.echo(
        ", ".join(f"{status}: {count}" for status, count in sorted(counts.items())) or "no replies"
    )
    try:
        typer.echo(f"X account: {describe_connection(x_account(settings, store))}")
    except SettingsError as exc:
        typer.echo(f"X account: {exc}")


def register(app: typer.Typer) -> None:
    app.add_typer(x_app, name="x")
    app.add_typer(outbox_app, name="outbox")
