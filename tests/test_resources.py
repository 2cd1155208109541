"""This process's memory: freed memory kept for reuse (no page faults for a frame's large tensors), its own peak."""

from __future__ import annotations

import platform
import subprocess
import sys

import numpy as np
import pytest

# Allocates four 24 MiB tensors and frees them, 10 times, printing the minor page faults of the last 6 (in a
# fresh process, since the setting is process-wide and loading a model in this one already made it).
_FAULTS = """
import resource, sys, torch
from xmempp.resources import reuse_freed_memory
assert reuse_freed_memory(mmap_threshold=int(sys.argv[1]))
faults = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for i in range(10):
    if i == 4:
        before = faults()
    blocks = [torch.empty(6 << 20).fill_(1.0) for _ in range(4)]
    del blocks
print(faults() - before)
"""


def _faults(mmap_threshold: int) -> int:
    done = subprocess.run(
        [sys.executable, "-c", _FAULTS, str(mmap_threshold)], capture_output=True, text=True, check=True
    )
    return int(done.stdout.split()[-1])


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt settings are glibc's")
def test_freed_large_blocks_are_reused_instead_of_faulted_in_again():
    pages = 6 * 4 * (24 << 20) // 4096
    # blocks mapped on their own (over the threshold) are handed back when freed: every page faults again
    assert _faults(1 << 20) > pages // 2
    # blocks up to 32 MiB from the heap, kept when freed (at most a block's growth of the heap faults)
    assert _faults(32 << 20) < pages // 10


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmHWM is Linux's")
def test_a_started_process_reports_its_own_peak_not_its_parents():
    held = np.ones(2 << 30, np.uint8)  # this process now peaks above 2 GiB; the child (torch imported) ~0.35 GiB
    done = subprocess.run(
        [sys.executable, "-c", "from xmempp.resources import peak_rss_bytes; print(peak_rss_bytes())"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert int(done.stdout) < held.nbytes // 2  # ru_maxrss would report at least the parent's peak here
