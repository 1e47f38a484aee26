"""The request limit shared through the database: never more than `limit` in any second."""

import bisect
import threading
import time

import pytest

from core.dispatch.ratelimit import RateLimitTimeout, SharedRateLimiter


def _max_in_any_second(times: list[float]) -> int:
    times = sorted(times)
    return max(bisect.bisect_left(times, start + 1.0) - index for index, start in enumerate(times))


def _acquire_from_threads(limiters: list[SharedRateLimiter], per_thread: int) -> list[float]:
    taken: list[float] = []
    lock = threading.Lock()

    def work(limiter: SharedRateLimiter):
        for _ in range(per_thread):
            limiter.acquire()
            with lock:
                taken.append(time.monotonic())

    threads = [threading.Thread(target=work, args=(limiter,)) for limiter in limiters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return taken


def test_ratelimit_threads_share_limit(engine):
    # Four limiters on one database stand for four dispatchers.
    limiters = [SharedRateLimiter(engine, limit=10) for _ in range(4)]

    taken = _acquire_from_threads(limiters, per_thread=10)

    assert len(taken) == 40
    assert _max_in_any_second(taken) <= 10


def test_ratelimit_first_burst_is_immediate(engine):
    limiter = SharedRateLimiter(engine, limit=20)
    started = time.monotonic()

    for _ in range(20):
        limiter.acquire()

    assert time.monotonic() - started < 1.0
    assert limiter.try_acquire() is None


def test_ratelimit_hold_blocks_every_slot(engine):
    limiter = SharedRateLimiter(engine, limit=5)

    limiter.hold(0.5)

    assert limiter.try_acquire() is None
    assert 0.3 < limiter.seconds_until_free() <= 0.5


def test_ratelimit_stop_interrupts_wait(engine):
    limiter = SharedRateLimiter(engine, limit=1)
    limiter.acquire()
    stop = threading.Event()
    stop.set()

    with pytest.raises(RateLimitTimeout):
        limiter.acquire(stop)


def test_ratelimit_lower_limit_uses_fewer_slots(engine):
    SharedRateLimiter(engine, limit=10)
    limiter = SharedRateLimiter(engine, limit=3)

    taken = [limiter.try_acquire() for _ in range(5)]

    assert [value is not None for value in taken] == [True, True, True, False, False]


@pytest.mark.parametrize("limit", [0, -1])
def test_ratelimit_rejects_limit_below_one(engine, limit):
    with pytest.raises(ValueError, match="rate_limit_per_second"):
        SharedRateLimiter(engine, limit=limit)


@pytest.mark.postgres
def test_ratelimit_postgres_threads_share_limit(pg_engine):
    limiters = [SharedRateLimiter(pg_engine, limit=10) for _ in range(4)]

    taken = _acquire_from_threads(limiters, per_thread=10)

    assert len(taken) == 40
    assert _max_in_any_second(taken) <= 10
