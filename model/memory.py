"""Keep freed memory in the process, so that a month's large temporaries do not page-fault afresh.

Every phase of a month allocates temporaries the size of the population or the loan book. glibc serves an
allocation above its mmap threshold (at most 32 MiB: a float64 array of 4.2M elements) with a fresh ``mmap`` and
gives it back to the kernel when it is freed, so above a few million borrowers every such temporary is
page-faulted (and zeroed by the kernel) again, every time: at 10M borrowers that was about a quarter of a month's
time, all of it in the kernel. :func:`keep_freed_memory` has glibc serve every allocation from its heap and keep
what is freed there for the next one. It is a setting of the process, not of one model, and leaves the model's
arithmetic alone: outputs are bit-identical with or without it. The model sets it for populations above
:data:`LARGE_POPULATION` only: smaller runs gain nothing from it (glibc's mmap threshold rises by itself to the
sizes they free) and would keep a little more memory at their peak.
"""

from __future__ import annotations

import ctypes
import sys

# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4

#: Above this many borrowers a population's float64 array outgrows glibc's largest mmap threshold (32 MiB), so
#: that the model calls :func:`keep_freed_memory`; below it glibc already reuses freed memory of that size.
LARGE_POPULATION = 32 * 1024 * 1024 // 8

_kept = False


def keep_freed_memory() -> bool:
    """Have glibc's malloc keep freed memory for reuse instead of returning it to the kernel (once per process).

    Sets ``M_MMAP_MAX`` to 0 (every allocation comes from the heap) and ``M_TRIM_THRESHOLD`` to the largest
    value ``mallopt`` takes (the heap's free top is not given back until it exceeds 2 GiB). The process then
    keeps the memory of its largest month, which it needed anyway. Does nothing off Linux or without glibc.

    Returns:
        Whether the setting is in force.
    """
    global _kept
    if _kept or not sys.platform.startswith("linux"):
        return _kept
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    _kept = mallopt(_M_MMAP_MAX, 0) == 1 and mallopt(_M_TRIM_THRESHOLD, 2**31 - 1) == 1
    return _kept
