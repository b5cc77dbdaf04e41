"""Plans as indented text trees, with the nodes a failure is about marked."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from pytest_cdc.plans.model import Plan, PlanNode

MARK = ">>"


def _number(value: float | None) -> str:
    if value is None:
        return "?"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.4g}" if abs(value) < 1e6 else f"{value:.3e}"


def node_line(node: PlanNode) -> str:
    figures = f"rows={_number(node.estimated_rows)}"
    if node.actual_rows is not None:
        figures += f" actual={_number(node.actual_rows)}"
    figures += f" cost={_number(node.cost)}"
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
    ``details``, show their predicate and warnings underneath."""
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
            if flag and details:
                pad = " " * (len(prefix) + len(indent) + len(arrow) + 3)
                if node.predicate:
                    lines.append(f"{pad}{node.predicate}")
                lines.extend(f"{pad}warning: {w}" for w in node.warnings)
    return "\n".join(lines)
