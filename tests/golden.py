"""Access to the shared golden fixtures (../shared/golden), skipping where absent."""

from __future__ import annotations

import importlib.util
import json
import os
from functools import cache
from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"
GOLDEN = SHARED / "golden"
DATA = SHARED / "data"


#: Set (CI does) to make a missing shared fixture a failure instead of a skip.
REQUIRE_ENV = "XMEMPP_REQUIRE_GOLDEN"


def require(path: Path) -> Path:
    """Return `path`, or skip the test with the reason that the shared fixtures are absent (fail when
    `XMEMPP_REQUIRE_GOLDEN=1`, as in CI, so equivalence tests can never silently not run)."""
    if not path.exists():
        reason = f"shared fixture {path} is absent (tests expect ../shared beside the checkout)"
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(reason + f"; {REQUIRE_ENV}=1 requires it")
        pytest.skip(reason)
    return path


@cache
def manifest() -> dict:
    """The official checkpoint's key -> shape manifest."""
    return json.loads(require(GOLDEN / "xmem_state_dict.json").read_text())


@cache
def golden_json() -> dict:
    """Configs and expected answers of the golden fixtures."""
    return json.loads(require(GOLDEN / "golden.json").read_text())


def stand_in_state_dict() -> dict:
    """The deterministic stand-in weights the golden fixtures were made with."""
    spec = importlib.util.spec_from_file_location("deterministic_weights", require(GOLDEN / "deterministic_weights.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.deterministic_state_dict(manifest())


def load_npz(name: str) -> dict[str, np.ndarray]:
    """Load one golden .npz fully into memory."""
    with np.load(require(GOLDEN / f"{name}.npz")) as data:
        return {key: data[key] for key in data.files}
