"""The machine's own limit: processor description from /proc/cpuinfo text, and the peak convolution."""

from __future__ import annotations

import torch

from xmempp.evaluation.peak import PeakConvolution, cpu_extensions, processor

XEON = """processor\t: 0
model name\t: Intel(R) Xeon(R) Processor @ 2.50GHz
flags\t\t: fpu sse avx avx2 fma avx512f avx512dq avx512_vnni amx_tile
"""
GRAVITON = """processor\t: 0
Features\t: fp asimd evtstrm aes sve bf16 i8mm
"""


def test_x86_extensions_are_read_from_the_flags_line():
    assert cpu_extensions(XEON) == ("avx2", "fma", "avx512f", "avx512_vnni", "amx_tile")


def test_arm_extensions_are_read_from_the_features_line():
    assert cpu_extensions(GRAVITON) == ("asimd", "sve", "bf16", "i8mm")


def test_no_cpuinfo_means_no_extensions():
    assert cpu_extensions("") == ()


def test_processor_names_this_cpu():
    cpu = processor(torch.device("cpu"))
    assert cpu.name and cpu.threads == torch.get_num_threads()
    assert cpu.name in cpu.describe()


def test_peak_counts_the_reference_convolution_and_is_a_positive_rate():
    peak = PeakConvolution(torch.device("cpu"))
    assert peak.flops == 2 * 256 * 256 * 9 * 120 * 216
    rates = [peak.gflops() for _ in range(2)]
    assert all(rate > 0 for rate in rates)
    assert peak.best(2) > 0
