"""Released pathway versions never change: a change is a new version (pathways room).

Each released file's bytes and its canonical definition are pinned here. When this test
fails, do not update the digest: put the change in a new version's file instead, because
cases opened on a released version are judged by it for ever. The 1.0 digest is also
the one migration 0004 and the codec's upcaster give the cases stored before versions.

The byte pin makes even a comment edit deliberate: 1.0's header comment was reworded once
(so the project points nowhere outside itself), and its canonical digest, which cases are
pinned to, did not move.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from daycase.engine.load import builtin_pathway, builtin_versions
from daycase.store.codec import KYPHOPLASTY_1_0_DIGEST

BUILTIN = Path(__file__).resolve().parents[2] / "src/daycase/pathways/builtin"

# version → (SHA-256 of the file's bytes, SHA-256 of its canonical definition)
RELEASED = {
    "1.0": (
        "755daca7f103595b0ca1a43dc1d30a3c05bd475d2b4b330db1f9b1d2c7b1b6d0",
        "5cc3e1df96afce3edcd88d599310914bf79ae8f37c175f7e1768ed46b5ef27ad",
    ),
    "2.0": (
        "18470bfa9ce2e0829b39197c795cb1e639d03add475dbb05a94b13c6a970d84c",
        "e1f8e88fc228a187401bb98e048d07557d342b4d01fa54769fc70b4971c9706b",
    ),
}


def test_every_built_in_version_is_a_released_one() -> None:
    assert builtin_versions("kyphoplasty") == sorted(RELEASED)


@pytest.mark.parametrize("version", sorted(RELEASED))
def test_a_released_file_never_changes(version: str) -> None:
    file_digest, definition_digest = RELEASED[version]
    text = (BUILTIN / f"kyphoplasty-{version}.yaml").read_bytes()
    assert hashlib.sha256(text).hexdigest() == file_digest, (
        f"kyphoplasty {version} is released: make the change a new version"
    )
    assert builtin_pathway("kyphoplasty", version).digest == definition_digest


def test_cases_from_before_versions_get_the_1_0_digest() -> None:
    assert RELEASED["1.0"][1] == KYPHOPLASTY_1_0_DIGEST
