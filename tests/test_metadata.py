"""The platform's reporting helpers: progress lines of a long ranged run."""

import logging
from time import perf_counter

import pytest

from mlops_assets.metadata import log_progress


def test_progress_is_logged_every_n_days_and_at_the_last(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("progress_test")
    started = perf_counter()
    with caplog.at_level(logging.INFO, logger="progress_test"):
        for done in range(1, 26):
            log_progress(log, "drift_report", done, 25, started, "3 HTML reports", every=10)
    lines = [r.getMessage() for r in caplog.records]
    assert [line.split(" in ")[0] for line in lines] == [
        "drift_report: 10/25 days",
        "drift_report: 20/25 days",
        "drift_report: 25/25 days",
    ]
    assert all(line.endswith(" s, 3 HTML reports") for line in lines)
