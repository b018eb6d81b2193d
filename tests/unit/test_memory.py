"""model/memory.py: the process keeps freed memory for large populations."""

from __future__ import annotations

import ctypes.util
import sys

import pytest

from model import memory


def test_large_population_is_the_first_size_past_glibc_mmap_threshold():
    assert memory.LARGE_POPULATION * 8 == 32 * 1024 * 1024


@pytest.mark.skipif(not sys.platform.startswith("linux") or ctypes.util.find_library("c") is None,
                    reason="glibc only")
def test_keep_freed_memory_is_set_once_and_stays_set():
    first = memory.keep_freed_memory()
    assert isinstance(first, bool)
    assert memory.keep_freed_memory() is first
