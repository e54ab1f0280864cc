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
    interval_s = 0.3

    async def run() -> tuple[list[int], float]:
        hub = LiveHub(lambda case_id: None, heartbeat_s=interval_s)
        await hub.start()
        subs = [hub.subscribe("staff") for _ in range(2 * BEAT_SLICES)]
        loop = asyncio.get_running_loop()
        started = loop.time()
        # Until every stream heard one (however slowly a busy machine runs the loop).
        while any(sub.queue.empty() for sub in subs) and loop.time() - started < 30:
            await asyncio.sleep(0.01)
        elapsed = loop.time() - started
        await hub.stop()
        heard = []
        for sub in subs:
            frames = []
            while not sub.queue.empty():
                frames.append(sub.queue.get_nowait())
            heard.append(frames.count(HEARTBEAT))
        return heard, elapsed

    heard, elapsed = asyncio.run(run())
    assert min(heard) >= 1
    # One a stream per interval: never a burst of them.
    assert max(heard) <= elapsed / interval_s + 1
