"""The anisotropic L2 similarity and top-k softmax used to read memory."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch


def anisotropic_similarity(
    mem_key: torch.Tensor,
    mem_shrinkage: torch.Tensor | None,
    query_key: torch.Tensor,
    query_selection: torch.Tensor | None,
) -> torch.Tensor:
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


def query_major_similarity(
    mem_key: torch.Tensor, mem_shrinkage: torch.Tensor, query_key: torch.Tensor, query_selection: torch.Tensor
) -> torch.Tensor:
    """`anisotropic_similarity` laid out query-major: (M, N) for one frame, rows contiguous for top-k.

    The whole expression, (2ab - a^2 - b^2) * shrinkage / sqrt(C) summed over channels with the
    selection weights, is one matrix product of (2C+1)-row factors: [e; 2ek; -sum(e k^2)] for the
    query and [-m^2 s; m s; s] for the memory (s = shrinkage / sqrt(C)), so no (M, N) element-wise
    pass follows it.

    Arguments:
        mem_key (1, C, N), mem_shrinkage (1, 1, N), query_key (1, C, M), query_selection (1, C, M).
    Returns:
        (M, N) similarity of every query position to every memory element.
    """
    channels = mem_key.shape[1]
    mk, qk, qe = mem_key[0], query_key[0], query_selection[0]
    scale = mem_shrinkage[0] / math.sqrt(channels)
    query = torch.cat([qe, 2 * qk * qe, -(qe * qk.pow(2)).sum(0, keepdim=True)])
    memory = torch.cat([-mk.pow(2) * scale, mk * scale, scale])
    return query.t() @ memory


@dataclass
class TopKAffinity:
    """Sparse top-k softmax weights: each query row keeps `indices` (M, k) with `weights` (M, k)."""

    weights: torch.Tensor
    indices: torch.Tensor
    size: int

    @classmethod
    def from_similarity(cls, similarity: torch.Tensor, top_k: int) -> TopKAffinity:
        """Top-k softmax over the memory axis of a query-major (M, N) similarity (no max subtraction, as XMem)."""
        k = min(top_k, similarity.shape[1])
        values, indices = torch.topk(similarity, k=k, dim=1)
        weights = values.exp()
        return cls(weights / weights.sum(dim=1, keepdim=True), indices, similarity.shape[1])

    def usage(self) -> torch.Tensor:
        """Total weight each memory element received over all queries, (N,)."""
        usage = torch.zeros(self.size, device=self.weights.device, dtype=self.weights.dtype)
        return usage.index_add_(0, self.indices.flatten(), self.weights.flatten())

    def readout(self, values: torch.Tensor) -> torch.Tensor:
        """Weighted sum of memory values (K, Cv, N) for every query -> (K, Cv, M)."""
        objects, channels, size = values.shape
        flat = values.reshape(objects * channels, size).to(self.weights.dtype)
        queries, k = self.indices.shape
        if self.weights.device.type == "cpu":
            rows = torch.arange(0, queries * k + 1, k, device=self.indices.device)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
                sparse = torch.sparse_csr_tensor(
                    rows, self.indices.flatten(), self.weights.flatten(), size=(queries, size), check_invariants=False
                )
            out = (sparse @ flat.t()).t()
        else:
            dense = torch.zeros(queries, size, device=flat.device, dtype=flat.dtype)
            out = flat @ dense.scatter_(1, self.indices, self.weights).t()
        return out.reshape(objects, channels, queries)
