"""Bearer authentication against the one token the stand-in accepts, as X does."""

from __future__ import annotations

import hmac


def bearer_matches(header: str | None, token: str) -> bool:
    """Constant-time comparison of an Authorization header with `Bearer <token>`."""
    return hmac.compare_digest((header or "").encode(), f"Bearer {token}".encode())
