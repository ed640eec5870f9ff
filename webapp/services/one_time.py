"""Showing a secret once after a redirect: the row keeps the secret XOR a pad, the browser's session the pad.

Neither half alone tells anything about the secret, and the row's half is cleared on first use, so the
secret never sits in a cookie or a URL, and replaying an old cookie cannot show it again.
"""

import secrets
from collections.abc import Callable
from datetime import timedelta

from ..models.types import utcnow


def seal(secret: str) -> tuple[bytes, bytes]:
    """(sealed, pad) for an ASCII secret."""
    pad = secrets.token_bytes(len(secret))
    return xor(secret.encode(), pad), pad


def unseal(sealed: bytes, pad: bytes) -> str | None:
    if len(sealed) != len(pad):
        return None
    return xor(sealed, pad).decode("ascii", "replace")


def xor(data: bytes, pad: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(data, pad, strict=True))


def take(row, max_age: timedelta) -> bytes | None:
    """The row's sealed half, now cleared from the row (lock it first); None if gone or older than max_age."""
    sealed, row.reveal_sealed = row.reveal_sealed, None
    if sealed is None or utcnow() - row.created_at >= max_age:
        return None
    return sealed


def reveal(sealed: bytes | None, pad: bytes, digest: str, hash_secret: Callable[[str], str]) -> str | None:
    """The secret, only if it is the one whose hash the row keeps (a stale or foreign pad shows nothing)."""
    secret = unseal(sealed, pad) if sealed else None
    return secret if secret and secrets.compare_digest(hash_secret(secret), digest) else None
