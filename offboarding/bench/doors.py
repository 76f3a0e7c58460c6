"""Doors in several processes at once: each process its own database connection.

The processes are forked (after `connections.close_all()`, so none shares the parent's socket);
each child opens its own connection on first use, loads what it signs before the start signal,
then signs checklist items of its own exits (`offboarding.services.sign_off_item`), timing each
door, and sends the times back. PostgreSQL only: SQLite has one writer at a time.
"""

import multiprocessing
import sys
import time
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import connections

from offboarding import services
from offboarding.choices import Team
from offboarding.models import ChecklistItem

START_TIMEOUT = 120


@dataclass
class Signer:
    """What one process signs: its items (ids) and the HR and IT staff who sign them."""

    item_ids: list[int]
    hr_id: int
    it_id: int


@dataclass
class Signed:
    """One process's result: the latency of each door in seconds, and when it began and ended."""

    latencies: list[float]
    started: float
    ended: float
    error: str = ""
    begins: list[float] | None = None  # when each door began (paced doors)


def _context():
    # What this process has buffered for stdout and stderr is written first: a forked child
    # would write its copy again when it ends.
    sys.stdout.flush()
    sys.stderr.flush()
    return multiprocessing.get_context("fork")


def _load(signer: Signer):
    users = get_user_model().objects.in_bulk([signer.hr_id, signer.it_id])
    items = ChecklistItem.objects.select_related("exit_case").in_bulk(signer.item_ids)
    actors = {Team.HR: users[signer.hr_id], Team.IT: users[signer.it_id]}
    return [(items[pk], actors[items[pk].team]) for pk in signer.item_ids]


def _sign_all(signer: Signer, barrier, results) -> None:
    """A child: sign every item once, as fast as it goes."""
    try:
        work = _load(signer)
        barrier.wait(START_TIMEOUT)
        latencies = []
        started = time.perf_counter()
        for item, actor in work:
            begun = time.perf_counter()
            services.sign_off_item(item, actor=actor)
            latencies.append(time.perf_counter() - begun)
        results.put(Signed(latencies, started, time.perf_counter()))
    except Exception as error:  # reported by the parent, whose table says what failed
        results.put(Signed([], 0, 0, error=f"{type(error).__name__}: {error}"))
    finally:
        connections.close_all()


def sign_in_processes(signers: list[Signer]) -> tuple[list[Signed], float]:
    """Sign each signer's items in a process of its own, all starting together. Returns each
    process's result and the wall time from the start signal to the last door's end."""
    connections.close_all()
    context = _context()
    barrier = context.Barrier(len(signers) + 1)
    results = context.Queue()
    processes = [
        context.Process(target=_sign_all, args=(signer, barrier, results)) for signer in signers
    ]
    for process in processes:
        process.start()
    barrier.wait(START_TIMEOUT)
    started = time.perf_counter()
    signed = [results.get(timeout=3600) for _ in processes]
    wall = time.perf_counter() - started
    for process in processes:
        process.join()
    errors = [result.error for result in signed if result.error]
    if errors:
        raise RuntimeError(f"a signing process failed: {errors[0]}")
    return signed, wall


def _sign_paced(signer: Signer, pause: float, ready, stop, results) -> None:
    """A child: one door every `pause` seconds (a person at work) until told to stop, cycling
    through its items (unsigned again, outside the timing, when all are signed)."""
    try:
        work = _load(signer)
        ready.set()
        latencies, begins = [], []
        started = time.perf_counter()
        index = 0
        while not stop.is_set():
            if index == len(work):
                reset_items(signer.item_ids)
                work = _load(signer)
                index = 0
            item, actor = work[index]
            index += 1
            begun = time.perf_counter()
            services.sign_off_item(item, actor=actor)
            latencies.append(time.perf_counter() - begun)
            begins.append(begun)
            time.sleep(pause)
        results.put(Signed(latencies, started, time.perf_counter(), begins=begins))
    except Exception as error:
        results.put(Signed([], 0, 0, error=f"{type(error).__name__}: {error}"))
    finally:
        connections.close_all()


def door_during(signer: Signer, work, *, pause: float = 0.02, before: float = 0.3):
    """Run `work()` in this process while another process signs one item after another (see
    `_sign_paced`); the doors' latencies count only while `work` runs. Returns (what `work`
    returned, its seconds, the latencies of the doors that began during it)."""
    connections.close_all()
    context = _context()
    ready, stop = context.Event(), context.Event()
    results = context.Queue()
    process = context.Process(target=_sign_paced, args=(signer, pause, ready, stop, results))
    process.start()
    ready.wait(START_TIMEOUT)
    time.sleep(before)  # the doors are under way
    began = time.perf_counter()
    try:
        answer = work()
    finally:
        seconds = time.perf_counter() - began
        stop.set()
        signed = results.get(timeout=3600)
        process.join()
    if signed.error:
        raise RuntimeError(f"the signing process failed: {signed.error}")
    # The doors that overlap `work`, those that began before it and ran into it included (the
    # clock is the system's monotonic one, the same in both processes).
    end = began + seconds
    during = [
        latency
        for begun, latency in zip(signed.begins, signed.latencies, strict=True)
        if begun + latency >= began and begun <= end
    ]
    return answer, seconds, during


def paced_alone(signer: Signer, seconds: float, *, pause: float = 0.02) -> list[float]:
    """The same paced doors for `seconds` with nothing else running: the peer figures."""
    _answer, _seconds, latencies = door_during(signer, lambda: time.sleep(seconds), pause=pause)
    return latencies


def reset_items(item_ids: list[int]) -> None:
    """Unsign the items (between runs: the sign-off is the work measured)."""
    ChecklistItem.objects.filter(pk__in=item_ids).update(
        signed_off_by=None, signed_off_at=None, note=""
    )
