"""The rate-limit governor: share of each bucket, window from Reset/Date, concurrency cap."""

from __future__ import annotations

import threading
import time

import pytest
from clock_support import FakeTime, Peak

from kmsi_lib.okta.governor import Governor, bucket_key

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
