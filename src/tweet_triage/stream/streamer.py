"""The streamer: rules sync, reader thread, durable intake, sender thread, stats, clean stop.

    X filtered stream --tweepy--> TweetReader.on_data --append+write(2)--> Spool
                                                   \\--put--> bounded queue --> Sender
    Sender --PutRecordBatch--> Firehose (or a file) --accepted--> Spool.ack

`run_stream()` is what `tweet-triage stream run` calls and what a notebook can call. It stops
on `request_stop()` (the CLI wires SIGTERM and SIGINT to it), `max_tweets` or `max_seconds`:
it stops reading, sends everything still queued or spooled, and returns the final stats.
"""

from __future__ import annotations

import hashlib
import logging
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from tweet_triage.config import Settings
from tweet_triage.errors import TriageError
from tweet_triage.profile import MissionProfile
from tweet_triage.retry import Backoff
from tweet_triage.stream.errors import TransientStreamError
from tweet_triage.stream.intake import Intake
from tweet_triage.stream.reader import TweetReader
from tweet_triage.stream.rules import sync_rules
from tweet_triage.stream.sender import Sender
from tweet_triage.stream.sinks import FileSink, FirehoseSink, Sink
from tweet_triage.stream.spool import Spool
from tweet_triage.stream.stats import DeadLetters, StreamStats, write_stats_file

log = logging.getLogger(__name__)


class StreamerError(TransientStreamError):
    """A streamer thread stopped unexpectedly; a restart resumes from the spool."""


class _StopRequested(Exception):
    """A stop came while a start-up step was waiting on the network; the step is left behind."""


# The stop budget: after a stop request the reader gets this long to finish the line in hand
# (a read blocked on a silent socket is not waited for), the sender STREAM_DRAIN_SECONDS to
# send what is held, and an aborted sender this long to let go. The unit's TimeoutStopSec
# must exceed their sum (see stop_budget_seconds).
READER_JOIN_SECONDS = 5.0
ABORT_JOIN_SECONDS = 10.0


def stop_budget_seconds(settings: Settings) -> float:
    """The longest a stop takes: reader join + drain + abort, plus a second for the stats."""
    return READER_JOIN_SECONDS + settings.stream_drain_seconds + ABORT_JOIN_SECONDS + 1.0


@dataclass(frozen=True)
class StreamLimits:
    """When to stop by itself (None: run until stopped)."""

    max_tweets: int | None = None
    max_seconds: float | None = None


def spool_dir_for(settings: Settings, sink: Sink) -> Path:
    """One spool per destination, so records spooled for Firehose never end up in a file."""
    if isinstance(sink, FirehoseSink):
        key = f"firehose-{sink.stream_name}"
    elif isinstance(sink, FileSink):
        digest = hashlib.sha256(str(sink.path.resolve()).encode()).hexdigest()[:12]
        key = f"file-{digest}"
    else:
        key = sink.name.replace("/", "_").replace(":", "-")
    return settings.stream_paths.spool_dir / key


class Streamer:
    """One run of the streamer. Thread-safe `request_stop()`; `run()` blocks until done."""

    def __init__(
        self,
        settings: Settings,
        profile: MissionProfile,
        sink: Sink,
        *,
        limits: StreamLimits | None = None,
        sync: bool = True,
        allow_rule_deletes: bool = False,
        backoff: Backoff | None = None,
        display: bool | None = None,
    ) -> None:
        settings.require("x_bearer_token")
        assert settings.x_bearer_token is not None
        self.settings = settings
        self.profile = profile
        self.sink = sink
        self.limits = limits or StreamLimits()
        self.sync = sync
        self.allow_rule_deletes = allow_rule_deletes
        self.backoff = backoff
        self.display = sys.stderr.isatty() if display is None else display
        self.stats = StreamStats()
        self.stop_reason: str | None = None
        self._stop = threading.Event()
        self._hurry = threading.Event()
        self._token = settings.x_bearer_token.get_secret_value()

    def request_stop(self, reason: str) -> None:
        """Ask the run to stop reading, flush and return (safe from signal handlers).

        A second request while flushing stops the flush too: what is unsent stays in the
        spool for the next start.
        """
        if self._stop.is_set():
            self._hurry.set()
        if self.stop_reason is None:
            self.stop_reason = reason
        self._stop.set()

    def run(self) -> StreamStats:
        settings = self.settings
        spool = Spool(
            spool_dir_for(settings, self.sink),
            fsync_seconds=settings.stream_spool_fsync_seconds,
            max_bytes=settings.stream_spool_max_bytes,
        )
        dead_letters = DeadLetters(settings.stream_paths.dead_letter_path)
        backlog = spool.open()
        try:
            self._dead_letter_damaged(spool, dead_letters)
            self.stats.recovered = spool.depth
            if self.stats.recovered:
                log.info("re-sending %d record(s) left in the spool", self.stats.recovered)
            self._check_sink()
            intake = Intake(
                spool,
                settings.stream_queue_size,
                backlog,
                when_full=settings.stream_spool_when_full,
            )
            sender = Sender(
                intake,
                self.sink,
                self.stats,
                flush_seconds=settings.stream_flush_seconds,
                concurrency=settings.stream_senders,
                backoff=self.backoff,
                dead_letters=dead_letters,
            )
            reader = TweetReader(
                self._token,
                base_url=settings.x_api_base_url,
                intake=intake,
                dead_letters=dead_letters,
                stats=self.stats,
                stall_seconds=settings.stream_stall_seconds,
                max_tweets=self.limits.max_tweets,
            )
            sender.start()
            try:
                if self.sync:
                    self._interruptible(
                        lambda: sync_rules(
                            reader, self.profile, allow_delete=self.allow_rule_deletes
                        ),
                        "rule sync",
                    )
                self._read(reader, intake, sender, spool, dead_letters)
            except _StopRequested:
                pass
            finally:
                self._shutdown(reader, intake, sender, spool)
            self._raise_if_never_connected(reader)
        except _StopRequested:
            pass
        finally:
            spool.close()
            self.sink.close()
            self.stats.spool_depth = spool.depth
            self.stats.state = "stopped"
            self.stats.use_run_average_rates()
            self._write_stats()
        log.info(
            "streamer stopped (%s): %s",
            self.stop_reason or "error",
            self.stats.line(),
            extra={"fields": self.stats.to_dict()},
        )
        return self.stats

    # --- phases -----------------------------------------------------------------------------
    def _interruptible(self, step: Any, what: str) -> Any:
        """Run a start-up step that waits on the network; a stop request does not wait for it."""
        outcome: dict[str, Any] = {}

        def target() -> None:
            try:
                outcome["value"] = step()
            except BaseException as exc:
                outcome["error"] = exc

        thread = threading.Thread(target=target, name=what, daemon=True)
        thread.start()
        while thread.is_alive():
            if self._stop.wait(0.1):
                log.info("stop requested during %s; not waiting for it", what)
                raise _StopRequested(what)
            thread.join(0.1)
        if "error" in outcome:
            raise outcome["error"]
        return outcome.get("value")

    def _check_sink(self) -> None:
        """A sink that cannot be used is an error; one not reachable yet only delays sending."""
        try:
            self._interruptible(self.sink.check, "the sink check")
        except TransientStreamError as exc:
            log.warning(
                "%s; reading and spooling anyway, sending when it answers", exc,
                extra={"fields": {"sink": self.sink.name}},
            )  # fmt: skip

    def _raise_if_never_connected(self, reader: TweetReader) -> None:
        if self.stats.connects == 0 and reader.last_failure is not None:
            raise StreamerError(
                f"never connected to the X stream at {self.settings.x_api_base_url}: "
                f"{reader.last_failure}; check X_API_BASE_URL and the network (the stand-in: "
                "make -f Makefile-stream local-xapi-up)"
            )

    def _read(
        self,
        reader: TweetReader,
        intake: Intake,
        sender: Sender,
        spool: Spool,
        dead_letters: DeadLetters,
    ) -> None:
        stream = self.profile.stream
        params: dict[str, Any] = {"tweet_fields": stream.tweet_fields}
        if stream.expansions:
            params["expansions"] = stream.expansions
        if stream.user_fields:
            params["user_fields"] = stream.user_fields
        thread = reader.filter(threaded=True, **params)
        self.stats.state = "running"
        log.info(
            "streaming profile %r into %s", self.profile.name, self.sink.name,
            extra={"fields": {"profile": self.profile.name, "sink": self.sink.name}},
        )  # fmt: skip
        started = time.monotonic()
        next_stats = started + self.settings.stream_stats_seconds
        with self._live() as live:
            while not self._stop.is_set():
                self._stop.wait(0.25)
                now = time.monotonic()
                if self.limits.max_seconds is not None and now - started >= self.limits.max_seconds:
                    self.request_stop("max seconds reached")
                if not thread.is_alive():
                    if reader.error is not None:
                        raise _as_streamer_error(reader.error, "the stream reader")
                    self.request_stop("max tweets reached")
                if not sender.is_alive():
                    raise _as_streamer_error(sender.error, "the sender")
                report = now >= next_stats
                self._sample(intake, spool)
                self._dead_letter_damaged(spool, dead_letters)
                if live is not None:
                    live.update(self._table())
                if report:
                    next_stats = now + self.settings.stream_stats_seconds
                    self._report()
        self.stats.state = "stopping"
        log.info("stopping (%s): sending what is queued", self.stop_reason)

    def _shutdown(self, reader: TweetReader, intake: Intake, sender: Sender, spool: Spool) -> None:
        reader.stop()
        if reader.thread is not None:
            reader.thread.join(READER_JOIN_SECONDS)
        intake.close()
        deadline = time.monotonic() + self.settings.stream_drain_seconds
        while sender.is_alive() and time.monotonic() < deadline and not self._hurry.is_set():
            sender.join(0.2)
        if sender.is_alive():
            why = (
                "stopped again while flushing"
                if self._hurry.is_set()
                else f"could not send everything within {self.settings.stream_drain_seconds:.0f} s"
            )
            sender.abort()
            sender.join(ABORT_JOIN_SECONDS)
            log.warning(
                "%s; %d record(s) stay in the spool %s and are sent at the next start",
                why,
                spool.depth,
                spool.directory,
            )
        self._sample(intake, spool)

    def _sample(self, intake: Intake, spool: Spool) -> None:
        """Depths, rates (over the last seconds, at every render), spool size and disk alerts."""
        self.stats.sample(intake.queue_depth, spool.depth)
        self.stats.spool_blocked_seconds = round(intake.blocked_seconds, 1)
        self.stats.spool_full = intake.full_reason
        for alert in self.stats.sample_disk(
            spool.disk_bytes, spool.max_bytes or 0, spool.disk_free_bytes()
        ):
            log.warning("alert: %s (%s)", alert, spool.directory)

    def _dead_letter_damaged(self, spool: Spool, dead_letters: DeadLetters) -> None:
        for payload, reason in spool.take_damaged():
            self.stats.dead_lettered += 1
            dead_letters.write(payload, reason)

    # --- reporting ----------------------------------------------------------------------------
    def summary(self) -> str:
        """Where the received tweets went, for the last line of a run."""
        s = self.stats
        where = self.sink.name
        if isinstance(self.sink, FirehoseSink):
            where += f" (Firehose writes them to S3 under {self.settings.raw_prefix})"
        parts = [f"{s.received} tweet(s) received", f"{s.sent} record(s) delivered to {where}"]
        if s.recovered:
            parts.append(f"{s.recovered} of them left by an earlier run")
        if s.spool_depth:
            parts.append(
                f"{s.spool_depth} still in the spool {spool_dir_for(self.settings, self.sink)} "
                "(sent at the next start)"
            )
        if s.dead_lettered or s.dropped:
            parts.append(
                f"{s.dead_lettered} dead-lettered ({s.rejected} refused by the sink) and "
                f"{s.dropped} dropped (spool full), listed in "
                f"{self.settings.stream_paths.dead_letter_path}"
            )
        return "; ".join(parts)

    def _report(self) -> None:
        log.info("stats %s", self.stats.line(), extra={"fields": self.stats.to_dict()})
        self._write_stats()

    def _write_stats(self) -> None:
        try:
            write_stats_file(
                self.settings.stream_paths.stats_file,
                self.stats,
                {"profile": self.profile.name, "sink": self.sink.name},
            )
        except OSError as exc:  # stats are informative; never stop the stream for them
            log.warning(
                "cannot write stats file %s: %s", self.settings.stream_paths.stats_file, exc
            )

    def _live(self) -> Any:
        if not self.display:
            return _NoLive()
        return Live(self._table(), console=Console(stderr=True), refresh_per_second=4)

    def _table(self) -> Table:
        """Ten figures in two rows of five: fits an 80-column terminal."""
        s = self.stats
        goal = f"/{self.limits.max_tweets}" if self.limits.max_tweets else ""
        cells = [
            ("received", f"{s.received}{goal}"),
            ("sent", s.sent),
            ("retried", s.retried),
            ("failed", s.failed),
            ("dead-lettered", s.dead_lettered),
            ("queue", s.queue_depth),
            ("spool", s.spool_depth),
            ("in/s", f"{s.received_per_s:.0f}"),
            ("out/s", f"{s.sent_per_s:.0f}"),
            ("reconnects", s.connection_errors + sum(s.http_errors.values())),
        ]
        table = Table(
            title=f"{self.profile.name} -> {self.sink.name} ({s.state})",
            show_header=False,
            box=None,
        )
        for _ in range(5):
            table.add_column(justify="left", min_width=14)
        for row in (cells[:5], cells[5:]):
            table.add_row(*(f"[bold]{label}[/bold] {value}" for label, value in row))
        return table


class _NoLive:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _as_streamer_error(error: BaseException | None, who: str) -> BaseException:
    if isinstance(error, TriageError | TransientStreamError):
        return error
    return StreamerError(
        f"{who} stopped unexpectedly: {error!r}; nothing received is lost (it is in the spool "
        "and sent at the next start); see the log file"
    )


def run_stream(
    settings: Settings,
    profile: MissionProfile,
    sink: Sink,
    *,
    limits: StreamLimits | None = None,
    sync: bool = True,
    allow_rule_deletes: bool = False,
    backoff: Backoff | None = None,
    display: bool | None = None,
) -> StreamStats:
    """Run the streamer in this thread until a limit is reached; returns the final stats.

    Rules on X that the profile lacks are deleted only with `allow_rule_deletes=True`.
    """
    streamer = Streamer(
        settings,
        profile,
        sink,
        limits=limits,
        sync=sync,
        allow_rule_deletes=allow_rule_deletes,
        backoff=backoff,
        display=display,
    )
    return streamer.run()
