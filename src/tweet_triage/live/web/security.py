"""Passwords, tokens and login throttling for the inbox.

- Passwords: argon2id (argon2-cffi defaults). A login for an unknown name still runs one
  verification against a fixed hash, so timing does not tell which names exist.
- API tokens and session tokens: 32 random bytes shown once; only their SHA-256 is stored
  (a stolen database holds nothing that logs in). 256 random bits need no slow hash.
- Login throttling: failed attempts are counted per (client address, user name) in a sliding
  window; past the limit the login answers 429 with Retry-After until the window moves on.
  The counts live in the serving process (the inbox runs one uvicorn worker).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from tweet_triage.errors import TriageError

API_TOKEN_PREFIX = "tt_"
MIN_PASSWORD_LENGTH = 10


class WeakPasswordError(TriageError):
    pass


@lru_cache(maxsize=1)
def _hasher() -> PasswordHasher:
    return PasswordHasher()


@lru_cache(maxsize=1)
def _decoy_hash() -> str:
    return _hasher().hash(secrets.token_urlsafe(16))


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPasswordError(
            f"the password is too short ({len(password)} characters); use at least "
            f"{MIN_PASSWORD_LENGTH}"
        )


def hash_password(password: str) -> str:
    check_password_strength(password)
    return _hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; an absent user (None) costs the same time and fails."""
    try:
        return _hasher().verify(password_hash or _decoy_hash(), password) and bool(password_hash)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def new_api_token() -> str:
    return API_TOKEN_PREFIX + secrets.token_urlsafe(32)


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def same_secret(given: str | None, expected: str | None) -> bool:
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


class LoginThrottle:
    """At most `attempts` failed logins per key within `window` seconds."""

    def __init__(
        self,
        attempts: int,
        window: float,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self.attempts = attempts
        self.window = window
        self._clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()
        self._max_keys = max_keys

    def retry_after(self, key: tuple[str, str]) -> float:
        """Seconds until `key` may try again; 0 when it may try now."""
        with self._lock:
            failures = self._recent(key)
            if len(failures) < self.attempts:
                return 0.0
            return max(0.0, failures[0] + self.window - self._clock())

    def failed(self, key: tuple[str, str]) -> None:
        with self._lock:
            if len(self._failures) >= self._max_keys:
                self._prune()
            self._recent(key).append(self._clock())

    def succeeded(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._failures.pop(key, None)

    def _recent(self, key: tuple[str, str]) -> deque[float]:
        failures = self._failures.setdefault(key, deque())
        cutoff = self._clock() - self.window
        while failures and failures[0] <= cutoff:
            failures.popleft()
        return failures

    def _prune(self) -> None:
        cutoff = self._clock() - self.window
        for key in [k for k, v in self._failures.items() if not v or v[-1] <= cutoff]:
            del self._failures[key]
