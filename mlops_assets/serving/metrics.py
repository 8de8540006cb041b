"""The service's Prometheus metrics, in a registry of their own (one per service instance).

`prometheus_client` picks where metric values live when it is first imported: in memory, or in mmap files
when `PROMETHEUS_MULTIPROCESS_DIR` is set, which `import feast` does (for Feast's own multi-worker feature
server) and which a child of any process that imported Feast inherits. In mmap files the values of every
`ServiceMetrics` in a process would be merged and a replaced model version's label could not be removed,
so this single-process service creates its metrics with in-memory values whatever was imported first.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values

# No public switch exists: the metric classes read `values.ValueClass` when each metric is created.
values.ValueClass = values.MutexValue

# Fine buckets below 10 ms: the latency target is a p99 of 10 ms.
LATENCY_BUCKETS = (0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class ServiceMetrics:
    """Request count and latency, the served model versions, shadow and reload outcomes."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "mlops_serve_requests",
            "HTTP requests by endpoint and status",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "mlops_serve_request_latency_seconds",
            "Time to answer a scoring request (server side)",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.model_info = Gauge(
            "mlops_serve_model_info",
            "1 for each registered version that serves (role: champion, challenger)",
            ["role", "model", "version"],
            registry=self.registry,
        )
        self.batch_transactions = Histogram(
            "mlops_serve_batch_transactions",
            "Transactions scored per scoring call (requests that queued meanwhile are scored together)",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=self.registry,
        )
        self.shadow_errors = Counter(
            "mlops_serve_shadow_errors",
            "Transactions whose challenger scoring failed or was skipped",
            ["reason"],
            registry=self.registry,
        )
        self.shadow_worker_restarts = Counter(
            "mlops_serve_shadow_worker_restarts",
            "Times the shadow worker process had died and a new one was started",
            registry=self.registry,
        )
        self.reloads = Counter(
            "mlops_serve_model_reloads",
            "Times what serves changed after an alias moved",
            registry=self.registry,
        )
        self.cold_starts = Counter(
            "mlops_serve_cold_starts",
            "Transactions of an entity without state (customer, merchant)",
            ["entity"],
            registry=self.registry,
        )
        self.dependency_errors = Counter(
            "mlops_serve_dependency_errors",
            "Failed or timed-out dependency calls",
            ["service"],
            registry=self.registry,
        )
