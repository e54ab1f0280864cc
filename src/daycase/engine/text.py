"""Invisible and direction-changing characters in names and free text (engine room).

`Ann\\u202eeoJ` is shown as "AnnJoe": a right-to-left override turns the rest of the
line around, and zero-width characters make two names that look the same differ (or a
name look like another). Names and identifiers refuse every Unicode format character
(category Cf: the bidi controls, zero-width space and joiners, the byte-order mark, word
joiner, soft hyphen…) and the line and paragraph separators. Free text (reasons, notes)
refuses the bidi controls only: it may need a zero-width joiner (emoji, several scripts),
but never a character that reorders what staff read. See docs/engine.md.
"""

from __future__ import annotations

import unicodedata

# Unicode's explicit bidirectional formatting characters (UAX #9): embeddings, overrides
# and isolates with their terminators, and the implicit marks LRM, RLM and ALM.
BIDI_CONTROLS = frozenset(
    [chr(c) for c in range(0x202A, 0x202F)]  # LRE RLE PDF LRO RLO
    + [chr(c) for c in range(0x2066, 0x206A)]  # LRI RLI FSI PDI
    + ["\u200e", "\u200f", "\u061c"]  # LRM RLM ALM
)
_IDENTIFIER_REFUSED = frozenset(["Cf", "Zl", "Zp"])
IDENTIFIER_PROBLEM = "must not contain invisible or text-direction characters"
FREE_TEXT_PROBLEM = "must not contain text-direction characters"


def _named(ch: str) -> str:
    return f"U+{ord(ch):04X}"


def identifier_problem(value: str) -> str | None:
    """Why a name or identifier cannot be stored as typed, or None when it can."""
    for ch in value:
        if ch in BIDI_CONTROLS or unicodedata.category(ch) in _IDENTIFIER_REFUSED:
            return f"{IDENTIFIER_PROBLEM} (found {_named(ch)})"
    return None


def free_text_problem(value: str) -> str | None:
    """Why a free text (a reason, a note) cannot be stored as typed, or None when it can."""
    for ch in value:
        if ch in BIDI_CONTROLS:
            return f"{FREE_TEXT_PROBLEM} (found {_named(ch)})"
    return None
