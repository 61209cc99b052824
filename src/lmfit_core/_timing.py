"""Small timing helpers shared by the demo and the side-by-side benchmark."""
import time

import numpy as np


def median_time(fn, min_total=0.02, max_repeats=200):
    """Median wall time of `fn()` over repeats lasting about `min_total` seconds."""
    times = []
    start = time.perf_counter()
    while len(times) < 3 or (time.perf_counter() - start < min_total
                             and len(times) < max_repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def format_seconds(t):
    """`t` seconds as a short string in s, ms or µs."""
    if t >= 1.0:
        return f"{t:.2f} s"
    if t >= 1e-3:
        return f"{t * 1e3:.2f} ms"
    return f"{t * 1e6:.1f} µs"
