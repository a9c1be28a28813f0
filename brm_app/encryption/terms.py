"""A keyed word index over encrypted text: each distinct word of a text (lower-cased, NFKC,
two characters or more) as a truncated keyed digest, so a search can match whole words without
the database holding the words. The digests depend on the blind-index key (BRM_SECRET_KEY), never
on the rotating encryption keys, so a key rotation leaves the index as it is.

Search is by whole words: every word of the query must be among the text's terms (AND).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from functools import lru_cache

from brm_app.encryption import get_keyring

MESSAGES = "messages.terms"
LOG = "communication_log.terms"
_WORD = re.compile(r"\w+")


def words(text: str | None) -> list[str]:
    """The distinct words of `text` as the index sees them, in order of first appearance."""
    if not text:
        return []
    seen: dict[str, None] = {}
    for w in _WORD.findall(unicodedata.normalize("NFKC", text).lower()):
        if len(w) >= 2:
            seen.setdefault(w, None)
    return list(seen)


@lru_cache(maxsize=65536)
def _term(index_key: bytes, purpose: str, word: str) -> int:
    # The key ring's `digest` (HMAC-SHA256 with the blind-index key), computed here so the
    # cache's key names the index key it was made with.
    digest = hmac.new(index_key, f"{purpose}\x1f{word}".encode(), hashlib.sha256).hexdigest()
    # 64 bits of the digest as a signed 8-byte integer (a BIGINT on both databases).
    value = int(digest[:16], 16)
    return value - (1 << 64) if value >= 1 << 63 else value


def term(purpose: str, word: str) -> int:
    return _term(get_keyring().index_key, purpose, word)


def terms(purpose: str, *texts: str | None) -> list[int]:
    """The distinct terms of the texts (a message's text; a log entry's content, sender and
    recipients)."""
    key = get_keyring().index_key
    out: dict[int, None] = {}
    for text in texts:
        for w in words(text):
            out.setdefault(_term(key, purpose, w), None)
    return list(out)
