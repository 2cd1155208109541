"""Freed memory kept for reuse: a frame's large tensors stop costing page faults."""
from __future__ import annotations

import platform
import subprocess
import sys

import pytest

# Allocates and frees a 64 MiB tensor 8 times, printing the minor page faults of the last 6 (in a fresh
# process, since the setting is process-wide and loading a model in this one already made it).
_FAULTS = """
import resource, sys, torch
from xmempp.resources import reuse_freed_memory
if sys.argv[1] == "reuse":
    assert reuse_freed_memory()
faults = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for i in range(8):
    if i == 2:
        before = faults()
    torch.empty(16 << 20).fill_(1.0)
print(faults() - before)
"""


def _faults(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", _FAULTS, mode], capture_output=True, text=True, check=True)
    return int(done.stdout.split()[-1])


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt settings are glibc's")
def test_freed_large_blocks_are_reused_instead_of_faulted_in_again():
    pages = 6 * (64 << 20) // 4096
    assert _faults("default") > pages // 2  # glibc maps blocks over 32 MiB afresh: every page faults again
    assert _faults("reuse") < pages // 100
