"""`tweet-triage triage ...`: the live-triage commands (store, inbox, accounts, API tokens; the
scorer in score_cli, the X account and the reply outbox in replies_cli).

Imports of the web stack and SQLAlchemy happen inside the commands, so the CLI still loads
where only the streamer's core dependencies are installed.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from tweet_triage.config import load_settings

app = typer.Typer(no_args_is_help=True, help="Live triage: the store and the web inbox.")
users_app = typer.Typer(no_args_is_help=True, help="Inbox accounts.")
tokens_app = typer.Typer(no_args_is_help=True, help="API tokens for /api/* and /metrics.")
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")


def _store():  # -> TriageStore (imported lazily)
    from tweet_triage.live.store import TriageStore

    store = TriageStore.from_settings(load_settings())
    store.migrate()
    return store


@app.command()
def migrate() -> None:
    """Create or upgrade the triage store's schema (safe to repeat)."""
    from tweet_triage.live.store import TriageStore, redact_url

    store = TriageStore.from_settings(load_settings())
    revision = store.migrate()
    typer.echo(f"triage store {redact_url(store.url)} is at schema revision {revision}")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address; default TRIAGE_HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Port; default TRIAGE_PORT.")] = None,
    model: Annotated[
        str | None,
        typer.Option(
            help="Model for /api/score: 'champion' or a folder; default TRIAGE_MODEL, the "
            "one the streaming scorer uses."
        ),
    ] = None,
) -> None:
    """Serve the inbox (migrates the store first). Stop with Ctrl-C or SIGTERM."""
    from tweet_triage.live.store import redact_url
    from tweet_triage.live.web.app import InboxConfig, create_app
    from tweet_triage.live.web.scoring import ModelProvider
    from tweet_triage.live.web.server import inbox_server

    settings = load_settings()
    store = _store()
    if not store.users():
        typer.secho(
            "no inbox account yet: create one with `tweet-triage triage users add NAME`",
            fg=typer.colors.YELLOW,
            err=True,
        )
    application = create_app(
        store,
        ModelProvider.from_settings(settings, model or settings.triage_model),
        InboxConfig.from_settings(settings),
    )
    host = host or settings.triage_host
    port = port or settings.triage_port
    typer.echo(f"inbox on http://{host}:{port}/ (store {redact_url(store.url)})", err=True)
    inbox_server(application, host, port).run()


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="User name to log in with.")],
    role: Annotated[
        str | None,
        typer.Option(
            help="admin (manages accounts and tokens) or agent; default: the first "
            "account is the admin, later ones agents."
        ),
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin.")
    ] = False,
    replace: Annotated[
        bool, typer.Option("--replace", help="Set a new password for an existing user.")
    ] = False,
) -> None:
    """Create an inbox account (argon2-hashed password; prompted unless --password-stdin)."""
    from tweet_triage.live.store import check_user_name
    from tweet_triage.live.web.security import hash_password

    name = check_user_name(name)  # before the prompt: a bad name fails at once
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    password_hash = hash_password(password)
    store = _store()
    if replace:
        store.set_password_hash(name, password_hash)
        typer.echo(f"new password set for {name}; their sessions and API tokens are ended")
        if role is not None:
            store.set_role(name, role)
    else:
        user = store.add_user(name, password_hash, role)
        typer.echo(f"user {user.name} created ({user.role})")


@users_app.command("list")
def users_list() -> None:
    """List inbox accounts with their role and state."""
    for user in _store().users():
        state = f"disabled {user.disabled_at:%Y-%m-%d %H:%M UTC}" if user.disabled_at else "active"
        typer.echo(
            f"{user.name}\t{user.role}\t{state}\tcreated {user.created_at:%Y-%m-%d %H:%M UTC}"
        )


@users_app.command("role")
def users_role(
    name: Annotated[str, typer.Argument(help="An existing user.")],
    role: Annotated[str, typer.Argument(help="admin or agent.")],
) -> None:
    """Make a user an admin or an agent (the last active admin stays one)."""
    user = _store().set_role(name, role)
    typer.echo(f"{user.name} is now {user.role}")


@users_app.command("disable")
def users_disable(name: Annotated[str, typer.Argument(help="An existing user.")]) -> None:
    """Stop a user logging in or using API tokens; their decisions keep their name."""
    _store().disable_user(name)
    typer.echo(f"{name} disabled; their sessions are logged out")


@users_app.command("enable")
def users_enable(name: Annotated[str, typer.Argument(help="A disabled user.")]) -> None:
    """Let a disabled user log in again."""
    _store().enable_user(name)
    typer.echo(f"{name} enabled")


@users_app.command("remove")
def users_remove(name: Annotated[str, typer.Argument(help="A user who never decided.")]) -> None:
    """Delete an account with its tokens (one with decisions can only be disabled)."""
    _store().remove_user(name)
    typer.echo(f"{name} removed")


@tokens_app.command("create")
def tokens_create(
    user: Annotated[str, typer.Argument(help="The user the token acts as (decisions name it).")],
    name: Annotated[str, typer.Option(help="A label to recognise the token by.")] = "api",
    days: Annotated[int, typer.Option(min=1, max=3650, help="Days until the token expires.")] = 90,
) -> None:
    """Create an API token and print it once (only its SHA-256 is stored)."""
    from datetime import timedelta

    from tweet_triage.live.store import utc_now
    from tweet_triage.live.web.security import new_api_token, token_digest

    token = new_api_token()
    expires_at = utc_now() + timedelta(days=days)
    token_id = _store().add_token(user, name, token_digest(token), expires_at)
    typer.echo(
        f"token {token_id} ({name}) for {user}, expires {expires_at:%Y-%m-%d %H:%M} UTC; "
        "shown once, keep it safe:",
        err=True,
    )
    typer.echo(token)


@tokens_app.command("list")
def tokens_list() -> None:
    """List API tokens (never their values)."""
    for token in _store().tokens():
        used = f"{token.last_used_at:%Y-%m-%d %H:%M UTC}" if token.last_used_at else "never"
        typer.echo(
            f"{token.id}\t{token.user_name}\t{token.name}\tlast used {used}"
            f"\texpires {token.expires_at:%Y-%m-%d %H:%M UTC}"
        )


@tokens_app.command("revoke")
def tokens_revoke(token_id: Annotated[int, typer.Argument(help="Id from `tokens list`.")]) -> None:
    """Revoke an API token."""
    if not _store().revoke_token(token_id):
        from tweet_triage.live.store import StoreError

        raise StoreError(f"no API token with id {token_id}; see `tweet-triage triage tokens list`")
    typer.echo(f"token {token_id} revoked")


def _register_subcommands() -> None:
    from tweet_triage.live import replies_cli, score_cli

    score_cli.register(app)
    replies_cli.register(app)


_register_subcommands()
