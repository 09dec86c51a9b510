"""The live status line of ``stack up`` and ``airflow up``: which component is starting, for
how long, and what its readiness probe last answered."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from batchpipe_cli import console as console_module
from batchpipe_cli.stack.activity import ACTIVITY, Activity
from batchpipe_cli.stack.process import StackError, wait_until


def test_activity_names_the_component_its_age_and_its_wait() -> None:
    activity = Activity()
    assert activity.describe() == ""
    with activity.starting("kafka"):
        assert re.fullmatch(r"starting kafka \(\d+s\)", activity.describe())
        activity.note("waiting for kafka: KafkaConnectionError: refused")
        assert re.fullmatch(
            r"starting kafka \(\d+s\): waiting for kafka: KafkaConnectionError: refused",
            activity.describe(),
        )
        assert activity.elapsed() >= 0
    assert activity.describe() == "", "nothing is shown once the component is up"


def test_wait_until_reports_what_the_probe_last_answered() -> None:
    failures = iter([RuntimeError("not healthy yet: scheduler")])
    seen = []

    def probe() -> bool:
        for failure in failures:
            raise failure
        seen.append(ACTIVITY.describe())
        return True

    with ACTIVITY.starting("airflow"):
        wait_until(probe, timeout=5, what="airflow")
    assert seen and "starting airflow" in seen[0]
    assert "waiting for airflow: RuntimeError: not healthy yet: scheduler" in seen[0]


def test_wait_until_names_what_never_became_ready() -> None:
    with pytest.raises(StackError, match=r"pg-sink-1 not ready after 0s \(not ready\)"):
        wait_until(lambda: False, timeout=0.3, what="pg-sink-1")


def test_live_status_draws_the_line_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=100)
    monkeypatch.setattr(console_module, "console", terminal)
    with ACTIVITY.starting("postgres"), console_module.live_status():
        ACTIVITY.note("waiting for postgres: connection refused")
    assert "starting postgres (0s): waiting for postgres: connection refused" in screen.getvalue()


def test_components_started_at_once_are_each_shown_with_their_own_wait() -> None:
    import threading

    activity = Activity()
    noted = threading.Barrier(2)
    with activity.starting("kafka"):
        activity.note("waiting for kafka: refused")

        def other() -> None:
            with activity.starting("s3"):
                activity.note("waiting for s3: listing failed")
                noted.wait()
                noted.wait()  # the main thread reads the line in between

        thread = threading.Thread(target=other)
        thread.start()
        noted.wait()
        line = activity.describe()
        noted.wait()
        thread.join()
        assert "starting kafka" in line and "waiting for kafka: refused" in line
        assert "starting s3" in line and "waiting for s3: listing failed" in line
        assert activity.describe().count("starting") == 1, "s3 is gone once it is up"
