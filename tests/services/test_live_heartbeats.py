"""The live hub's heartbeats: one per stream per interval, spread over the interval so a
few thousand streams never all wake (and check their sign-in) at the same moment."""

from __future__ import annotations

import asyncio
from collections import Counter

from daycase.services.live import BEAT_SLICES, HEARTBEAT, LiveHub


def test_streams_are_spread_evenly_over_the_heartbeat_interval() -> None:
    hub = LiveHub(lambda case_id: None, heartbeat_s=15)
    subs = [hub.subscribe("staff") for _ in range(3 * BEAT_SLICES)]
    assert set(Counter(sub.slot for sub in subs).values()) == {3}


def test_every_stream_hears_a_heartbeat_each_interval() -> None:
    async def run() -> list[int]:
        hub = LiveHub(lambda case_id: None, heartbeat_s=0.3)
        await hub.start()
        subs = [hub.subscribe("staff") for _ in range(2 * BEAT_SLICES)]
        await asyncio.sleep(0.3 * 2.5)
        await hub.stop()
        heard = []
        for sub in subs:
            frames = []
            while not sub.queue.empty():
                frames.append(sub.queue.get_nowait())
            heard.append(frames.count(HEARTBEAT))
        return heard

    heard = asyncio.run(run())
    assert min(heard) >= 1
    assert max(heard) <= 3
