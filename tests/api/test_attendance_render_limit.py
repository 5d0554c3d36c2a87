"""Attendance renders run on worker threads one at a time; the others wait on the event loop."""

from __future__ import annotations

import asyncio
import threading
import time
from functools import partial

from service.api.attendance_json import RENDERS_AT_ONCE, render_in_thread


async def test_concurrent_renders_run_one_at_a_time_off_the_loop_and_each_gets_its_own_result() -> None:
    loop_thread = threading.get_ident()
    running = 0
    most_at_once = 0
    threads: set[int] = set()
    lock = threading.Lock()

    def render(n: int) -> bytes:
        nonlocal running, most_at_once
        with lock:
            running += 1
            most_at_once = max(most_at_once, running)
            threads.add(threading.get_ident())
        time.sleep(0.01)  # long enough for the others to try to start
        with lock:
            running -= 1
        return f"record {n}".encode()

    results = await asyncio.gather(*(render_in_thread(partial(render, n)) for n in range(12)))

    assert results == [f"record {n}".encode() for n in range(12)]
    assert most_at_once == RENDERS_AT_ONCE == 1
    assert loop_thread not in threads


def _slow_render() -> bytes:
    time.sleep(0.05)
    return b""


async def test_the_loop_stays_free_while_renders_queue() -> None:
    renders = [asyncio.ensure_future(render_in_thread(_slow_render)) for _ in range(4)]
    began = time.perf_counter()
    await asyncio.sleep(0.01)  # answered by the loop while the renders are queued and running
    assert time.perf_counter() - began < 0.04
    assert not all(r.done() for r in renders)
    assert await asyncio.gather(*renders) == [b""] * 4
