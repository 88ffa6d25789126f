"""`tweet-triage xapi serve`: run the local X API v2 filtered-stream stand-in in the foreground."""

from __future__ import annotations

import contextlib
import signal
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from tweet_triage.config import load_settings
from tweet_triage.logs import configure_logging
from tweet_triage_local.corpus.store import BUNDLED_TWEETS, load_tweets
from tweet_triage_local.xapi.authors import ScriptedAuthors
from tweet_triage_local.xapi.faults import parse_fault_spec
from tweet_triage_local.xapi.oauth import OAuthClient
from tweet_triage_local.xapi.server import XStandInServer
from tweet_triage_local.xapi.standin import DEFAULT_CLIENT_ID, StandIn

app = typer.Typer(no_args_is_help=True)


@app.command("serve")
def serve(
    port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, help="Port on 127.0.0.1; default LOCAL_XAPI_PORT."),
    ] = None,
    rate: Annotated[
        float | None,
        typer.Option(
            help="Corpus tweets per second (0: as fast as possible); default LOCAL_XAPI_RATE."
        ),
    ] = None,
    start: Annotated[
        str | None,
        typer.Option(
            help="Replay from this index or created_at time (e.g. 2014-01-01T00:00:00Z); "
            "default: where the last run stopped."
        ),
    ] = None,
    fault: Annotated[
        list[str] | None,
        typer.Option(
            help="Inject a fault (repeatable): drop-every=N, fail=503:K, fail=429:K, "
            "stall=N:SECONDS, malformed-after=N."
        ),
    ] = None,
    keepalive: Annotated[
        float, typer.Option(help="Seconds without a tweet before a keep-alive \\r\\n.")
    ] = 10.0,
    corpus: Annotated[
        Path, typer.Option(help="A tweets.jsonl.gz to replay; default the bundled demo corpus.")
    ] = BUNDLED_TWEETS,
    client_id: Annotated[
        str | None,
        typer.Option(
            help=f"The X app's OAuth client id; default X_CLIENT_ID, else {DEFAULT_CLIENT_ID!r}."
        ),
    ] = None,
    author_share: Annotated[
        float | None,
        typer.Option(
            min=0,
            max=1,
            help="Share of replied-to authors who answer; default LOCAL_XAPI_AUTHOR_SHARE.",
        ),
    ] = None,
    author_delay: Annotated[
        float | None,
        typer.Option(
            min=0, help="Seconds before an author answers; default LOCAL_XAPI_AUTHOR_DELAY_SECONDS."
        ),
    ] = None,
) -> None:
    """Serve the X API v2 filtered stream and rules on 127.0.0.1, replaying the corpus."""
    settings = load_settings()
    configure_logging(settings)
    settings.require("x_bearer_token")
    assert settings.x_bearer_token is not None  # for the type checker; require() checked it
    faults: dict[str, object] = {}
    for spec in fault or []:
        faults.update(parse_fault_spec(spec))
    standin = StandIn(
        load_tweets(corpus),
        token=settings.x_bearer_token.get_secret_value(),
        rate=settings.local_xapi_rate if rate is None else rate,
        start=start,
        state_dir=settings.state_dir,
        keepalive_seconds=keepalive,
        faults=faults,
        oauth_client=OAuthClient(client_id or settings.x_client_id or DEFAULT_CLIENT_ID),
        authors=ScriptedAuthors(
            settings.local_xapi_author_share if author_share is None else author_share,
            settings.local_xapi_author_delay_seconds if author_delay is None else author_delay,
        ),
    )
    server = XStandInServer(standin, settings.local_xapi_port if port is None else port)
    typer.echo(
        f"X API stand-in on {server.url}: {len(standin.ids):,} tweets from {corpus}, "
        f"rate {standin.rate:g}/s, next tweet #{standin.position}, {len(standin.rules)} rules, "
        f"OAuth client {standin.oauth.client.client_id!r}, {standin.authors.share:.0%} of "
        f"replied-to authors answer after {standin.authors.delay_seconds:g} s"
        + (f", faults {faults}" if faults else "")
    )

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt  # SIGTERM ends the server like Ctrl-C: position saved

    signal.signal(signal.SIGTERM, stop)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    typer.echo(f"X API stand-in stopped at tweet #{standin.position}")
