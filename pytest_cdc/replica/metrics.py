"""Per-table Prometheus gauges of a replica validation (``pytest-cdc validate --metrics`` and
the pytest items' ``--cdc-metrics-file``).

Gauges, labelled by source table: rows checked (both sides), mismatched rows, rows in flight
and suspended (live CDC), seconds, and the table's state as a state set (1 for its state, 0
for the others, so an alert can say ``cdc_replica_table_state{state="mismatched"} == 1``).
prometheus_client is imported only when metrics are asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from pytest_cdc.replica.report import STATES, TableResult

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

_GAUGES: tuple[tuple[str, str, Callable[[TableResult], float]], ...] = (
    ("cdc_replica_rows_checked", "Rows read on both sides", lambda t: t.rows_checked),
    ("cdc_replica_mismatched_rows", "Rows missing, extra or changed", lambda t: t.mismatches),
    ("cdc_replica_in_flight_rows", "Rows that matched on a re-check", lambda t: t.in_flight_count),
    (
        "cdc_replica_suspended_rows",
        "Rows still changing on the source",
        lambda t: t.suspended_count,
    ),
    ("cdc_replica_duration_seconds", "Seconds the table's checks took", lambda t: t.seconds),
)


class ReplicaCollector:
    """Reads the results when scraped or written, so the pytest items can add to them."""

    def __init__(self, results: Callable[[], Sequence[TableResult]]) -> None:
        self._results = results

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily, StateSetMetricFamily

        results = list(self._results())
        for name, doc, value in _GAUGES:
            family = GaugeMetricFamily(name, doc, labels=["table"])
            for result in results:
                family.add_metric([result.source_table], float(value(result)))
            yield family
        states = StateSetMetricFamily(
            "cdc_replica_table_state", "The table's validation state", labels=["table"]
        )
        for result in results:
            states.add_metric([result.source_table], {s: s == result.state for s in STATES})
        yield states


def register(registry: CollectorRegistry, results: Callable[[], Sequence[TableResult]]) -> None:
    registry.register(ReplicaCollector(results))


def write_metrics(path: str, results: Sequence[TableResult]) -> None:
    """Write the gauges of ``results`` to ``path`` (atomically)."""
    from prometheus_client import CollectorRegistry

    from pytest_cdc.metrics import write_metrics_file

    registry = CollectorRegistry()
    register(registry, lambda: results)
    write_metrics_file(path, registry)
