"""Shared fixtures: stand-in weights, a loaded model, and a saved checkpoint file."""
from __future__ import annotations

import pytest
import torch

from golden import stand_in_state_dict


@pytest.fixture(scope="session")
def stand_in_state():
    """State dict of the golden stand-in weights (skips if ../shared is absent)."""
    return stand_in_state_dict()


@pytest.fixture(scope="session")
def model(stand_in_state):
    """XMemNetwork with the stand-in weights on the CPU."""
    from xmempp import load_model

    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    return load_model(stand_in_state, device="cpu")


@pytest.fixture(scope="session")
def checkpoint_path(stand_in_state, tmp_path_factory):
    """The stand-in weights saved as an official-format .pth file."""
    path = tmp_path_factory.mktemp("weights") / "XMem-standin.pth"
    torch.save(stand_in_state, path)
    return path
