"""Passwords, tokens and login throttling for the inbox.

- Passwords: argon2id (argon2-cffi defaults). A login for an unknown name still runs one
  verification against a fixed hash, so timing does not tell which names exist.
- API tokens and session tokens: 32 random bytes shown once; only their SHA-256 is stored
  (a stolen database holds nothing that logs in). 256 random bits need no slow hash.
- Login throttling: attempts are counted per key in a sliding window, and an attempt is taken
  *before* the password is checked, so simultaneous guesses cannot all slip past the count;
  a successful login gives the key its allowance back. The key is (client address, user
  name), or (device, user name) for a browser that logged in as that user before and shows
  its signed device cookie: an attacker who exhausts a user's allowance does not lock out
  the owner's browser (OWASP's device cookies). The counts live in the serving process (the
  inbox runs one uvicorn worker).
- Password checks: at most `PasswordChecks.concurrent` argon2 verifications run at once
  (each holds 64 MiB), so a burst of logins waits instead of exhausting memory.
- The server's secret signs what the inbox hands to browsers and checks when it comes back
  (the login form's CSRF pair, device cookies). It is kept in the state folder (0600), so
  restarts keep device cookies valid.
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
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from tweet_triage.errors import TriageError
from tweet_triage.private_files import write_private

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


class PasswordChecks:
    """Runs `verify_password` for at most `concurrent` callers at once; the others wait up to
    `wait` seconds for a turn (None: no turn came, the caller should answer "busy")."""

    def __init__(self, concurrent: int = 2, wait: float = 10.0) -> None:
        self._turns = threading.BoundedSemaphore(concurrent)
        self._wait = wait

    def verify(self, password_hash: str | None, password: str) -> bool | None:
        if not self._turns.acquire(timeout=self._wait):
            return None
        try:
            return verify_password(password_hash, password)
        finally:
            self._turns.release()


def server_secret(state_dir: Path | None) -> bytes:
    """The inbox's signing secret: `<state dir>/triage/inbox.secret`, created on first use;
    without a state folder (tests) one for this process only."""
    if state_dir is None:
        return secrets.token_bytes(32)
    path = state_dir / "triage" / "inbox.secret"
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_bytes(32)
        write_private(path, secret.hex() + "\n")
        return secret
    except ValueError as exc:
        raise TriageError(
            f"{path} is not a hex secret ({exc}); delete it and restart the inbox "
            "(browsers log in again)"
        ) from exc


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
    """At most `attempts` login attempts per key within `window` seconds; a successful one
    clears the key."""

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
        self._attempts: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()
        self._max_keys = max_keys

    def reserve(self, key: tuple[str, str]) -> float:
        """Take one attempt for `key`: 0 when taken, else the seconds until one is free."""
        with self._lock:
            attempts = self._recent(key)
            if len(attempts) >= self.attempts:
                return max(0.0, attempts[0] + self.window - self._clock())
            if len(self._attempts) >= self._max_keys:
                self._prune()
            while len(self._attempts) >= self._max_keys:  # all live: the oldest key goes
                del self._attempts[next(iter(self._attempts))]
            self._recent(key).append(self._clock())
            return 0.0

    def succeeded(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._attempts.pop(key, None)

    def _recent(self, key: tuple[str, str]) -> deque[float]:
        attempts = self._attempts.setdefault(key, deque())
        cutoff = self._clock() - self.window
        while attempts and attempts[0] <= cutoff:
            attempts.popleft()
        return attempts

    def _prune(self) -> None:
        cutoff = self._clock() - self.window
        for key in [k for k, v in self._attempts.items() if not v or v[-1] <= cutoff]:
            del self._attempts[key]
