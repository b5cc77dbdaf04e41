"""Plan shapes: the part of a plan that should not change by accident, and the tree diff of two.

A shape keeps the node types, the relation and index each node reads, join types and their
order, and whether a relation is reached by scan, seek or lookup.  Costs and row estimates are
kept beside it and compared only when asked (``max_cost_ratio``).  What differs between
machines and server versions without mattering is normalised away, by rules each engine object
states as data (:class:`ShapeConventions`, from ``Dialect.shape_conventions()``):

* parallel-aware operators lose their ``Parallel`` prefix, and gather nodes (PostgreSQL's
  Gather/Gather Merge, SQL Server's Parallelism) go, unless ``keep_gather``;
* partial aggregates under a gather go (the finalising aggregate above them stays);
* decorations go: PostgreSQL's Memoize, Materialize and the Hash under a Hash Join; SQL
  Server's Compute Scalar and Bitmap;
* a bitmap heap scan over one bitmap index scan is one index read, and an index-only scan is an
  index scan (which one the planner picks follows the visibility map, that is, when VACUUM ran);
* right joins are their left mirror with the inputs swapped;
* an append reads each distinct member once, and an append of one member is that member
  (partitions are already named by their parent table by the engine object);
* costs of disabled nodes are real costs (PostgreSQL before 18 adds 1e10 to them).

Row estimates, costs, workers, buffers, "Index Searches" and every other run-time counter never
enter a shape: it is built from an allow-list of a node's properties.

Comparing two shapes, and showing them side by side, is :mod:`.shape_diff`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from pytest_cdc.errors import ConfigError, PlanError, did_you_mean
from pytest_cdc.plans.model import Plan, PlanNode

__all__ = ["ASPECTS", "PlanShape", "ShapeConventions", "ShapeNode", "ShapeRules", "shape_of"]

#: What a comparison may be told to ignore (``-- cdc: plan-ignore=join-order``).
ASPECTS = ("join-order", "join-method", "index-name")


@dataclass(frozen=True)
class ShapeConventions:
    """How one engine's plans are normalised into shapes: data, not code, per engine."""

    #: Prefix of parallel-aware operators ("Parallel Seq Scan" -> "Seq Scan").
    parallel_prefix: str = ""
    #: Operators that are the same read for a shape ("Index Only Scan" -> "Index Scan").
    operator_aliases: Mapping[str, str] = field(default_factory=dict)
    #: Operators that only move rows between parallel workers.
    gather_operators: frozenset[str] = frozenset()
    #: Operators that only decorate their input (caches, hash builds, scalar computations).
    decorations: frozenset[str] = frozenset()
    #: (detail, value) pairs, or logical operators, of partial aggregates under a gather.
    partial_details: frozenset[tuple[str, str]] = frozenset()
    partial_logical: frozenset[str] = frozenset()
    #: A heap read driven by a bitmap of one index: (heap operator, index operator).
    bitmap_pair: tuple[str, str] | None = None
    #: What a folded bitmap read is called, and what an index read's predicate holds when it
    #: seeks (a bitmap index read without it walks the whole index).
    index_read: str = "Index Scan"
    index_condition: str = ""
    #: Operators that read the members of a partitioned or inherited table one after another.
    append_operators: frozenset[str] = frozenset()
    #: Join operators, and the word a logical operator holds when it names a join type
    #: (SQL Server's Hash Match also aggregates: only "... Join" is a join there).
    join_operators: frozenset[str] = frozenset()
    join_marker: str = ""
    #: Join type -> its mirror with the inputs swapped ("Right" -> "Left").
    mirrored_joins: Mapping[str, str] = field(default_factory=dict)
    #: Cost added to disabled paths (PostgreSQL before 18): taken off again.
    disable_cost: float | None = None


@dataclass(frozen=True)
class ShapeRules:
    """What a snapshot compares: ``ignore`` aspects (:data:`ASPECTS`), gather nodes kept or not,
    the cost gate (fail when the cost exceeds ``max_cost_ratio`` times the recorded one), and
    ``skip`` for a statement left out of snapshots altogether."""

    ignore: frozenset[str] = frozenset()
    keep_gather: bool = False
    max_cost_ratio: float | None = None
    skip: bool = False

    def __post_init__(self) -> None:
        unknown = sorted(set(self.ignore) - set(ASPECTS))
        if unknown:
            raise ConfigError(
                f"unknown plan aspect {unknown[0]!r}{did_you_mean(unknown[0], ASPECTS)}:"
                f" ignore takes {', '.join(ASPECTS)}"
            )
        ratio = self.max_cost_ratio
        if ratio is not None and not (isinstance(ratio, int | float) and ratio > 0):
            raise ConfigError(f"max_cost_ratio={ratio!r} is not a positive number, e.g. 1.1")

    @classmethod
    def of(
        cls,
        *,
        ignore: str | Iterable[str] = (),
        keep_gather: bool = False,
        max_cost_ratio: float | None = None,
    ) -> ShapeRules:
        aspects = [ignore] if isinstance(ignore, str) else list(ignore)
        return cls(frozenset(aspects), bool(keep_gather), max_cost_ratio)


# -- shapes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShapeNode:
    """One operator of a shape; ``access`` is "scan", "seek", "lookup" or None."""

    op: str
    join: str | None = None
    relation: str | None = None
    index: str | None = None
    access: str | None = None
    disabled: bool = False
    children: tuple[ShapeNode, ...] = ()

    @property
    def label(self) -> str:
        text = self.op
        if self.join:
            text += f" ({self.join})"
        if self.relation:
            text += f" on {self.relation}"
        if self.index:
            text += f" using {self.index}"
        flags = ([self.access] if self.access else []) + (["disabled"] if self.disabled else [])
        return text + (f" [{', '.join(flags)}]" if flags else "")

    def walk(self) -> Iterator[ShapeNode]:
        yield self
        for child in self.children:
            yield from child.walk()

    def lines(self, depth: int = 0) -> list[str]:
        prefix = "  " * depth + ("-> " if depth else "")
        out = [prefix + self.label]
        for child in self.children:
            out.extend(child.lines(depth + 1))
        return out

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"op": self.op}
        for key in ("join", "relation", "index", "access"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        if self.disabled:
            data["disabled"] = True
        if self.children:
            data["children"] = [child.to_dict() for child in self.children]
        return data

    @classmethod
    def from_dict(cls, data: Any) -> ShapeNode:
        if not isinstance(data, dict) or not isinstance(data.get("op"), str):
            raise PlanError(f"not a plan shape node: {json.dumps(data)[:80]}")
        children = data.get("children", [])
        if not isinstance(children, list):
            raise PlanError(f"the children of {data['op']!r} are not a list")
        text = {k: data.get(k) for k in ("join", "relation", "index", "access")}
        if any(v is not None and not isinstance(v, str) for v in text.values()):
            raise PlanError(f"a property of {data['op']!r} is not text")
        return cls(
            op=data["op"],
            disabled=bool(data.get("disabled", False)),
            children=tuple(cls.from_dict(child) for child in children),
            **text,
        )


@dataclass(frozen=True)
class PlanShape:
    """The shape of each statement of a plan, with the estimates kept beside it."""

    dialect: str
    statements: tuple[ShapeNode | None, ...]
    cost: float | None = None
    rows: float | None = None

    def lines(self) -> list[str]:
        out: list[str] = []
        several = len(self.statements) > 1
        for number, root in enumerate(self.statements, 1):
            if several:
                out.append(f"statement {number}:")
            out.extend(root.lines() if root is not None else ["(no operators)"])
        return out

    def nodes(self) -> Iterator[ShapeNode]:
        for root in self.statements:
            if root is not None:
                yield from root.walk()


# -- normalising a plan ------------------------------------------------------------------


def shape_of(plan: Plan, conventions: ShapeConventions, *, keep_gather: bool = False) -> PlanShape:
    """The normalised shape of ``plan`` (see the module docstring for the rules)."""
    roots: list[ShapeNode | None] = []
    costs: list[float] = []
    for statement in plan.statements:
        nodes = _normalise(statement.root, conventions, keep_gather) if statement.root else []
        if len(nodes) > 1:  # a decoration at the top with several inputs
            nodes = [ShapeNode("Sequence", children=tuple(nodes))]
        roots.append(nodes[0] if nodes else None)
        if statement.cost is not None:
            costs.append(_real_cost(statement.cost, conventions))
    root = plan.root
    rows = root.estimated_rows if root is not None else None
    return PlanShape(
        dialect=plan.dialect,
        statements=tuple(roots),
        cost=sum(costs) if costs else None,
        rows=rows,
    )


def rounded(value: float) -> float:
    # Six significant digits: the planners print two decimals (PostgreSQL) or about seven
    # (SQL Server); beyond that a float's last bits would only churn the snapshot files.
    short = float(f"{value:.6g}")
    return int(short) if short.is_integer() else short


def _real_cost(cost: float, conventions: ShapeConventions) -> float:
    disable = conventions.disable_cost
    if disable and cost >= disable:
        return rounded(cost % disable)  # 1e10 + 8.31 keeps only about six decimals of 8.31
    return cost


def _normalise(node: PlanNode, c: ShapeConventions, keep_gather: bool) -> list[ShapeNode]:
    """``node`` as zero or more shape nodes (a node that goes leaves its children)."""
    children = [n for child in node.children for n in _normalise(child, c, keep_gather)]
    op = node.operator
    if c.parallel_prefix and op.startswith(c.parallel_prefix):
        op = op[len(c.parallel_prefix) :]
    op = c.operator_aliases.get(op, op)
    if op in c.decorations or (op in c.gather_operators and not keep_gather):
        return children
    if node.logical_operator in c.partial_logical or (
        c.partial_details and any(d in c.partial_details for d in node.details)
    ):
        return children
    if c.bitmap_pair and op == c.bitmap_pair[0]:
        inner = node.children[0] if len(node.children) == 1 else None
        if inner is not None and inner.operator == c.bitmap_pair[1]:
            seeks = c.index_condition in (inner.predicate or "")
            return [
                ShapeNode(
                    c.index_read,
                    relation=_qualified(node),
                    index=inner.index,
                    access="seek" if seeks else "scan",
                    disabled=node.disabled or inner.disabled,
                )
            ]
        # BitmapAnd/BitmapOr of several indexes: each index read is a read of this relation
        children = [_adopted(child, _qualified(node), c.bitmap_pair[1]) for child in children]
    join = None
    logical = node.logical_operator
    if op in c.join_operators and logical and (not c.join_marker or c.join_marker in logical):
        join = logical
    if join is not None and join in c.mirrored_joins and len(children) == 2:
        join = c.mirrored_joins[join]
        children.reverse()
    if op in c.append_operators:
        children = list(dict.fromkeys(children))  # identical members once, first order kept
        if len(children) == 1:
            return children
    access = "scan" if node.is_scan else "seek" if node.is_seek else None
    access = "lookup" if node.is_lookup else access
    return [
        ShapeNode(
            op,
            join=join,
            relation=_qualified(node),
            index=node.index,
            access=access,
            disabled=node.disabled,
            children=tuple(children),
        )
    ]


def _adopted(node: ShapeNode, relation: str | None, index_op: str) -> ShapeNode:
    children = tuple(_adopted(child, relation, index_op) for child in node.children)
    if node.op == index_op and node.relation is None:
        return replace(node, relation=relation, children=children)
    return replace(node, children=children)


def _qualified(node: PlanNode) -> str | None:
    if not node.relation:
        return None
    return f"{node.schema}.{node.relation}" if node.schema else node.relation
