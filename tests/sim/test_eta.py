"""A patient's next milestone, given where they are now: the stretch's fitted length
given how long it has lasted, never under the pathway's floor; the words a family
reads (simulation room)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import textstat

from daycase.services.etas import FAMILY_CAVEAT, FAMILY_WORDS, around, family_words, staff_words
from daycase.sim.eta import Eta, next_eta, remaining
from tests.sim.models import known_model, lognormal

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
NEW_YORK = ZoneInfo("America/New_York")


MODEL = known_model(
    procedure=(45, 70, 95),
    sigma=0.1,
    recovery=80,
    recovery_floor=90,
    going=lognormal("going", 15, 0.2, source="pathway"),
    cancel_rate=0.0,
    levels_mix={1: 1.0},
)


def test_a_stretch_that_has_run_long_is_expected_to_end_later_not_at_its_median() -> None:
    fresh = remaining(lognormal("p", 45, 0.2), 5, 0)
    later = remaining(lognormal("p", 45, 0.2), 5, 50)
    assert fresh is not None
    assert later is not None
    assert fresh[1] == pytest.approx(45)
    assert later[0] > 50  # it is already longer than 50 min
    assert later[1] > fresh[1]
    assert remaining(lognormal("p", 45, 0.2), 5, 200) is None  # nothing left to say


def test_the_floor_holds_until_it_has_passed() -> None:
    found = remaining(lognormal("r", 80, 0.1), 90, 30)
    assert found is not None
    assert found[0] == 90  # the pathway's hour and a half comes first


def test_the_next_milestone_follows_the_phase() -> None:
    in_room = NOW - timedelta(minutes=20)
    eta = next_eta(
        MODEL,
        phase="procedure",
        levels=2,
        in_room_at=in_room,
        out_of_room_at=None,
        phase_since=in_room,
        now=NOW,
    )
    assert eta is not None
    assert eta.milestone == "recovery"
    assert eta.at == in_room + timedelta(minutes=70)
    out = NOW - timedelta(minutes=10)
    ready = next_eta(
        MODEL,
        phase="recovery",
        levels=1,
        in_room_at=in_room,
        out_of_room_at=out,
        phase_since=out,
        now=NOW,
    )
    assert ready is not None
    assert (ready.milestone, ready.low) == ("ready", out + timedelta(minutes=90))
    home = next_eta(
        MODEL,
        phase="discharge",
        levels=1,
        in_room_at=in_room,
        out_of_room_at=out,
        phase_since=NOW,
        now=NOW,
    )
    assert home is not None
    assert (home.milestone, home.from_history) == ("home", False)
    assert (
        next_eta(
            MODEL,
            phase="pre_op",
            levels=1,
            in_room_at=None,
            out_of_room_at=None,
            phase_since=NOW,
            now=NOW,
        )
        is None
    )


def test_family_words_are_plain_and_never_a_promise() -> None:
    eta = Eta("recovery", datetime(2026, 3, 2, 15, 38, tzinfo=UTC), NOW, NOW)
    assert family_words(eta, NEW_YORK) == "Likely to move to recovery around 10:40"
    assert around(datetime(2026, 3, 2, 15, 32, 29, tzinfo=UTC), NEW_YORK) == "10:30"
    assert staff_words(eta, NEW_YORK) == "likely out 10:40 (10:00 to 10:00)"
    for text in [*FAMILY_WORDS.values(), FAMILY_CAVEAT]:
        assert textstat.flesch_kincaid_grade(text.format(time="10:40")) <= 8, text
        assert "will" not in text.split()
