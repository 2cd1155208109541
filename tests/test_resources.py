"""Freed memory kept for reuse: a frame's large tensors stop costing page faults."""
from __future__ import annotations

import platform
import subprocess
import sys

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
    done = subprocess.run([sys.executable, "-c", _FAULTS, str(mmap_threshold)], capture_output=True, text=True,
                          check=True)
    return int(done.stdout.split()[-1])


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt settings are glibc's")
def test_freed_large_blocks_are_reused_instead_of_faulted_in_again():
    pages = 6 * 4 * (24 << 20) // 4096
    # blocks mapped on their own (over the threshold) are handed back when freed: every page faults again
    assert _faults(1 << 20) > pages // 2
    # blocks up to 32 MiB from the heap, kept when freed (at most a block's growth of the heap faults)
    assert _faults(32 << 20) < pages // 10
