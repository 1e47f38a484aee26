"""Garbage-collector settings for the companion server, which keeps many requests open at once.

A webhook request waits for its group commit, so its objects outlive many young-generation
collections and get promoted. The collector then walks the older generations, which contain every
imported module, far more often than in a server that responds at once. Measured with
bench/bench_reports.py on 2 cores, the default thresholds cost about 85 µs of CPU a request and
raised the 99th-percentile latency from about 25 ms to about 95 ms.
"""

import gc
import logging

log = logging.getLogger(__name__)

# A young generation this large lets a request's objects die before a collection reaches them.
# The values come from bench/bench_reports.py, where (20_000, 20, 20) gave a lower rate.
YOUNG_GENERATION_OBJECTS = 50_000
OLDER_GENERATION_RUNS = (50, 100)

_tuned = False


def tune_for_serving() -> None:
    """Move the objects of start-up out of the collector's view and raise the thresholds, once.

    Later calls do nothing, so a process that starts several apps (a test run) freezes only the
    objects of its first start-up.
    """
    global _tuned
    if _tuned:
        return
    _tuned = True

    gc.collect()
    gc.freeze()  # modules, routes and table metadata live as long as the process
    gc.set_threshold(YOUNG_GENERATION_OBJECTS, *OLDER_GENERATION_RUNS)
    log.debug("garbage collector thresholds set to %s", gc.get_threshold())
