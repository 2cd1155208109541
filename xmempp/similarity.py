"""The anisotropic L2 similarity and top-k softmax used to read memory."""
from __future__ import annotations

import math

import torch


def anisotropic_similarity(mem_key: torch.Tensor, mem_shrinkage: torch.Tensor | None,
                           query_key: torch.Tensor, query_selection: torch.Tensor | None) -> torch.Tensor:
    """Negative weighted squared distance between memory and query keys.

    Arguments:
        mem_key: (B, C, N) memory keys.
        mem_shrinkage: (B, 1, N) shrinkage of the memory side, or None.
        query_key: (B, C, M) query keys.
        query_selection: (B, C, M) selection of the query side, or None.
    Returns:
        (B, N, M) similarity, scaled by shrinkage / sqrt(C).
    """
    channels = mem_key.shape[1]
    mem_t = mem_key.transpose(1, 2)
    if query_selection is not None:
        a_sq = mem_t.pow(2) @ query_selection
        two_ab = 2 * (mem_t @ (query_key * query_selection))
        b_sq = (query_selection * query_key.pow(2)).sum(1, keepdim=True)
        similarity = -a_sq + two_ab - b_sq
    else:
        a_sq = mem_key.pow(2).sum(1).unsqueeze(2)
        two_ab = 2 * (mem_t @ query_key)
        similarity = -a_sq + two_ab
    if mem_shrinkage is not None:
        return similarity * mem_shrinkage.transpose(1, 2) / math.sqrt(channels)
    return similarity / math.sqrt(channels)


def topk_softmax(similarity: torch.Tensor, top_k: int | None) -> torch.Tensor:
    """Softmax over the memory axis (dim 1) keeping only the top-k entries per query.

    As in XMem, the exponent is taken without subtracting the maximum. When the
    memory holds fewer than `top_k` elements, all of them are kept.
    """
    if top_k is None:
        return torch.softmax(similarity, dim=1)
    k = min(top_k, similarity.shape[1])
    values, indices = torch.topk(similarity, k=k, dim=1)
    weights = values.exp()
    weights = weights / weights.sum(dim=1, keepdim=True)
    return torch.zeros_like(similarity).scatter_(1, indices, weights)
