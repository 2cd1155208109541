"""Shared fixtures: the tests' own seeded random weights (every test but the equivalence tests), the
shared stand-in weights (equivalence tests against the reference's outputs), loaded models and saved
checkpoint files of both."""

from __future__ import annotations

import pytest
import torch

from golden import stand_in_state_dict
from random_weights import random_state_dict

#: Seed of the tests' own weights. A random network's propagated masks can shrink to nothing on some
#: seeds (seed 0: objects at 0.06 % and 0.2 % of a frame), which leaves the selector, trackers and
#: exports nothing to work on; with this seed both objects of a two-disc clip stay at about 20 %.
RANDOM_WEIGHTS_SEED = 4


def _load(state: dict):
    from xmempp import load_model

    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    return load_model(state, device="cpu")


@pytest.fixture(scope="session", autouse=True)
def private_conv_timings(tmp_path_factory):
    """`--conv auto`'s recorded choices go to a session folder, not the user's cache (subprocesses the tests
    start inherit it: the same choices in every process, as on one machine)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XMEMPP_CONV_TIMINGS", str(tmp_path_factory.mktemp("conv_timings") / "conv_timings.json"))
        yield


@pytest.fixture(scope="session")
def state():
    """The tests' own weights: an official-layout state dict with seeded random values (no ../shared needed)."""
    return random_state_dict(seed=RANDOM_WEIGHTS_SEED)


@pytest.fixture(scope="session")
def model(state):
    """XMemNetwork with the tests' own weights on the CPU."""
    return _load(state)


@pytest.fixture(scope="session")
def checkpoint_path(state, tmp_path_factory):
    """The tests' own weights saved as an official-format .pth file."""
    path = tmp_path_factory.mktemp("weights") / "XMem-random.pth"
    torch.save(state, path)
    return path


@pytest.fixture(scope="session")
def stand_in_state():
    """State dict of the golden stand-in weights, for equivalence tests (skips if ../shared is absent)."""
    return stand_in_state_dict()


@pytest.fixture(scope="session")
def golden_model(stand_in_state):
    """XMemNetwork with the golden stand-in weights on the CPU (equivalence tests)."""
    return _load(stand_in_state)


@pytest.fixture(scope="session")
def golden_checkpoint_path(stand_in_state, tmp_path_factory):
    """The golden stand-in weights saved as an official-format .pth file (equivalence tests)."""
    path = tmp_path_factory.mktemp("golden-weights") / "XMem-standin.pth"
    torch.save(stand_in_state, path)
    return path


@pytest.fixture
def private_qt_settings(tmp_path_factory):
    """Recent workspaces and other Qt settings go to a temporary folder, not the user's (GUI test modules
    use it for every test: `pytestmark = pytest.mark.usefixtures("private_qt_settings")`)."""
    from PyQt5.QtCore import QSettings

    QSettings.setPath(QSettings.IniFormat, QSettings.UserScope, str(tmp_path_factory.mktemp("qt_settings")))
    QSettings.setDefaultFormat(QSettings.IniFormat)


@pytest.fixture
def captured(monkeypatch):
    """Qt message boxes record (kind, text) instead of blocking, and answer Ok."""
    from PyQt5.QtWidgets import QMessageBox

    shown: list[tuple[str, str]] = []

    def record(kind):
        def show(parent, title, text, *args, **kwargs):
            shown.append((kind, text))
            return QMessageBox.Ok

        return show

    for kind in ("critical", "warning", "information"):
        monkeypatch.setattr(QMessageBox, kind, record(kind))
    return shown
