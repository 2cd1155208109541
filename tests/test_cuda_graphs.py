"""CUDA-graph replay: the argument bookkeeping (runs anywhere) and its absence off CUDA.

That replays give the eager results is checked on a GPU in test_gpu.py.
"""

from __future__ import annotations

import torch

from xmempp.model.cuda_graphs import GRAPHED_CALLS, _flatten, _unflatten, use_cuda_graphs
from xmempp.model.network import KeyFeatures, XMemNetwork


def test_arguments_are_taken_apart_and_rebuilt_with_new_tensors():
    features = KeyFeatures(*(torch.full((1,), float(i)) for i in range(6)))
    args = ((features, torch.zeros(2), None, True), (("deep_update", False),))
    tensors: list[torch.Tensor] = []
    skeleton = _flatten(args, tensors)
    assert len(tensors) == 7 and tensors[0] is features.key and tensors[6].shape == (2,)
    replaced = [t + 10 for t in tensors]
    (rebuilt, kwargs) = _unflatten(skeleton, replaced)
    assert isinstance(rebuilt[0], KeyFeatures) and rebuilt[0].f4.item() == 15.0
    assert rebuilt[1] is replaced[6] and rebuilt[2] is None and rebuilt[3] is True
    assert dict(kwargs) == {"deep_update": False}


def test_a_network_off_cuda_is_left_as_it_is():
    network = XMemNetwork().eval()
    assert use_cuda_graphs(network) is network
    assert not any(name in vars(network) for name in GRAPHED_CALLS)
