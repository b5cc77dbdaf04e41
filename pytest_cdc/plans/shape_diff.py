"""Comparing two plan shapes: what changed, worst first, and both trees side by side.

The worst changes are those a regression gate exists for: an index no longer used (and the
table scanned instead), a new scan of a table (with its size when a live connection can say),
then a changed join method, a relation no longer or newly read, the join order, and operators
that came or went.  A shape that only got better is still a change: the snapshot is out of
date, and ``--cdc-plan-update`` records it.
"""

from __future__ import annotations

import difflib
import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import NamedTuple

from pytest_cdc.plans.shape import PlanShape, ShapeNode, ShapeRules

__all__ = ["Change", "canonical", "compare_shapes", "render_side_by_side"]


class Change(NamedTuple):
    """One difference between a recorded shape and a new one; severity 0 is the worst."""

    severity: int
    text: str


def _canonical(node: ShapeNode, ignore: frozenset[str]) -> ShapeNode:
    children = tuple(_canonical(child, ignore) for child in node.children)
    op, index = node.op, node.index
    if node.join is not None and "join-method" in ignore:
        op = "Join"
    if index is not None and "index-name" in ignore:
        index = "(an index)"
    if node.join is not None and "join-order" in ignore:
        children = tuple(sorted(children, key=lambda n: json.dumps(n.to_dict(), sort_keys=True)))
    return replace(node, op=op, index=index, children=children)


def canonical(shape: PlanShape, rules: ShapeRules) -> PlanShape:
    """``shape`` with what ``rules`` ignore made alike (indexes, join methods, join order)."""
    if not rules.ignore:
        return shape
    statements = tuple(
        _canonical(root, rules.ignore) if root is not None else None for root in shape.statements
    )
    return replace(shape, statements=statements)


def compare_shapes(
    recorded: PlanShape,
    now: PlanShape,
    rules: ShapeRules | None = None,
    *,
    table_rows: Callable[[str], int | None] | None = None,
) -> list[Change]:
    """What changed from ``recorded`` to ``now``, worst first; ``[]`` when nothing did.

    ``table_rows(relation)`` sizes a newly scanned table (a live row count); without it the
    plan's own estimate of the scan is shown.
    """
    rules = rules or ShapeRules()
    old, new = canonical(recorded, rules), canonical(now, rules)
    changes: list[Change] = []
    if old.statements != new.statements:
        changes = _structural_changes(old, new, table_rows)
    ratio, was, cost = rules.max_cost_ratio, recorded.cost, now.cost
    if ratio is not None and was and cost is not None and cost > was * ratio:
        changes.append(
            Change(
                2,
                f"estimated cost {cost:g} is {cost / was:.2f}x the recorded {was:g}"
                f" (max_cost_ratio={ratio:g})",
            )
        )
    return sorted(set(changes))


def _reads(shape: PlanShape) -> dict[str, list[ShapeNode]]:
    found: dict[str, list[ShapeNode]] = {}
    for node in shape.nodes():
        if node.relation:
            found.setdefault(node.relation, []).append(node)
    return found


def _indexes(nodes: Iterable[ShapeNode]) -> set[str]:
    return {n.index for n in nodes if n.index and n.access != "scan"}


def _scans(nodes: Iterable[ShapeNode]) -> list[ShapeNode]:
    return [n for n in nodes if n.access == "scan"]


def _structural_changes(
    old: PlanShape, new: PlanShape, table_rows: Callable[[str], int | None] | None
) -> list[Change]:
    changes: list[Change] = []
    if len(old.statements) != len(new.statements):
        changes.append(
            Change(2, f"the batch has {len(new.statements)} statements (was {len(old.statements)})")
        )
    before, after = _reads(old), _reads(new)

    def size(relation: str) -> str:
        rows = table_rows(relation) if table_rows is not None else None
        return "" if rows is None else f" ({rows:,} row{'' if rows == 1 else 's'})"

    for relation in sorted(set(before) | set(after)):
        was, now = before.get(relation, []), after.get(relation, [])
        if not now:
            changes.append(Change(3, f"{relation!r} is no longer read"))
            continue
        if not was:
            scanned = _scans(now)
            if scanned:
                changes.append(
                    Change(1, f"new scan: {scanned[0].label}{size(relation)} (was not read)")
                )
            else:
                changes.append(Change(3, f"{relation!r} is now read: {now[0].label}"))
            continue
        lost = sorted(_indexes(was) - _indexes(now))
        new_scans = [n for n in _scans(now) if n.label not in {w.label for w in _scans(was)}]
        if lost:
            how = new_scans[0].label if new_scans else " / ".join(n.label for n in now)
            walked = {n.index for n in _scans(now) if n.index}
            for number, index in enumerate(lost):
                # The first lost index carries what replaced it; the others only say they went.
                now_text = f": now {how}{size(relation) if new_scans else ''}" if not number else ""
                verb = "is now walked whole" if index in walked else "is no longer used"
                severity = 0 if new_scans else 1
                changes.append(
                    Change(severity, f"index {index!r} on {relation!r} {verb}{now_text}")
                )
        elif new_scans:
            changes.append(Change(1, f"new scan: {new_scans[0].label}{size(relation)}"))
        gained = sorted(_indexes(now) - _indexes(was))
        if gained and not lost:
            was_read = " / ".join(n.label for n in was)
            for index in gained:
                changes.append(Change(5, f"{relation!r} now uses index {index!r} (was {was_read})"))
        elif not lost and not new_scans and [n.label for n in was] != [n.label for n in now]:
            changes.append(
                Change(
                    4,
                    f"{relation!r} is read differently: {' / '.join(n.label for n in was)} ->"
                    f" {' / '.join(n.label for n in now)}",
                )
            )
    old_joins = [n for n in old.nodes() if n.join is not None]
    new_joins = [n for n in new.nodes() if n.join is not None]
    old_methods = Counter(f"{n.op} ({n.join})" for n in old_joins)
    new_methods = Counter(f"{n.op} ({n.join})" for n in new_joins)
    if old_methods != new_methods:
        gone = ", ".join(sorted((old_methods - new_methods).elements())) or "no join"
        came = ", ".join(sorted((new_methods - old_methods).elements())) or "no join"
        changes.append(Change(2, f"join method changed: {gone} -> {came}"))
    old_order = [n.relation for n in old.nodes() if n.relation]
    new_order = [n.relation for n in new.nodes() if n.relation]
    if old_joins and old_order != new_order and Counter(old_order) == Counter(new_order):
        changes.append(
            Change(3, f"join order changed: {', '.join(old_order)} -> {', '.join(new_order)}")
        )
    others_old = Counter(n.op for n in old.nodes() if not n.relation and n.join is None)
    others_new = Counter(n.op for n in new.nodes() if not n.relation and n.join is None)
    for op in sorted((others_new - others_old).elements()):
        changes.append(Change(4, f"new {op}"))
    for op in sorted((others_old - others_new).elements()):
        changes.append(Change(4, f"no {op} any more"))
    if not changes:
        order_was = " > ".join(n.op for n in old.nodes())
        order_now = " > ".join(n.op for n in new.nodes())
        what = f": {order_was} -> {order_now}" if order_was != order_now else ""
        changes.append(Change(4, f"operators in another order{what}"))
    return changes


# -- showing two shapes side by side -----------------------------------------------------------


def render_side_by_side(
    recorded: PlanShape,
    now: PlanShape,
    *,
    titles: tuple[str, str] = ("recorded", "now"),
    width: int = 60,
) -> str:
    """Both trees in two columns; the middle column marks changed (``!``), removed (``<``)
    and added (``>``) lines, ``|`` those alike."""
    left, right = recorded.lines(), now.lines()
    column = min(max([len(titles[0]), *map(len, left)]), width)

    def cut(text: str) -> str:
        return text if len(text) <= column else text[: column - 3] + "..."

    rows = [f"{titles[0]:<{column}} | {titles[1]}"]
    matcher = difflib.SequenceMatcher(None, left, right, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            rows.extend(
                f"{cut(a):<{column}} | {b}" for a, b in zip(left[i1:i2], right[j1:j2], strict=True)
            )
            continue
        olds, news = left[i1:i2], right[j1:j2]
        for k in range(max(len(olds), len(news))):
            a = olds[k] if k < len(olds) else ""
            b = news[k] if k < len(news) else ""
            mark = "!" if a and b else "<" if a else ">"
            rows.append(f"{cut(a):<{column}} {mark} {b}")
    return "\n".join(row.rstrip() for row in rows)
