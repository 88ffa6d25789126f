"""The project's error base: the CLI prints these as one clear line, without a stack trace."""


class TriageError(Exception):
    """An error whose message names the bad input and the fix."""
