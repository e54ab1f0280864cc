"""Estimated times for the boards, from the centre's own history (service room).

The durations are fitted once a day, off the request path (a server does it at start and
then each new day, on a thread), from the `FIT_DAYS` days before today; until a fit is
ready, and where history is too thin to fit (fewer than `MIN_SAMPLES` cases: then
nothing is fitted at all), boards show no estimate rather than a guess. An estimate is
shown only when its 80 % interval is at most `eta_spread_minutes` wide (0: never). The
calibration, how often past intervals held the real time, is worked out with the fit,
on the `HELD_OUT_DAYS` days before today that the fit did not see.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from daycase.reports.facts import CaseFacts
from daycase.reports.measures import Context
from daycase.services.board import BoardRow, RoomFacts
from daycase.sim.eta import Calibration, Eta, calibrate, next_eta
from daycase.sim.fit import MIN_SAMPLES
from daycase.sim.model import Model

log = logging.getLogger(__name__)
FIT_DAYS = 90
HELD_OUT_DAYS = 14
# What a family reads: plain words, a time to the nearest 5 minutes, never a promise.
FAMILY_WORDS = {
    "recovery": "Likely to move to recovery around {time}",
    "ready": "Likely ready to go home around {time}",
    "home": "Likely to leave around {time}",
}
FAMILY_CAVEAT = "Likely times come from past days. They can change."
STAFF_WORDS = {"recovery": "likely out", "ready": "likely ready", "home": "likely gone"}


def around(at: datetime, tz: ZoneInfo) -> str:
    """The time to the nearest 5 minutes, as the centre's clocks show it."""
    local = at.astimezone(tz)
    rounded = local.replace(second=0, microsecond=0) + timedelta(
        minutes=round((local.minute + local.second / 60) / 5) * 5 - local.minute
    )
    return f"{rounded:%H:%M}"


def family_words(eta: Eta, tz: ZoneInfo) -> str:
    return FAMILY_WORDS[eta.milestone].format(time=around(eta.at, tz))


def staff_words(eta: Eta, tz: ZoneInfo) -> str:
    """ "likely out 10:40 (10:30 to 10:55)": the estimate and its 80 % interval."""
    hm = "%H:%M"
    return (
        f"{STAFF_WORDS[eta.milestone]} {around(eta.at, tz)} "
        f"({eta.low.astimezone(tz):{hm}} to {eta.high.astimezone(tz):{hm}})"
    )


@dataclass(frozen=True, slots=True)
class EtaFit:
    """A day's fit: the model, what it was fitted on, and its calibration."""

    model: Model
    fitted_for: date
    cases: int
    calibration: Calibration
    held_out: tuple[date, date]


# The report facts of the cases booked from one day to another, with their schedule.
Reader = Callable[[date, date], tuple[list[CaseFacts], Context]]
# The durations fitted on such facts.
Fitter = Callable[[list[CaseFacts], Context], Model]


class EtaService:
    """The current fit, and the estimates a board shows from it."""

    def __init__(
        self, read: Reader, fit: Fitter, *, spread_max_min: float, today: Callable[[], date]
    ):
        self._read = read
        self._fitter = fit
        self._today = today
        self.spread_max_min = spread_max_min
        self._fit: EtaFit | None = None
        self._checked_on: date | None = None
        self._lock = threading.Lock()

    @property
    def current(self) -> EtaFit | None:
        return self._fit

    def refit(self) -> EtaFit | None:
        """Fit on the days before the held-out days, calibrate on those, then keep a fit
        on all of them for the boards (an estimate should use the newest history)."""
        if self.spread_max_min <= 0:
            return None
        with self._lock:
            today = self._today()
            if self._checked_on == today:
                return self._fit
            held_first = today - timedelta(days=HELD_OUT_DAYS)
            recent = today - timedelta(days=FIT_DAYS)
            # One read, three cuts of it: fitted early, held out, and the newest days.
            past, context = self._read(
                held_first - timedelta(days=FIT_DAYS), today - timedelta(days=1)
            )
            fitted_on = [f for f in past if f.day >= recent]
            if len(fitted_on) < MIN_SAMPLES:  # nothing to fit: no estimate is shown
                self._fit, self._checked_on = None, today
                return None
            early = self._fitter([f for f in past if f.day < held_first], context)
            held = [f for f in past if f.day >= held_first]
            calibration = calibrate(early, held, spread_max_min=self.spread_max_min)
            model = self._fitter(fitted_on, context)
            self._fit = EtaFit(
                model, today, len(fitted_on), calibration, (held_first, today - timedelta(days=1))
            )
            self._checked_on = today  # a fit that failed is tried again on the next round
            return self._fit

    def refit_quietly(self) -> None:
        """`refit` for a background thread: a failure is logged, the boards go on without."""
        try:
            self.refit()
        except Exception:
            log.exception("fitting the estimated times failed; boards show none")

    def wait_idle(self) -> None:
        """Return once no fit is running (a thread cannot be cancelled: the server waits
        for it before closing the store it reads)."""
        with self._lock:
            return

    async def keep_fitted(self, *, every_s: float = 600) -> None:
        """Run until cancelled: fit now, then again once a new day has begun."""
        while True:
            await asyncio.to_thread(self.refit_quietly)
            await asyncio.sleep(every_s)

    def for_rows(
        self, rows: Sequence[tuple[BoardRow, RoomFacts]], *, now: datetime
    ) -> dict[str, Eta]:
        """The estimate for each case that has one worth showing, by case id."""
        fit = self._fit
        if fit is None:
            return {}
        found = {}
        for row, facts in rows:
            if facts.closed:
                continue
            eta = next_eta(
                fit.model,
                phase=row.phase,
                levels=len(row.levels),
                in_room_at=facts.in_room_at,
                out_of_room_at=facts.out_of_room_at,
                phase_since=row.phase_since,
                now=now,
            )
            if (
                eta is not None
                and eta.from_history
                and eta.spread_min <= self.spread_max_min
                and eta.high >= now
            ):
                found[row.case_id] = eta
        return found
