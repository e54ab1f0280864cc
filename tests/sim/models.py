"""Known durations for the simulation tests: a model built by hand, not fitted."""

from __future__ import annotations

import math
from typing import Literal

from daycase.sim.fit import Durations, Fitted
from daycase.sim.model import Model


def lognormal(
    name: str, median: float, sigma: float, source: Literal["history", "pathway"] = "history"
) -> Fitted:
    return Fitted(name, "lognormal", math.log(median), sigma, 1000, source)


def known_model(
    *,
    procedure: tuple[float, float, float],
    sigma: float,
    recovery: float,
    recovery_floor: float,
    going: Fitted,
    cancel_rate: float,
    levels_mix: dict[int, float],
) -> Model:
    """Arrival 50 min early (sd 15), pre-op 45, turnover 20; the rest as given."""
    return Model(
        Durations(
            arrival=Fitted("arrival", "normal", -50.0, 15.0, 1000, "history"),
            preop=lognormal("preop", 45, 0.3),
            procedure={k + 1: lognormal(f"p{k + 1}", m, sigma) for k, m in enumerate(procedure)},
            recovery=lognormal("recovery", recovery, sigma),
            going=going,
            turnover=lognormal("turnover", 20, 0.3),
            cancel_rate=cancel_rate,
            levels_mix=levels_mix,
        ),
        procedure_floor={1: 5.0, 2: 5.0, 3: 5.0},
        recovery_floor=dict.fromkeys((1, 2, 3), recovery_floor),
    )
