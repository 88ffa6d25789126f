"""Failures a restart can heal, as opposed to bad input (TriageError, exit 2).

X or Firehose unreachable at start, a 5xx, an unexpected crash of a streamer thread: the CLI
prints one line and exits 1, so the service supervisor (systemd or ours) restarts it, while a
configuration error (exit 2) is final. Nothing received is lost either way: it is in the spool.
"""


class TransientStreamError(Exception):
    """The streamer had to stop for a reason that may pass; the message says what happened."""
