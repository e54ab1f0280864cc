"""The one contract every event store keeps (store tests); each backend's test module subclasses it.

A subclass only says how to make a fresh, empty store; every behaviour asserted here must
then hold for memory, SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from daycase.engine.events import Event
from daycase.store.base import (
    CaseSummary,
    ConcurrencyError,
    EventStore,
    FamilyCodeTaken,
    IdempotencyKey,
    KeyUsed,
)
from tests.factories import (
    BST,
    DIGEST,
    amended,
    at,
    history,
    opened,
    recorded,
    rescheduled,
    voided,
)

EST_OFFSET = timedelta(hours=-5)
EST = timezone(EST_OFFSET)


def offsets(events: list[Event]) -> list[list[tuple[str, timedelta | None]]]:
    """The UTC offset of every datetime field: equal datetimes may still differ in offset."""
    return [
        [
            (f.name, value.utcoffset())
            for f in dataclasses.fields(event)
            if isinstance(value := getattr(event, f.name), datetime)
        ]
        for event in events
    ]


class StoreContract(ABC):
    """Subclass as `Test<Backend>Store` and implement `make_store`."""

    @abstractmethod
    def make_store(self, tmp_path: Path) -> Iterator[EventStore]:
        """Yield a fresh, empty store of this backend; release everything after the yield."""

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[EventStore]:
        yield from self.make_store(tmp_path)

    def test_round_trip_keeps_every_kind_and_offset(self, store: EventStore) -> None:
        written: list[Event] = [
            opened("c1", scheduled_start=datetime(2025, 6, 2, 8, 30, tzinfo=BST)),
            recorded(
                "c1",
                2,
                step="blood_tests",
                at_time=datetime(2025, 6, 2, 2, 5, 30, 250_000, tzinfo=EST),
                data={"inr": 1.2, "notes": "haemolysed, ask Zoë", "flags": [True, None]},
                level="L1",
                override_reason="consultant agreed",
            ),
            amended("c1", 3, target_event_id="c1-e2", at_time=at(7, 10), data={"inr": None}),
            amended("c1", 4, target_event_id="c1-e2", data={"inr": 1.3}),
            voided("c1", 5, target_event_id="c1-e2"),
            rescheduled("c1", 6, to=datetime(2025, 6, 3, 9, 15, tzinfo=EST)),
        ]
        store.append(written[:2], expected_seq=0)
        store.append(written[2:], expected_seq=2)

        loaded = store.load("c1")

        assert loaded == written
        assert offsets(loaded) == offsets(written)
        assert offsets(loaded)[1] == [("recorded_at", EST_OFFSET), ("at", EST_OFFSET)]

    def test_seq_continues_from_the_last_event(self, store: EventStore) -> None:
        store.append(history("c1"), expected_seq=0)
        store.append([recorded("c1", 5)], expected_seq=4)
        store.append([recorded("c1", 6), recorded("c1", 7)], expected_seq=5)

        assert [event.seq for event in store.load("c1")] == [1, 2, 3, 4, 5, 6, 7]

    def test_stale_expected_seq_is_refused_and_stores_nothing(self, store: EventStore) -> None:
        store.append(history("c1"), expected_seq=0)
        before = store.load("c1")

        with pytest.raises(ConcurrencyError):
            store.append([recorded("c1", 4, eid="late")], expected_seq=3)
        with pytest.raises(ConcurrencyError):
            store.append([recorded("c1", 6, eid="ahead")], expected_seq=5)
        with pytest.raises(ConcurrencyError):
            store.append([opened("c1")], expected_seq=0)

        assert store.load("c1") == before
        assert store.verify() == []

    def test_a_failing_batch_stores_none_of_its_events(self, store: EventStore) -> None:
        store.append(history("c1"), expected_seq=0)
        clash = "c1-e2"

        with pytest.raises(ValueError, match="event id"):
            store.append([recorded("c1", 5), recorded("c1", 6, eid=clash)], expected_seq=4)
        with pytest.raises(ValueError, match="event id"):
            store.append([opened("c2"), recorded("c2", 2, eid=clash)], expected_seq=0)

        assert [event.seq for event in store.load("c1")] == [1, 2, 3, 4]
        assert store.load("c2") == []
        assert [case.case_id for case in store.cases()] == ["c1"]
        store.append([recorded("c1", 5)], expected_seq=4)
        assert store.verify() == []

    def test_malformed_batches_are_refused(self, store: EventStore) -> None:
        with pytest.raises(ValueError, match="one case"):
            store.append([opened("c1"), recorded("c2", 2)], expected_seq=0)
        with pytest.raises(ValueError, match="does not follow"):
            store.append([opened("c1"), recorded("c1", 3)], expected_seq=0)
        with pytest.raises(ValueError, match="CaseOpened"):
            store.append([recorded("c1", 1)], expected_seq=0)
        store.append([], expected_seq=0)

        assert store.load("c1") == []

    def test_cases_on_a_date_use_the_local_date_of_the_start(self, store: EventStore) -> None:
        # 23:30 at -05:00 is already 3 June in UTC, 00:30 at +01:00 still 2 June in UTC.
        starts = {
            "late-evening": datetime(2025, 6, 2, 23, 30, tzinfo=EST),
            "morning": datetime(2025, 6, 2, 8, 30, tzinfo=BST),
            "after-midnight": datetime(2025, 6, 3, 0, 30, tzinfo=BST),
        }
        for case_id, start_at in starts.items():
            store.append(
                [opened(case_id, scheduled_start=start_at, family_code=f"F-{case_id}")],
                expected_seq=0,
            )

        on_second = store.cases(on=date(2025, 6, 2))

        assert on_second == [
            CaseSummary(
                "morning", "kyphoplasty", "1", DIGEST, "2025-06-02T08:30:00+01:00", "F-morning", 1
            ),
            CaseSummary(
                "late-evening",
                "kyphoplasty",
                "1",
                DIGEST,
                "2025-06-02T23:30:00-05:00",
                "F-late-evening",
                1,
            ),
        ]
        assert [c.case_id for c in store.cases(on=date(2025, 6, 3))] == ["after-midnight"]
        assert store.cases(on=date(2025, 6, 4)) == []
        assert {c.case_id for c in store.cases()} == set(starts)
        between = store.cases_between(date(2025, 6, 2), date(2025, 6, 3))
        assert [c.case_id for c in between] == ["morning", "late-evening", "after-midnight"]
        assert store.cases_between(date(2025, 6, 3), date(2025, 6, 9))[0].case_id == (
            "after-midnight"
        )
        assert store.cases_between(date(2025, 6, 4), date(2025, 6, 9)) == []

    def test_a_family_code_is_held_by_one_case_a_day(self, store: EventStore) -> None:
        """Checked in the opening's own transaction: the day is its start's local date."""
        morning = datetime(2025, 6, 2, 8, 30, tzinfo=BST)
        store.append([opened("first", scheduled_start=morning, family_code="Q4")], expected_seq=0)
        late = datetime(2025, 6, 2, 23, 30, tzinfo=EST)  # 3 June in UTC, 2 June there
        with pytest.raises(FamilyCodeTaken) as taken:
            store.append(
                [opened("second", scheduled_start=late, family_code="Q4"), recorded("second", 2)],
                expected_seq=0,
            )
        assert (taken.value.code, taken.value.on) == ("Q4", date(2025, 6, 2))
        assert store.load("second") == []
        assert store.case("second") is None
        next_day = morning + timedelta(days=1)
        store.append([opened("third", scheduled_start=next_day, family_code="Q4")], expected_seq=0)
        assert {c.case_id for c in store.cases()} == {"first", "third"}
        assert store.verify() == []

    def test_a_booking_moves_only_to_a_day_where_its_family_code_is_free(
        self, store: EventStore
    ) -> None:
        """A move takes the code along: refused (nothing changed) onto a day that holds it."""
        today, tomorrow = at(9), at(9) + timedelta(days=1)
        store.append([opened("mover", scheduled_start=today, family_code="Q4")], expected_seq=0)
        store.append([opened("there", scheduled_start=tomorrow, family_code="Q4")], expected_seq=0)
        with pytest.raises(FamilyCodeTaken) as taken:
            store.append(
                [rescheduled("mover", 2, to=tomorrow + timedelta(hours=1))], expected_seq=1
            )
        assert (taken.value.code, taken.value.on) == ("Q4", tomorrow.date())
        assert [e.seq for e in store.load("mover")] == [1]
        assert [c.case_id for c in store.cases(on=today.date())] == ["mover"]
        store.append([rescheduled("mover", 2, to=today + timedelta(hours=2))], expected_seq=1)
        assert store.verify() == []

    def test_openings_queued_together_never_share_a_family_code(self, store: EventStore) -> None:
        """Writes the store groups into one transaction are checked against each other and
        against the day: of six openings drawing one code, exactly one is stored, and an
        opening drawing a code the day already held is refused alone."""
        for n in range(6):
            store.append([opened(f"c{n}")], expected_seq=0)
        store.append([opened("held", family_code="HELD")], expected_seq=0)

        async def together(*writes: Awaitable[None]) -> list[BaseException | None]:
            return await asyncio.gather(*writes, return_exceptions=True)

        def steps(seq: int) -> list[Awaitable[None]]:
            return [
                store.append_async([recorded(f"c{n}", seq)], expected_seq=seq - 1) for n in range(6)
            ]

        same = [
            store.append_async([opened(f"o{n}", family_code="SAME")], expected_seq=0)
            for n in range(6)
        ]
        outcomes = asyncio.run(together(*steps(2), *same))
        assert outcomes[:6] == [None] * 6
        assert outcomes[6:].count(None) == 1
        assert all(isinstance(o, FamilyCodeTaken) for o in outcomes[6:] if o is not None)

        late = store.append_async([opened("late", family_code="HELD")], expected_seq=0)
        other = store.append_async([opened("other", family_code="ELSE")], expected_seq=0)
        outcomes = asyncio.run(together(*steps(3), late, other))
        assert outcomes[:6] == [None] * 6
        assert isinstance(outcomes[6], FamilyCodeTaken)
        assert outcomes[7] is None
        assert store.case("late") is None
        codes = [c.family_code for c in store.cases()]
        assert len(codes) == len(set(codes)) == 9
        assert all(len(store.load(f"c{n}")) == 3 for n in range(6))
        assert store.verify() == []

    def test_a_moved_booking_is_listed_on_its_new_day_only(self, store: EventStore) -> None:
        """The index follows the newest booked start, alone or beside other appends."""
        store.append([opened("c1")], expected_seq=0)
        store.append([opened("c2", family_code="F-2")], expected_seq=0)
        new_start = datetime(2025, 6, 3, 23, 30, tzinfo=EST)  # 4 June in UTC
        store.append([rescheduled("c1", 2, to=new_start)], expected_seq=1)
        assert [c.case_id for c in store.cases(on=date(2025, 6, 2))] == ["c2"]
        [moved] = store.cases(on=date(2025, 6, 3))
        assert (moved.case_id, moved.scheduled_start_iso, moved.last_seq) == (
            "c1",
            new_start.isoformat(),
            2,
        )
        assert store.day_signature(on=date(2025, 6, 2))[:2] == (1, 1)
        assert store.day_signature(on=date(2025, 6, 3))[:2] == (1, 2)
        back = datetime(2025, 6, 2, 10, 0, tzinfo=BST)
        outcomes: list[BaseException | None] = []

        def write(events: list[Event], seq: int) -> None:
            try:
                store.append(events, expected_seq=seq)
                outcomes.append(None)
            except BaseException as error:
                outcomes.append(error)

        with ThreadPoolExecutor(2) as pool:  # queued together, as a server's writes are
            pool.submit(write, [rescheduled("c1", 3, to=back)], 2)
            pool.submit(write, [recorded("c2", 2)], 1)
        assert outcomes == [None, None]
        assert [c.case_id for c in store.cases(on=date(2025, 6, 2))] == ["c2", "c1"]
        assert store.cases(on=date(2025, 6, 3)) == []
        head = store.case("c1")
        assert head is not None
        assert head.scheduled_start_iso == back.isoformat()
        assert store.verify() == []

    def test_cases_changed_since_a_moment_compare_times_not_text(self, store: EventStore) -> None:
        """Recorded times are kept in their own offsets: 10:00+14:00 is earlier than
        09:00-12:00, though its text sorts later."""
        moment = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
        far_east, far_west = timezone(timedelta(hours=14)), timezone(timedelta(hours=-12))
        recorded_at = {
            "before-east": datetime(2025, 6, 3, 1, 59, tzinfo=far_east),  # 11:59 UTC
            "at-east": datetime(2025, 6, 3, 2, 0, tzinfo=far_east),  # 12:00 UTC
            "before-west": datetime(2025, 6, 1, 23, 59, 59, tzinfo=far_west),  # 11:59:59
            "after-west": datetime(2025, 6, 2, 0, 0, 1, tzinfo=far_west),  # 12:00:01
            "long-before": datetime(2025, 5, 1, 9, 0, tzinfo=BST),
        }
        for n, (case_id, when) in enumerate(recorded_at.items()):
            store.append([opened(case_id, recorded_at=when, family_code=f"F-{n}")], expected_seq=0)
        store.append([recorded("long-before", 2)], expected_seq=1)  # 2025-06-02 07:03 BST
        assert store.changed_since(moment) == ["after-west", "at-east"]
        assert store.changed_since(datetime(2025, 6, 2, 6, 0, tzinfo=BST)) == [
            "after-west",
            "at-east",
            "before-east",
            "before-west",
            "long-before",
        ]

    def test_a_days_signature_changes_with_every_case_and_every_append(
        self, store: EventStore
    ) -> None:
        day = date(2025, 6, 2)
        assert store.day_signature(on=day) == (0, 0, 0)
        store.append([opened("c1")], expected_seq=0)
        store.append([opened("c2", family_code="F-2")], expected_seq=0)
        assert store.day_signature(on=day)[:2] == (2, 2)
        store.append([recorded("c1", 2)], expected_seq=1)
        assert store.day_signature(on=day)[:2] == (2, 3)
        assert store.day_signature(on=date(2025, 6, 3)) == (0, 0, 0)

    def test_a_day_one_case_leaves_as_another_arrives_has_a_new_signature(
        self, store: EventStore
    ) -> None:
        """Same count, same sum of seqs, another case: a kept board must see it."""
        first, second = date(2025, 6, 2), date(2025, 6, 3)
        store.append([opened("x")], expected_seq=0)
        store.append(
            [opened("y", scheduled_start=at(8, day=second), family_code="F-Y")], expected_seq=0
        )
        store.append([rescheduled("x", 2, to=at(9, day=first))], expected_seq=1)
        before = store.day_signature(on=first)
        store.append([rescheduled("x", 3, to=at(9, day=second))], expected_seq=2)
        store.append([rescheduled("y", 2, to=at(10, day=first))], expected_seq=1)
        after = store.day_signature(on=first)
        assert [c.case_id for c in store.cases(on=first)] == ["y"]
        assert before[:2] == after[:2] == (1, 2)
        assert before != after

    def test_an_unknown_case_loads_empty(self, store: EventStore) -> None:
        store.append(history("c1"), expected_seq=0)

        assert store.load("nobody") == []

    def test_verify_finds_nothing_on_intact_data(self, store: EventStore) -> None:
        assert store.verify() == []
        for case_id in ("c1", "c2", "c3"):
            store.append(history(case_id, steps=5), expected_seq=0)
        store.append([voided("c2", 7, target_event_id="c2-e3")], expected_seq=6)

        assert store.verify() == []

    def test_concurrent_writers_each_store_every_event_exactly_once(
        self, store: EventStore
    ) -> None:
        writers, per_writer = 4, 10
        store.append([opened("c1")], expected_seq=0)
        start = threading.Barrier(writers)

        def write(name: str) -> None:
            start.wait()
            for n in range(per_writer):
                for _attempt in range(1000):
                    seq = store.load("c1")[-1].seq + 1
                    time.sleep(0)  # let another writer move the case on in between
                    try:
                        store.append([recorded("c1", seq, eid=f"{name}-{n}")], expected_seq=seq - 1)
                        break
                    except ConcurrencyError:
                        continue
                else:
                    raise AssertionError(f"{name} never got event {n} in")

        with ThreadPoolExecutor(max_workers=writers) as pool:
            futures = [pool.submit(write, f"w{i}") for i in range(writers)]
            for future in futures:
                future.result()

        loaded = store.load("c1")
        expected_ids = {f"w{i}-{n}" for i in range(writers) for n in range(per_writer)}
        assert [event.seq for event in loaded] == list(range(1, writers * per_writer + 2))
        assert sorted(event.event_id for event in loaded[1:]) == sorted(expected_ids)
        assert store.verify() == []

    def test_an_idempotency_key_is_stored_with_its_write_and_answers_a_retry(
        self, store: EventStore
    ) -> None:
        key = IdempotencyKey(key="k" * 64, request="r" * 64)
        store.append(history("c1"), expected_seq=0)
        first = recorded("c1", 5, eid="first")
        store.append([first], expected_seq=4, idempotency=key)

        with pytest.raises(KeyUsed):
            store.append([recorded("c1", 6, eid="again")], expected_seq=5, idempotency=key)

        assert store.replay(key.key) == ("r" * 64, first)
        assert store.replay("x" * 64) is None
        assert [event.event_id for event in store.load("c1")][-1] == "first"
        assert store.verify() == []

    def test_a_refused_write_keeps_no_idempotency_key(self, store: EventStore) -> None:
        key = IdempotencyKey(key="k" * 64, request="r" * 64)
        store.append(history("c1"), expected_seq=0)

        with pytest.raises(ConcurrencyError):
            store.append([recorded("c1", 3, eid="stale")], expected_seq=2, idempotency=key)

        assert store.replay(key.key) is None
        store.append([recorded("c1", 5, eid="then")], expected_seq=4, idempotency=key)
        assert store.replay(key.key) == ("r" * 64, store.load("c1")[-1])

    def test_writes_queued_together_are_each_answered_for_themselves(
        self, store: EventStore
    ) -> None:
        """Many writers at once (sharing transactions where the store groups them): every
        good write is stored, every bad one refused alone, and nothing else is touched."""
        cases = [f"c{n}" for n in range(24)]
        for case_id in cases:
            store.append([opened(case_id)], expected_seq=0)
        start = threading.Barrier(len(cases))

        def write(case_id: str) -> str:
            start.wait()
            n = int(case_id[1:])
            try:
                if n % 3 == 0:  # a stale seq: refused
                    store.append([recorded(case_id, 3)], expected_seq=2)
                elif n % 3 == 1:  # a batch whose second event repeats a stored event id
                    store.append(
                        [recorded(case_id, 2), recorded(case_id, 3, eid="c2-e1")],
                        expected_seq=1,
                    )
                else:
                    store.append([recorded(case_id, 2), recorded(case_id, 3)], expected_seq=1)
            except ConcurrencyError:
                return "concurrency"
            except ValueError:
                return "duplicate"
            return "stored"

        with ThreadPoolExecutor(max_workers=len(cases)) as pool:
            outcomes = dict(zip(cases, pool.map(write, cases), strict=True))

        for case_id, outcome in outcomes.items():
            n = int(case_id[1:])
            assert outcome == ["concurrency", "duplicate", "stored"][n % 3], case_id
            seqs = [event.seq for event in store.load(case_id)]
            assert seqs == ([1, 2, 3] if n % 3 == 2 else [1]), case_id
        assert store.verify() == []

    def test_text_written_together_comes_back_exactly(self, store: EventStore) -> None:
        """Batched writes carry every character as given: accents, other scripts, emoji
        outside the basic plane, quotes, backslashes and line breaks; the hashes prove it."""
        texts = ["Zoë O'Brien", '李小龙 \\ "quoted"', "pain 😖 after 💊", "line\nbreak\ttab", "a/b"]
        cases = [f"t{n}" for n in range(len(texts))]

        async def write() -> None:
            await asyncio.gather(*(store.append_async([opened(c)], expected_seq=0) for c in cases))
            await asyncio.gather(
                *(
                    store.append_async(
                        [recorded(c, 2, data={"note": text, text: [text]}, override_reason=text)],
                        expected_seq=1,
                    )
                    for c, text in zip(cases, texts, strict=True)
                )
            )

        asyncio.run(write())
        for c, text in zip(cases, texts, strict=True):
            stored = store.load(c)[-1]
            assert stored == recorded(c, 2, data={"note": text, text: [text]}, override_reason=text)
        assert store.verify() == []

    def test_append_async_stores_like_append(self, store: EventStore) -> None:
        async def write() -> None:
            await store.append_async(history("c1"), expected_seq=0)
            with pytest.raises(ConcurrencyError):
                await store.append_async([recorded("c1", 2, eid="late")], expected_seq=1)
            await asyncio.gather(
                *(
                    store.append_async([opened(f"a{n}"), recorded(f"a{n}", 2)], expected_seq=0)
                    for n in range(20)
                )
            )

        asyncio.run(write())
        assert [event.seq for event in store.load("c1")] == [1, 2, 3, 4]
        assert len(store.cases()) == 21
        assert store.verify() == []
