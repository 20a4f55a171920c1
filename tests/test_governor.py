"""The rate-limit governor: share of each bucket, window from Reset/Date, concurrency cap."""

from __future__ import annotations

import contextlib
import email.utils
import math
import threading
import time

import pytest
from clock_support import FakeTime, Peak

from kmsi_lib.okta.governor import HEADROOM, INITIAL_IN_FLIGHT, Governor, bucket_key

DATE = "Sun, 17 May 2026 13:28:03 GMT"  # epoch 1779024483
EPOCH = 1779024483


def headers(limit: int, remaining: int, reset: int, date: str = DATE) -> dict[str, str]:
    return {
        "X-Rate-Limit-Limit": str(limit),
        "X-Rate-Limit-Remaining": str(remaining),
        "X-Rate-Limit-Reset": str(reset),
        "Date": date,
    }


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("/api/v1/users/00u1/sessions", "/api/v1/users"),
        ("/api/v1/users", "/api/v1/users"),
        ("/api/v1/policies/p/rules/r?x=1", "/api/v1/policies"),
        ("/oauth2/v1/token", "/oauth2/v1"),
        ("/.well-known/okta-organization", "/.well-known/okta-organization"),
    ],
)
def test_bucket_key(path: str, key: str) -> None:
    assert bucket_key(path) == key


def make(share: float = 0.5, margin: float = 0.0) -> tuple[Governor, FakeTime]:
    fake = FakeTime()
    gov = Governor(share=share, margin=margin, clock=fake.clock, sleep=fake.sleep)
    return gov, fake


def test_unknown_bucket_is_not_paced() -> None:
    gov, fake = make()
    for _ in range(100):
        gov.acquire("/api/v1/users")
    assert fake.sleeps == []


def test_our_share_is_used_then_we_wait_for_the_window_reset() -> None:
    gov, fake = make(share=0.5)
    key = "/api/v1/users"
    gov.acquire(key)
    gov.observe(key, headers(10, 9, EPOCH + 4))  # window ends 4 s after the server's Date
    for _ in range(4):
        gov.acquire(key)  # 5 of 10 = our half
    assert fake.sleeps == []
    gov.acquire(key)  # the 6th waits for the next window
    assert fake.sleeps == [4.0]
    assert gov.state(key).used == 1


def test_server_remaining_holds_us_back_when_others_use_the_bucket() -> None:
    gov, fake = make(share=0.5)
    key = "/api/v1/users"
    gov.acquire(key)
    gov.observe(key, headers(10, 5, EPOCH + 2))  # someone else used 4
    gov.acquire(key)
    assert fake.sleeps == [2.0]


def test_window_is_measured_from_the_server_date_not_our_clock() -> None:
    gov, fake = make()
    key = "/api/v1/apps"
    fake.now = 500.0
    gov.acquire(key)
    gov.observe(key, headers(2, 1, EPOCH + 10))
    gov.acquire(key)
    assert fake.sleeps == [10.0]


def test_margin_is_added_to_the_window() -> None:
    gov, fake = make(margin=0.25)
    key = "/api/v1/apps"
    gov.acquire(key)
    gov.observe(key, headers(2, 1, EPOCH + 1))
    gov.acquire(key)
    assert fake.sleeps == [1.25]


def test_late_answers_from_an_ended_window_do_not_block_the_new_one() -> None:
    gov, fake = make()
    key = "/api/v1/users"
    gov.acquire(key)
    gov.observe(key, headers(4, 3, EPOCH + 1))
    fake.now += 2  # the window is over
    gov.acquire(key)
    gov.observe(key, headers(4, 0, EPOCH + 1))  # a straggler of the old window
    gov.acquire(key)
    assert fake.sleeps == []


def test_concurrency_rejection_headers_are_ignored() -> None:
    gov, _ = make()
    gov.observe("/api/v1/users", headers(0, 0, EPOCH + 30))
    assert gov.state("/api/v1/users").limit is None


def test_share_is_validated() -> None:
    with pytest.raises(ValueError):
        Governor(share=0)
    with pytest.raises(ValueError):
        Governor(share=1.5)


def test_slots_cap_concurrency() -> None:
    gov = Governor(max_concurrency=3)
    peak = Peak()

    def work() -> None:
        with gov.slot("/api/v1/users"), peak:
            time.sleep(0.01)

    threads = [threading.Thread(target=work) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak.peak == 3


# --------------------------------------------------------------------------- windows and permits
# Requests held in flight in one thread: ``slot`` is a context manager, an ExitStack holds several.

KEY = "/api/v1/users"


def answer(
    gov: Governor, fake: FakeTime, stack: contextlib.ExitStack, hdrs: dict[str, str], dt: float
) -> None:
    """One request: take a place, let ``dt`` seconds pass, hand over the answer, leave."""
    with gov.slot(KEY) as ticket:
        fake.now += dt
        ticket.done(hdrs)


def test_a_new_server_window_starts_a_fresh_count_before_our_deadline() -> None:
    """Fault (a): the server's next window began before the end we computed for the old one;
    two server windows must not share one budget."""
    gov, fake = make(share=0.5)
    with contextlib.ExitStack() as stack:
        for remaining in (9, 8, 7, 6):  # 4 of our 5 in the window that resets at EPOCH + 4
            answer(gov, fake, stack, headers(10, remaining, EPOCH + 4), 0.0)
        assert gov.state(KEY).used == 4
        # The 5th is answered from a newer window (Reset EPOCH + 8): count afresh from it.
        answer(gov, fake, stack, headers(10, 9, EPOCH + 8), 0.0)
        assert gov.state(KEY).used == 1
        for _ in range(4):
            gov.acquire(KEY)
        assert fake.sleeps == []  # the old code kept counting 5 and waited 4 s here
        gov.acquire(KEY)  # the 6th of the new window waits for its end
        assert fake.sleeps == [8.0]


@pytest.mark.timeout(10)
def test_requests_in_flight_across_the_boundary_count_in_the_new_window_once() -> None:
    gov, fake = make(share=0.5)
    answer(gov, fake, contextlib.ExitStack(), headers(200, 199, EPOCH + 4), 0.1)
    assert gov.permits(KEY) >= 3
    stack = contextlib.ExitStack()
    held = [stack.enter_context(gov.slot(KEY)) for _ in range(2)]  # sent near the boundary
    with gov.slot(KEY) as third:
        third.done(headers(200, 199, EPOCH + 14))  # a new window: it and the two in flight
    st = gov.state(KEY)
    assert (st.used, st.reset_epoch, st.in_flight) == (3, EPOCH + 14, 2)
    held[0].done(headers(200, 150, EPOCH + 4))  # landed in the old window after all: still 3
    held[1].done(headers(200, 198, EPOCH + 14))  # landed in the new one: counted already
    stack.close()
    assert gov.state(KEY).used == 3
    for _ in range(97):  # 100 per window: 97 more fit, whatever the two turned out to be
        gov.acquire(KEY)
    assert fake.sleeps == []
    gov.acquire(KEY)
    assert len(fake.sleeps) == 1


def test_the_window_end_follows_the_tightest_bound_on_the_server_clock() -> None:
    """Date has a resolution of a second; answers at different fractions tighten the bound."""
    gov, fake = make()
    # The server's clock reads EPOCH + 0.5 when ours reads 0 (unknown to the governor).
    answer(gov, fake, contextlib.ExitStack(), headers(100, 99, EPOCH + 10, date_at(EPOCH)), 0.0)
    assert gov.state(KEY).deadline == pytest.approx(10.0)  # all one answer can tell
    fake.now = 0.6  # server time EPOCH + 1.1: Date says EPOCH + 1
    answer(gov, fake, contextlib.ExitStack(), headers(100, 98, EPOCH + 10, date_at(EPOCH + 1)), 0)
    assert gov.state(KEY).deadline == pytest.approx(9.6)  # the server resets at our 9.5


def date_at(epoch: int) -> str:
    return email.utils.formatdate(epoch, usegmt=True)


def permits_after_one_answer(
    latency: float, share: float = 0.5, limit: int = 1000, remaining: int | None = None
) -> tuple[Governor, FakeTime, int]:
    fake = FakeTime()
    gov = Governor(share=share, margin=0.0, clock=fake.clock, sleep=fake.sleep)
    left = limit - 1 if remaining is None else remaining
    answer(gov, fake, contextlib.ExitStack(), headers(limit, left, EPOCH + 10), latency)
    return gov, fake, gov.permits(KEY)


def test_before_the_first_answer_a_bucket_gets_a_few_requests_in_flight() -> None:
    gov, _ = make()
    assert gov.permits(KEY) == INITIAL_IN_FLIGHT


@pytest.mark.parametrize(("latency", "share"), [(0.1, 0.5), (0.4, 0.5), (0.1, 1.0), (1.1, 0.5)])
def test_permits_follow_littles_law(latency: float, share: float) -> None:
    gov, fake, permits = permits_after_one_answer(latency, share)
    st = gov.state(KEY)
    assert st.latency == pytest.approx(latency)
    assert st.deadline is not None
    rate = (gov.budget(1000) - 1) / (st.deadline - fake.now)  # what is left, by the window's end
    assert permits == min(64, math.ceil(rate * latency * HEADROOM) + 1)
    # e.g. 500 per 10 s at 0.1 s: 50/s x 0.1 s = 5 in flight, plus a little
    assert rate * latency <= permits <= rate * latency * HEADROOM + 2


def test_permits_grow_with_latency_and_share() -> None:
    low = permits_after_one_answer(0.1)[2]
    assert permits_after_one_answer(0.4)[2] > 3 * low
    assert permits_after_one_answer(0.1, share=1.0)[2] > low


def test_latency_is_a_moving_mean_and_permits_adapt_to_it() -> None:
    gov, fake, before = permits_after_one_answer(0.1)
    for n in range(20):
        answer(gov, fake, contextlib.ExitStack(), headers(1000, 990 - n, EPOCH + 10), 0.5)
    st = gov.state(KEY)
    assert st.latency is not None and 0.45 < st.latency < 0.5
    assert gov.permits(KEY) > 3 * before


def test_remaining_falling_lowers_permits_then_stops_us() -> None:
    """Another integration spends the bucket: we keep to what the share leaves."""
    _, _, ours_alone = permits_after_one_answer(0.1)
    gov, fake, shared = permits_after_one_answer(0.1, remaining=600)  # others used 399
    assert shared < ours_alone
    st = gov.state(KEY)
    assert st.deadline is not None
    rate = (600 - 500) / (st.deadline - fake.now)  # down to the floor of (1 - share) x limit
    assert shared == math.ceil(rate * 0.1 * HEADROOM) + 1
    answer(gov, fake, contextlib.ExitStack(), headers(1000, 500, EPOCH + 10), 0.1)
    before = list(fake.sleeps)
    gov.acquire(KEY)  # the share is gone: wait for the window's end
    assert len(fake.sleeps) == len(before) + 1
    assert fake.sleeps[-1] == pytest.approx(st.deadline - 0.2)


@pytest.mark.timeout(10)
def test_a_concurrency_rejection_lowers_the_cap_and_it_recovers_slowly() -> None:
    fake = FakeTime()
    gov = Governor(max_concurrency=64, recover_seconds=30, clock=fake.clock, sleep=fake.sleep)
    with contextlib.ExitStack() as stack:
        tickets = [stack.enter_context(gov.slot(KEY)) for _ in range(8)]
        tickets[-1].done(headers(0, 0, EPOCH + 1))  # Okta: too many at once (Limit 0)
    assert gov.concurrency_rejections == 1
    assert gov.concurrency_cap() == 6  # 90 % of the 7 that were admitted
    assert gov.state(KEY).limit is None  # says nothing about the bucket
    assert gov.permits(KEY) <= 6
    fake.now += 29
    assert gov.concurrency_cap() == 6
    fake.now += 1
    assert gov.concurrency_cap() == 7
    fake.now += 30
    assert gov.concurrency_cap() == 8


@pytest.mark.timeout(10)
def test_the_cap_holds_requests_back_across_buckets() -> None:
    gov = Governor(max_concurrency=2)
    with gov.slot("/api/v1/users"), gov.slot("/api/v1/groups"):
        entered = threading.Event()

        def third() -> None:
            with gov.slot("/api/v1/apps"):
                entered.set()

        thread = threading.Thread(target=third)
        thread.start()
        assert not entered.wait(0.2)  # two in flight: the third waits
    thread.join(2)
    assert entered.is_set()
