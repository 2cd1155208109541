"""The service's scheduler (`xmempp.service.scheduler.Scheduler`): its old name `Engine` still works, with a
deprecation notice."""

from __future__ import annotations

import importlib

import pytest


def test_the_old_engine_names_still_work_with_a_deprecation_warning():
    from xmempp.service.scheduler import Scheduler, SchedulerClosed

    service = importlib.import_module("xmempp.service")
    with pytest.warns(DeprecationWarning, match=r"xmempp\.service\.Engine is deprecated, use .*Scheduler"):
        assert service.Engine is Scheduler
    old = importlib.import_module("xmempp.service.engine")
    with pytest.warns(DeprecationWarning, match="EngineClosed is deprecated"):
        assert old.EngineClosed is SchedulerClosed
    with pytest.raises(AttributeError):
        service.NoSuchName  # noqa: B018
