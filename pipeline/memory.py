"""Keep a page worker's freed memory for its next page (glibc's allocator settings).

A page's images (a 300-dpi page is 9-26 MB, its masks and maps as much again) are
allocated and freed over and over. By default glibc serves such large blocks with mmap
and returns them on free, so every page faults them in again, page by page, and the
kernel zeroes each one: measured 11-27% of a re-scan page's CPU (the near check, 13
pages, five alternating runs). Kept on the worker's heap, the next page reuses them.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

# mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# Blocks up to glibc's largest allowed mmap threshold on 64-bit (32 MB: a whole color
# page) come from the heap; up to 1 GB of free heap top is kept rather than returned.
MMAP_THRESHOLD = 32 * 1024 * 1024
TRIM_THRESHOLD = 1024 * 1024 * 1024


def keep_freed_memory() -> bool:
    """Tell glibc's allocator to keep freed page-sized blocks in this process. True when
    applied; False where there is no glibc (musl, macOS), which then works as before."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        mallopt = libc.mallopt if libc is not None else None
    except (OSError, AttributeError):
        mallopt = None
    if mallopt is None:
        log.debug("no glibc mallopt here: freed memory goes back to the system")
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    done = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    return mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and done
