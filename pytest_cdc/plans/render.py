"""Plans as indented text trees, with the nodes a failure is about marked."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from pytest_cdc.plans.model import Plan, PlanNode

MARK = ">>"


def figure(value: float | None) -> str:
    """A cost or row count as every plan message shows it: plain decimals, never an exponent
    (a disabled path costs 10000000006.5, not 1.000e+10 here and 10000000006 there), two
    places from 1 up and up to six below (SQL Server's costs are small), trailing zeros off."""
    if value is None:
        return "?"
    text = f"{value:.2f}" if abs(value) >= 1 or value == 0 else f"{value:.6f}"
    text = text.rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def buffers_text(buffers: Iterable[tuple[str, int]]) -> str:
    """``shared hit=12 read=3, temp written=5``: PostgreSQL's own way of showing them."""
    groups: dict[str, list[str]] = {}
    for label, count in buffers:
        kind, what = label.split(" ", 1)
        groups.setdefault(kind, []).append(f"{what}={count}")
    return ", ".join(f"{kind} {' '.join(parts)}" for kind, parts in groups.items())


def node_line(node: PlanNode) -> str:
    figures = f"rows={figure(node.estimated_rows)}"
    if node.actual_rows is not None:
        figures += f" actual={figure(node.actual_rows)}"
    figures += f" cost={figure(node.cost)}"
    line = f"{node.label}  ({figures})"
    if node.disabled:
        line += " [disabled]"
    return line


def render_plan(
    plan: Plan,
    *,
    marked: Iterable[PlanNode] | Callable[[PlanNode], bool] = (),
    details: bool = True,
) -> str:
    """The plan as a tree, one operator a line; marked nodes start with ``>>`` and, with
    ``details``, show their predicate and warnings underneath.  Blocks read and hit show under
    each node when the plan has them (EXPLAIN BUFFERS)."""
    if callable(marked):
        is_marked = marked
    else:
        ids = {id(node) for node in marked}

        def is_marked(node: PlanNode) -> bool:
            return id(node) in ids

    lines: list[str] = []
    several = len(plan.statements) > 1
    for number, statement in enumerate(plan.statements, 1):
        if several or statement.missing_indexes:
            text = " ".join((statement.text or "").split())
            if len(text) > 100:
                text = text[:97] + "..."
            lines.append(f"statement {number}: {text}" if text else f"statement {number}")
        if statement.root is None:
            lines.append("   (no operators)")
            continue
        for depth, node in statement.root.walk_with_depth():
            flag = is_marked(node)
            prefix = MARK if flag else "  "
            arrow = "-> " if depth else ""
            indent = " " * (1 + 4 * depth)
            lines.append(f"{prefix}{indent}{arrow}{node_line(node)}")
            pad = " " * (len(prefix) + len(indent) + len(arrow) + 3)
            if flag and details:
                if node.predicate:
                    lines.append(f"{pad}{node.predicate}")
                lines.extend(f"{pad}warning: {w}" for w in node.warnings)
            if node.buffers:
                lines.append(f"{pad}buffers: {buffers_text(node.buffers)}")
        if statement.planning_buffers:
            lines.append(f"   planning buffers: {buffers_text(statement.planning_buffers)}")
    return "\n".join(lines)
