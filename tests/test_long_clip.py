"""A 1,500-frame propagation at 64x112 keeps memory bounded once the long-term cap is reached."""

from __future__ import annotations

import os

import psutil
import pytest

from xmempp import InferenceConfig, InferenceSession
from xmempp.io.synthetic import MovingDiscs


@pytest.mark.slow
def test_memory_is_flat_after_long_term_cap(model):
    clip = MovingDiscs(1500, 64, 112)
    config = InferenceConfig(size=-1, mem_every=2, num_prototypes=32, max_long_term_elements=1000)
    session = InferenceSession(model, config)
    session.add_reference(0, clip[0], clip.mask(0))
    process = psutil.Process(os.getpid())
    cap_frame, rss_at_cap, peak_elements, rss_after = None, None, 0, []
    for index in range(len(clip)):
        session.step(index, clip[index], end=index == len(clip) - 1)
        stats = session.memory_stats()
        peak_elements = max(peak_elements, stats.long_term_elements + stats.temporary_elements)
        if cap_frame is None and stats.long_term_elements >= config.max_long_term_elements - config.num_prototypes:
            cap_frame, rss_at_cap = index, process.memory_info().rss
        elif cap_frame is not None and index % 50 == 0:
            rss_after.append(process.memory_info().rss)
    assert cap_frame is not None and cap_frame < 600, "long-term cap never reached"
    assert stats.long_term_elements <= config.max_long_term_elements
    assert peak_elements <= config.max_long_term_elements + config.max_mid_term_frames * 28
    assert max(rss_after) <= rss_at_cap * 1.10, (rss_at_cap, max(rss_after))
