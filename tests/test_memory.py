"""The page worker keeps freed page images for the next page (pipeline.memory)."""

import subprocess
import sys

import pytest

# Where glibc put a live 26 MB page image (mallinfo2: bytes in mmapped blocks, bytes in
# the heap), and the page faults of writing a second one after the first was freed.
SCRIPT = """
import ctypes, resource, sys
import numpy as np
from pipeline import memory

class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
        "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
if sys.argv[1] == "keep":
    assert memory.keep_freed_memory()
image = np.full((3500, 2480, 3), 255, np.uint8)
info = libc.mallinfo2()
del image
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
image = np.full((3500, 2480, 3), 255, np.uint8)
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(info.hblkhd, info.arena, faults)
"""
PAGE = 3500 * 2480 * 3


def _allocation(mode: str) -> tuple[int, int, int]:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, check=True
    )
    mapped, heap, faults = (int(v) for v in out.stdout.split())
    return mapped, heap, faults


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_freed_page_images_stay_in_the_worker_heap():
    mapped, heap, faults = _allocation("default")
    assert mapped >= PAGE and heap < PAGE  # glibc's default: mmapped, returned on free
    mapped, heap, faults = _allocation("keep")
    assert mapped < PAGE <= heap  # from the heap, kept there when freed
    assert faults < 50  # the second page reuses the first one's memory
