"""Showing a secret once after a redirect: the row keeps the secret XOR a pad, the browser's session the pad.

Neither half alone tells anything about the secret, and the row's half is cleared on first use, so the
secret never sits in a cookie or a URL, and replaying an old cookie cannot show it again.
"""

import secrets


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
