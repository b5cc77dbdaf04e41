"""The dialect-neutral plan model both parsers fill in.

A :class:`Plan` holds one :class:`Statement` per statement of a batch (a PostgreSQL EXPLAIN has
exactly one; a SQL Server showplan can carry several), and each statement a tree of
:class:`PlanNode`.  Everything is frozen so plans can be cached, compared and shared between
threads without copies.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class MissingIndex:
    """An index the optimizer said it wanted (SQL Server ``MissingIndexes``, or derived)."""

    table: str
    equality: tuple[str, ...] = ()
    inequality: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    schema: str | None = None
    database: str | None = None
    impact: float | None = None

    @property
    def key_columns(self) -> tuple[str, ...]:
        # Equality columns lead: a seek on them narrows to one range that the inequality
        # column can then walk in order.
        return self.equality + self.inequality

    @property
    def qualified_table(self) -> str:
        return f"{self.schema}.{self.table}" if self.schema else self.table

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "schema": self.schema,
            "database": self.database,
            "equality": list(self.equality),
            "inequality": list(self.inequality),
            "include": list(self.include),
            "impact": self.impact,
        }


@dataclass(frozen=True)
class PlanNode:
    """One operator of a plan.

    ``relation`` is the table the operator reads; for a partition it is the partitioned
    (parent) table and ``partition`` keeps the partition's own name.  ``cost`` is the estimated
    total cost of the subtree, in the planner's own units (not comparable across dialects).
    """

    operator: str
    logical_operator: str | None = None
    relation: str | None = None
    schema: str | None = None
    alias: str | None = None
    index: str | None = None
    partition: str | None = None
    estimated_rows: float | None = None
    actual_rows: float | None = None
    # How many times the operator ran (EXPLAIN ANALYZE loops, showplan executions): estimated
    # rows are per run, so compare them with actual_rows / loops.
    loops: float | None = None
    cost: float | None = None
    children: tuple[PlanNode, ...] = ()
    is_scan: bool = False
    is_seek: bool = False
    is_lookup: bool = False
    storage: str | None = None
    disabled: bool = False
    warnings: tuple[str, ...] = ()
    predicate: str | None = None
    node_id: int | None = None
    details: tuple[tuple[str, str], ...] = field(default=(), compare=False)
    #: Blocks the operator touched (EXPLAIN BUFFERS), as ``("shared hit", 12)``; zeros left out.
    buffers: tuple[tuple[str, int], ...] = field(default=(), compare=False)

    @property
    def is_columnstore(self) -> bool:
        return (self.storage or "").lower() == "columnstore"

    @property
    def label(self) -> str:
        """``Seq Scan on orders`` / ``Index Seek on dbo.Users (IX_Name)``: the tree line."""
        text = self.operator
        if self.is_columnstore and "columnstore" not in text.lower():
            text += " (columnstore)"
        if self.relation:
            target = f"{self.schema}.{self.relation}" if self.schema else self.relation
            text += f" on {target}"
            if self.partition and self.partition != self.relation:
                text += f" (partition {self.partition})"
            if self.alias and self.alias not in (self.relation, self.partition):
                text += f" {self.alias}"
        if self.index:
            text += f" using {self.index}"
        return text

    def walk(self) -> Iterator[PlanNode]:
        """This node and every node under it, depth first, parents before children."""
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children))

    def walk_with_depth(self, depth: int = 0) -> Iterator[tuple[int, PlanNode]]:
        yield depth, self
        for child in self.children:
            yield from child.walk_with_depth(depth + 1)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "operator": self.operator,
            "logical_operator": self.logical_operator,
            "relation": self.relation,
            "schema": self.schema,
            "alias": self.alias,
            "index": self.index,
            "partition": self.partition,
            "estimated_rows": self.estimated_rows,
            "actual_rows": self.actual_rows,
            "loops": self.loops,
            "cost": self.cost,
            "is_scan": self.is_scan,
            "is_seek": self.is_seek,
            "is_lookup": self.is_lookup,
            "storage": self.storage,
            "disabled": self.disabled,
            "warnings": list(self.warnings),
            "predicate": self.predicate,
        }
        if self.buffers:
            data["buffers"] = dict(self.buffers)
        data["children"] = [child.to_dict() for child in self.children]
        return data


@dataclass(frozen=True)
class Statement:
    """One statement of a plan: its text (when the plan carries it) and its operator tree."""

    root: PlanNode | None
    text: str | None = None
    statement_type: str | None = None
    estimated_rows: float | None = None
    cost: float | None = None
    missing_indexes: tuple[MissingIndex, ...] = ()
    warnings: tuple[str, ...] = ()
    execution_time_ms: float | None = None
    planning_time_ms: float | None = None
    #: Blocks planning touched (EXPLAIN BUFFERS, PostgreSQL 13+), as PlanNode.buffers.
    planning_buffers: tuple[tuple[str, int], ...] = field(default=(), compare=False)

    def nodes(self) -> Iterator[PlanNode]:
        if self.root is not None:
            yield from self.root.walk()

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "statement_type": self.statement_type,
            "estimated_rows": self.estimated_rows,
            "cost": self.cost,
            "execution_time_ms": self.execution_time_ms,
            "planning_time_ms": self.planning_time_ms,
            "planning_buffers": dict(self.planning_buffers),
            "warnings": list(self.warnings),
            "missing_indexes": [mi.to_dict() for mi in self.missing_indexes],
            "plan": self.root.to_dict() if self.root is not None else None,
        }


@dataclass(frozen=True)
class Plan:
    """A whole plan: ``dialect`` is ``"postgresql"`` or ``"mssql"``; ``actual`` is true when
    the plan carries run-time counters (EXPLAIN ANALYZE, STATISTICS XML)."""

    dialect: str
    statements: tuple[Statement, ...]
    actual: bool = False
    source: str | None = None
    #: How the plan was taken, where a reader must know it (a generic plan for ``$1``...).
    notes: tuple[str, ...] = field(default=(), compare=False)

    @property
    def root(self) -> PlanNode | None:
        """The first statement's tree: what a single-statement EXPLAIN is about."""
        for statement in self.statements:
            if statement.root is not None:
                return statement.root
        return None

    def nodes(self) -> Iterator[PlanNode]:
        for statement in self.statements:
            yield from statement.nodes()

    def scans(self) -> list[PlanNode]:
        return [node for node in self.nodes() if node.is_scan]

    def seeks(self) -> list[PlanNode]:
        return [node for node in self.nodes() if node.is_seek]

    def lookups(self) -> list[PlanNode]:
        return [node for node in self.nodes() if node.is_lookup]

    def find(self, operator: str) -> list[PlanNode]:
        wanted = operator.lower()
        return [node for node in self.nodes() if node.operator.lower() == wanted]

    def relations(self) -> set[str]:
        return {node.relation for node in self.nodes() if node.relation}

    def indexes(self) -> set[str]:
        return {node.index for node in self.nodes() if node.index}

    @property
    def missing_indexes(self) -> tuple[MissingIndex, ...]:
        return tuple(mi for statement in self.statements for mi in statement.missing_indexes)

    @property
    def warnings(self) -> tuple[str, ...]:
        found = [w for statement in self.statements for w in statement.warnings]
        found += [w for node in self.nodes() for w in node.warnings]
        return tuple(dict.fromkeys(found))

    @property
    def cost(self) -> float | None:
        costs = [s.cost for s in self.statements if s.cost is not None]
        return sum(costs) if costs else None

    @property
    def estimated_rows(self) -> float | None:
        root = self.root
        return root.estimated_rows if root is not None else None

    @property
    def actual_rows(self) -> float | None:
        root = self.root
        return root.actual_rows if root is not None else None

    @property
    def execution_time_ms(self) -> float | None:
        times = [s.execution_time_ms for s in self.statements if s.execution_time_ms is not None]
        return sum(times) if times else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "dialect": self.dialect,
            "actual": self.actual,
            "source": self.source,
            "notes": list(self.notes),
            "statements": [statement.to_dict() for statement in self.statements],
        }
