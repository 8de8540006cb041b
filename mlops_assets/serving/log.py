"""The prediction log: every request and response, in daily folders of atomically written micro-batches.

Layout: `$MLOPS_DATA_DIR/serving/prediction_log/<YYYY-MM-DD>/<batch>.parquet`, one folder per event day
of the scored transactions, any number of batch files in it. Each batch is written to a hidden
temporary file and renamed into place (`lakehouse.write_parquet_atomic`), so a reader (the `serving_log`
asset) never sees half a file, and a crash loses at most the batch in memory. Files are never
rewritten: a later batch adds a file.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import polars as pl

from mlops_assets.defs.serving.contract import LOG_SCHEMA
from mlops_assets.domain import EVENT_TIMESTAMP
from mlops_assets.lakehouse import write_parquet_atomic
from mlops_assets.resources import PredictionLogResource

log = logging.getLogger(__name__)


class PredictionLog:
    """Buffers records and writes them as micro-batches: every `flush_interval_s` or `batch_rows` rows."""

    def __init__(self, root: Path, flush_interval_s: float = 1.0, batch_rows: int = 5000) -> None:
        self.root = root
        self.flush_interval_s = flush_interval_s
        self.batch_rows = batch_rows
        self._buffer: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.written_rows = 0
        self.write_errors = 0

    def append(self, records: Iterable[dict[str, Any]]) -> None:
        """Queue records for the next batch (cheap: the request path only appends to a list)."""
        with self._lock:
            self._buffer.extend(records)
            full = len(self._buffer) >= self.batch_rows
        if full:
            self._wake.set()

    def flush(self) -> int:
        """Write what is buffered now, one file per event day; returns the rows written.

        A failed write puts the rows back in the buffer (counted in `write_errors`) for the next try.
        """
        with self._lock:
            rows, self._buffer = self._buffer, []
        if not rows:
            return 0
        try:
            frame = pl.DataFrame(rows, schema=LOG_SCHEMA)
            stamp = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}"
            for (day,), part in frame.group_by(pl.col(EVENT_TIMESTAMP).dt.date(), maintain_order=True):
                folder = PredictionLogResource(root=str(self.root)).day_dir(day)  # type: ignore[arg-type]
                write_parquet_atomic(part, folder / f"batch-{stamp}.parquet")  # type: ignore[arg-type]
        except Exception:
            self.write_errors += 1
            log.exception(
                "prediction log: writing %d rows under %s failed; kept for the next try", len(rows), self.root
            )
            with self._lock:
                self._buffer = rows + self._buffer
            return 0
        self.written_rows += len(rows)
        return len(rows)

    def start(self) -> None:
        """Start the background flusher."""
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_interval_s)
            self._wake.clear()
            self.flush()

    def close(self) -> None:
        """Stop the flusher and write what is left."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.flush()
