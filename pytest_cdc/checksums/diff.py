"""The reconciliation engine: one checksum pass per level, recursion, streaming leaf diff.

Long because the recursion, the leaf diff and the report share the engine's state (its
found keys, counters and timings): split, they would hand that state back and forth.

1. Boundaries from a sample of the source (or exact quantiles for a small table).
2. One pass per side, both sides at once: (segment, row count, exact hash sum) per segment.
   The first pass writes floats as their probe text (their bits: far cheaper than the
   canonical rounding, and finer); a segment it finds differing is digested again
   canonically before anything below looks at it.
3. Segments whose (count, sum) agree are equal (an MD5-based 64-bit sum; docs/checksum.md
   gives the odds).  A differing segment small enough is fetched as (key, row hash) from both
   sides and diffed in Python; a bigger one is cut again with exact quantiles and re-checked.
4. Missing/extra keys found in different segments are matched up at the end (SQL Server
   compares char data ignoring trailing spaces, which can move a key across a boundary).
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from pytest_cdc.checksums.encoding import ColumnPair
from pytest_cdc.checksums.execution import Executor
from pytest_cdc.checksums.keys import NULL_SEGMENT
from pytest_cdc.checksums.report import ChangedRow, QueryRecord, ReconcileReport
from pytest_cdc.checksums.segments import (
    Estimate,
    KeyText,
    Segment,
    pick_bounds,
    sample_fraction,
    segments_from_bounds,
)
from pytest_cdc.checksums.sqlgen import SqlGenerator, TableRef
from pytest_cdc.errors import BadKey, Inconsistent

T = TypeVar("T")
_NUMBER = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")
#: Most canonical row text one ordered segment may hold: string_agg keeps a whole segment in
#: the backend's memory (PostgreSQL cannot grow one string past 1 GB), once per lane.
SEGMENT_BYTES = 32 << 20
#: Most segments an ordered pass cuts a table into to stay within SEGMENT_BYTES (a VALUES
#: list of that many bounds is still a small statement).
MAX_ORDERED_SEGMENTS = 16_384
#: Most keys the boundary sample brings into Python.
MAX_SAMPLE_ROWS = 200_000

#: segment -> (row count, exact hash sum) or (row count, MD5 hex of the rows in key order).
Checksums = dict[int, tuple[int, int | str]]


@dataclass
class Side:
    """One side of a reconciliation: its executor, its generator and its table."""

    label: str
    executor: Executor
    gen: SqlGenerator
    table: TableRef
    where: str | None
    #: More connections to the same database: the ordered aggregation spreads a pass's
    #: segments over them, as the additive pass spreads its rows over parallel workers.
    extra: list[Side] = field(default_factory=list)

    def run(self, purpose: str, sql: str, params: Sequence[Any] | None = None) -> list[Any]:
        return self.executor.run(purpose, sql, params)

    @property
    def queries(self) -> list[QueryRecord]:
        return self.executor.queries

    def lanes(self) -> list[Side]:
        """This side and its extra connections, each a :class:`Side` of its own."""
        return [self, *self.extra]


@dataclass(frozen=True)
class RunSettings:
    leaf_rows: int = 10_000
    max_segments: int = 1024
    exact_below: int = 100_000
    sample_factor: int = 20
    show: int = 10
    max_keys: int = 1000
    #: "sum" (additive per-row hashes) or "ordered" (one MD5 a segment): docs/checksum.md.
    aggregation: str = "sum"
    #: Average canonical row size in bytes (measured for the ordered aggregation; 0: unknown).
    row_bytes: float = 0.0
    #: Whether the first pass compares probe texts where both engines can write them.
    probe: bool = True
    # Read when a RunSettings is made, not when this module is imported, so the limits above
    # are the one place to change them (the tests make them small).
    segment_bytes: int = field(default_factory=lambda: SEGMENT_BYTES)
    max_ordered_segments: int = field(default_factory=lambda: MAX_ORDERED_SEGMENTS)


@dataclass
class _Found:
    missing: dict[KeyText, list[int]] = field(default_factory=dict)
    extra: dict[KeyText, list[int]] = field(default_factory=dict)
    changed: list[KeyText] = field(default_factory=list)
    changed_count: int = 0


class Reconciler:
    def __init__(
        self,
        source: Side,
        target: Side,
        keys: Sequence[ColumnPair],
        pairs: Sequence[ColumnPair],
        settings: RunSettings,
        estimate: Callable[[], Estimate],
    ) -> None:
        self.source, self.target = source, target
        self.keys, self.pairs = list(keys), list(pairs)
        self.settings = settings
        self.estimate = estimate
        self.found = _Found()
        self.compared = 0
        self.differing = 0
        self.timings: dict[str, float] = {}
        self.source_rows = 0
        self.target_rows = 0
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="cdc-reconcile")
        extra = len(source.extra) + len(target.extra)
        self._lanes = (
            ThreadPoolExecutor(max_workers=extra, thread_name_prefix="cdc-lane") if extra else None
        )
        self._concurrent = source.executor.raw is not target.executor.raw
        #: Compared columns the first pass writes as probe texts: only formats both engines
        #: can write, or the texts would never meet.
        self.probed = frozenset(
            p
            for p in self.pairs
            if settings.probe
            and p.fmt in source.gen.probe_formats
            and p.fmt in target.gen.probe_formats
        )

    # -- plumbing -----------------------------------------------------------------------------
    def both(self, fn: Callable[[Side], T]) -> tuple[T, T]:
        """Run ``fn`` on both sides at once (one after the other on a shared connection)."""
        if not self._concurrent:
            return fn(self.source), fn(self.target)
        later = self._pool.submit(fn, self.target)
        first = fn(self.source)
        return first, later.result()

    def _timed(self, name: str, started: float) -> None:
        self.timings[name] = round(self.timings.get(name, 0.0) + time.perf_counter() - started, 6)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        if self._lanes is not None:
            self._lanes.shutdown(wait=True)

    # -- steps ----------------------------------------------------------------------------------
    def _range(self, side: Side, seg: Segment) -> str:
        return side.gen.range_condition(
            self.keys,
            side.label,
            list(seg.lo) if seg.lo else None,  # type: ignore[arg-type]
            list(seg.hi) if seg.hi else None,  # type: ignore[arg-type]
        )

    def initial_bounds(self) -> list[KeyText]:
        started = time.perf_counter()
        s = self.settings
        rows, units = self.estimate()
        wanted = min(s.max_segments, max(1, math.ceil(rows / s.leaf_rows)))
        if s.aggregation == "ordered" and s.row_bytes:
            # More, smaller segments for wide rows or huge tables: one segment's text is held
            # at once, and the largest segment must stay under the bound too, so aim at half
            # of it.  They cost little here: each is its own index range scan.
            by_size = math.ceil(2 * rows * s.row_bytes / s.segment_bytes)
            wanted = max(wanted, min(s.max_ordered_segments, by_size))
        bounds: list[KeyText] = []
        if wanted > 1:
            src = self.source
            if rows <= s.exact_below:
                step = max(1, math.ceil(rows / wanted))
                sql = src.gen.quantile_query(
                    src.table, self.keys, src.label, step, user_where=src.where
                )
                bounds = _strictly_increasing([tuple(r) for r in src.run("boundaries", sql)])
            else:
                per = max(2, min(s.sample_factor, MAX_SAMPLE_ROWS // wanted))
                fraction = sample_fraction(units, wanted * per)
                sql = src.gen.sample_query(
                    src.table, self.keys, src.label, fraction, user_where=src.where
                )
                sample = [tuple(r) for r in src.run("sample boundaries", sql)]
                bounds = pick_bounds(sample, wanted)
                self.largest_segment_rows = _largest(sample, bounds, rows)
        self._timed("boundaries", started)
        return bounds

    #: The rows the largest first-level segment holds, as the sample tells (0: exact bounds).
    largest_segment_rows = 0
    #: The source's first-level segments: how many, the largest and average row counts.
    segment_rows: dict[str, float] = {}  # noqa: RUF012 - replaced, never mutated

    def checksums(
        self,
        bounds: Sequence[KeyText],
        first: int,
        parent: Segment | None,
        probe: frozenset[ColumnPair] = frozenset(),
        purpose: str = "segment checksums",
    ) -> tuple[Checksums, Checksums]:
        started = time.perf_counter()
        if self.settings.aggregation == "ordered":
            result = self.both(
                lambda side: self._digests(side, bounds, first, parent, probe, purpose)
            )
            self._timed("checksums", started)
            return result

        def one(side: Side) -> Checksums:
            restrict = self._range(side, parent) if parent else None
            sql = side.gen.checksum_query(
                side.table,
                self.keys,
                self.pairs,
                side.label,
                [_texts(b) for b in bounds],
                first=first,
                user_where=side.where,
                restrict=restrict,
                probe=probe,
            )
            rows = side.run(purpose, sql)
            return {int(seg): (int(n), int(total)) for seg, n, total in rows}

        result = self.both(one)
        self._timed("checksums", started)
        return result

    def _digests(
        self,
        side: Side,
        bounds: Sequence[KeyText],
        first: int,
        parent: Segment | None,
        probe: frozenset[ColumnPair],
        purpose: str,
    ) -> Checksums:
        """Ordered digests of every segment, the segments cut into one run per lane.

        Each lane gets a contiguous run of segments and scans only its key range, so the
        lanes together still read every row once.
        """
        lanes = side.lanes()
        count = len(bounds) + 1
        runs = min(len(lanes), count)
        edges: list[KeyText | None] = [
            parent.lo if parent else None,
            *bounds,
            parent.hi if parent else None,
        ]

        def lane(i: int) -> Checksums:
            at, to = count * i // runs, count * (i + 1) // runs  # segments [at, to)
            own = lanes[i]
            run = Segment(first + at, edges[at], edges[to])
            restrict = self._range(own, run) if run.lo or run.hi else None
            sql = own.gen.digest_query(
                own.table,
                self.keys,
                self.pairs,
                own.label,
                [_texts(b) for b in bounds[at : to - 1]],
                first=first + at,
                user_where=own.where,
                restrict=restrict,
                probe=probe,
            )
            rows = own.run(purpose, sql)
            # Every segment has a row (an empty one: 0 and NULL): keep the non-empty.
            return {int(seg): (int(n), str(total)) for seg, n, total in rows if int(n)}

        if runs == 1 or self._lanes is None:
            return lane(0)
        later = [self._lanes.submit(lane, i) for i in range(1, runs)]
        out = lane(0)
        for future in later:
            out.update(future.result())
        return out

    def split(self, seg: Segment, rows: int, first: int) -> list[KeyText]:
        """Exact row-count bounds inside ``seg`` read from its bigger side."""
        started = time.perf_counter()
        wanted = min(self.settings.max_segments, math.ceil(rows / self.settings.leaf_rows))
        step = max(1, math.ceil(rows / max(wanted, 1)))
        side = self._bigger
        sql = side.gen.quantile_query(
            side.table,
            self.keys,
            side.label,
            step,
            user_where=side.where,
            restrict=self._range(side, seg),
        )
        bounds = [tuple(r) for r in side.run("split boundaries", sql)]
        bounds = [b for b in _strictly_increasing(bounds) if _inside(b, seg)]
        self._timed("boundaries", started)
        return bounds

    def leaf(
        self, seg: Segment, expected: tuple[tuple[int, int | str], tuple[int, int | str]]
    ) -> None:
        """Fetch (key, hash) of the segment from both sides and diff them in Python.

        ``expected``: the segment's (row count, checksum) on each side from the pass that
        found it differing.  The rows read back must add up to exactly that; if they do not,
        the fetch and the pass saw different rows, and no verdict is given.
        """
        started = time.perf_counter()

        def fetch(side: Side) -> list[Any]:
            sql = side.gen.fetch_query(
                side.table,
                self.keys,
                self.pairs,
                side.label,
                user_where=side.where,
                restrict=self._range(side, seg),
            )
            return side.run("leaf rows", sql)

        src_rows, dst_rows = self.both(fetch)
        nkeys = len(self.keys)
        self._check_leaf(seg, self.source, src_rows, expected[0])
        self._check_leaf(seg, self.target, dst_rows, expected[1])
        wanted: dict[KeyText, Counter[int]] = {}
        for row in src_rows:
            wanted.setdefault(tuple(row[:nkeys]), Counter())[int(row[nkeys])] += 1
        del src_rows
        got: dict[KeyText, Counter[int]] = {}
        for row in dst_rows:
            key = tuple(row[:nkeys])
            h = int(row[nkeys])
            bag = wanted.get(key)
            if bag is not None and bag[h] > 0:
                bag[h] -= 1  # an identical row: nothing to report
                continue
            got.setdefault(key, Counter())[h] += 1
        del dst_rows
        for key in set(wanted) | set(got):
            src_left = list((wanted.get(key) or Counter()).elements())
            dst_left = list((got.get(key) or Counter()).elements())
            self._classify(key, src_left, dst_left)
        self._timed("leaf diff", started)

    def _check_leaf(
        self, seg: Segment, side: Side, rows: Sequence[Any], expected: tuple[int, int | str]
    ) -> None:
        """The rows read back are the rows the pass counted (and, for the sums, summed), and
        no key appears twice: otherwise raise rather than report a wrong difference."""
        nkeys = len(self.keys)
        keys: dict[KeyText, int] = {}
        for row in rows:
            key = tuple(row[:nkeys])
            keys[key] = keys.get(key, 0) + 1
        twice = next(((k, n) for k, n in keys.items() if n > 1), None)
        if twice is not None:
            raise duplicate_key(side.label, [k.name for k in self.keys], twice[0], twice[1])
        count, total = expected
        summed: int | str = total
        if self.settings.aggregation == "sum":
            summed = sum(int(row[nkeys]) for row in rows)
        if len(rows) != count or summed != total:
            raise Inconsistent(
                f"the {side.label} segment {_describe(seg)} held {count} rows in the checksum"
                f" pass but {len(rows)} when its rows were read"
                + ("" if len(rows) != count else " (with other row hashes)")
                + ": the table changed during the comparison (compare a quiet table, or a"
                " range of it with a where), or this is a bug to report; no verdict is given"
            )

    def _classify(self, key: KeyText, src_left: list[int], dst_left: list[int]) -> None:
        pairs = min(len(src_left), len(dst_left))
        for _ in range(pairs):
            self._changed(key)
        if len(src_left) > pairs:
            self.found.missing.setdefault(key, []).extend(src_left[pairs:])
        if len(dst_left) > pairs:
            self.found.extra.setdefault(key, []).extend(dst_left[pairs:])

    def _changed(self, key: KeyText) -> None:
        self.found.changed_count += 1
        if len(self.found.changed) < self.settings.max_keys:
            self.found.changed.append(key)

    # -- the recursion --------------------------------------------------------------------------
    def compare(self, bounds: Sequence[KeyText], parent: Segment | None, first: int) -> None:
        lo, hi = (parent.lo, parent.hi) if parent else (None, None)
        segments = segments_from_bounds(bounds, lo, hi, first)
        probe = self.probed if parent is None else frozenset()
        src, dst = self.checksums(bounds, first, parent, probe)
        if probe:
            self._confirm(segments, bounds, first, src, dst)
        if parent is None:
            self._refuse_null_keys(src.get(NULL_SEGMENT), dst.get(NULL_SEGMENT))
            self.source_rows = sum(n for n, _ in src.values())
            self.target_rows = sum(n for n, _ in dst.values())
            sizes = [src.get(seg.number, (0, 0))[0] for seg in segments]
            self.segment_rows = {
                "segments": len(sizes),
                "largest": max(sizes, default=0),
                "average": round(sum(sizes) / len(sizes), 1) if sizes else 0.0,
                "estimated_largest": self.largest_segment_rows,
            }
        self.compared += len(segments)
        for seg in segments:
            empty: tuple[int, int | str] = (0, 0) if self.settings.aggregation == "sum" else (0, "")
            a = src.get(seg.number, empty)
            b = dst.get(seg.number, empty)
            if a == b:
                continue
            self.differing += 1
            rows = max(a[0], b[0])
            self._bigger = self.source if a[0] >= b[0] else self.target
            if rows <= 2 * self.settings.leaf_rows:
                self.leaf(seg, (a, b))
                continue
            inner = self.split(seg, rows, 0)
            if not inner:
                self.leaf(seg, (a, b))  # one key value holds every row: nothing left to cut
                continue
            self.compare(inner, seg, self._next_first())

    def _confirm(
        self,
        segments: Sequence[Segment],
        bounds: Sequence[KeyText],
        first: int,
        src: Checksums,
        dst: Checksums,
    ) -> None:
        """Replace the probe checksums of differing segments by canonical ones.

        Equal probe texts prove a segment equal; differing ones do not prove it different
        (floats equal to ``float_digits`` but not to the bit, -0 and 0), and the recursion and
        the leaf diff's consistency check need the canonical checksums.  Few segments are
        digested one by one; many, by one canonical pass over the table.
        """
        differing = [s for s in segments if src.get(s.number) != dst.get(s.number)]
        if not differing:
            return
        purpose = "canonical re-check"
        if len(differing) * 4 > len(segments):
            again = self.checksums(bounds, first, None, purpose=purpose)
            for old, new in zip((src, dst), again, strict=True):
                old.clear()
                old.update(new)
            return
        for seg in differing:
            one = self.checksums([], seg.number, seg, purpose=purpose)
            for old, new in zip((src, dst), one, strict=True):
                old.pop(seg.number, None)
                old.update(new)

    def _refuse_null_keys(
        self, src: tuple[int, int | str] | None, dst: tuple[int, int | str] | None
    ) -> None:
        """NULL keys pair no rows: refuse them with their counts (the pass counted them)."""
        if not src and not dst:
            return
        names = ", ".join(k.name for k in self.keys)
        where = " and ".join(
            f"{n[0]} row(s) on the {label}" for label, n in (("source", src), ("target", dst)) if n
        )
        raise BadKey(
            f"the key ({names}) is NULL in {where}: a key must"
            " identify rows; choose NOT NULL key columns, or leave those rows out with a where"
            f" ({' AND '.join(f'{k.name} IS NOT NULL' for k in self.keys)})"
        )

    _bigger: Side
    _first_counter = 0

    def _next_first(self) -> int:
        # Segment numbers only need to be unique within one query; keep them readable.
        self._first_counter += 1_000_000
        return self._first_counter

    def finish(self) -> None:
        """Match up keys reported missing in one segment and extra in another."""
        found = self.found
        for key in [k for k in found.missing if k in found.extra]:
            src_left, dst_left = found.missing.pop(key), found.extra.pop(key)
            common = Counter(src_left) & Counter(dst_left)
            src_rest = list((Counter(src_left) - common).elements())
            dst_rest = list((Counter(dst_left) - common).elements())
            self._classify(key, src_rest, dst_rest)

    def values(self, keys: Sequence[KeyText]) -> list[ChangedRow]:
        """The differing column values of ``keys``, side by side."""
        if not keys:
            return []
        started = time.perf_counter()

        def fetch(side: Side) -> dict[KeyText, list[Any]]:
            sql = side.gen.values_query(
                side.table,
                self.keys,
                self.pairs,
                side.label,
                [_texts(k) for k in keys if None not in k],
                user_where=side.where,
            )
            nkeys = len(self.keys)
            return {tuple(r[:nkeys]): list(r) for r in side.run("changed values", sql)}

        src, dst = self.both(fetch)
        rows = []
        for key in keys:
            a, b = src.get(key), dst.get(key)
            diffs: dict[str, list[str | None]] = {}
            if a is not None and b is not None:
                for pair, x, y in zip(self.pairs, a, b, strict=False):
                    if x != y:
                        diffs[pair.name] = [x, y]
            rows.append(ChangedRow(key=list(key), differences=diffs))
        self._timed("changed values", started)
        return rows

    def report(self, base: ReconcileReport) -> ReconcileReport:
        f, s = self.found, self.settings
        base.source_rows, base.target_rows = self.source_rows, self.target_rows
        base.missing_count = sum(len(v) for v in f.missing.values())
        base.extra_count = sum(len(v) for v in f.extra.values())
        base.changed_count = f.changed_count
        base.missing = [list(k) for k in sorted(f.missing, key=_sort_key)[: s.max_keys]]
        base.extra = [list(k) for k in sorted(f.extra, key=_sort_key)[: s.max_keys]]
        changed = sorted(set(f.changed), key=_sort_key)
        shown = self.values(changed[: s.show])
        base.changed = shown + [ChangedRow(key=list(k)) for k in changed[s.show :]]
        base.segments_compared = self.compared
        base.segments_differing = self.differing
        base.segment_rows = dict(self.segment_rows)
        base.timings.update(self.timings)
        base.queries = [
            q for side in (self.source, self.target) for lane in side.lanes() for q in lane.queries
        ]
        return base


def duplicate_key(side: str, names: Sequence[str], key: KeyText, count: int) -> BadKey:
    shown = ", ".join(f"{n}={v!r}" for n, v in zip(names, key, strict=False))
    return BadKey(
        f"the key ({', '.join(names)}) is not unique on the {side}: {shown} is held by"
        f" {count} rows; a key must identify rows: choose key columns that are unique on both"
        " sides (the primary key)"
    )


def _describe(seg: Segment) -> str:
    lo = "start" if seg.lo is None else ",".join(str(v) for v in seg.lo)
    hi = "end" if seg.hi is None else ",".join(str(v) for v in seg.hi)
    return f"[{lo} .. {hi})"


def _sort_key(key: KeyText) -> tuple[tuple[int, Decimal, str], ...]:
    """Report order: NULL first, numbers by value, everything else by text."""
    out = []
    for part in key:
        if part is None:
            out.append((0, Decimal(0), ""))
        elif _NUMBER.match(part):
            out.append((1, Decimal(part), ""))
        else:
            out.append((2, Decimal(0), part))
    return tuple(out)


def _largest(sample: Sequence[KeyText], bounds: Sequence[KeyText], rows: int) -> int:
    """The rows of the segment with the most sampled keys, scaled to the table.

    The bounds are keys of the sample, which is in the database's key order (not Python's:
    numbers are text here), so each segment's share is a run of the sample between two of
    them.
    """
    keys = [k for k in sample if None not in k]
    if not keys:
        return rows
    sizes, size, b = [], 0, 0
    for key in keys:
        if b < len(bounds) and key == bounds[b]:
            sizes.append(size)
            size, b = 0, b + 1
        size += 1
    sizes.append(size)
    return math.ceil(max(sizes) * rows / len(keys))


def _texts(key: KeyText) -> list[str]:
    """A boundary or wanted key; these never hold NULL (filtered where they are picked)."""
    return [str(part) for part in key]


def _strictly_increasing(bounds: list[KeyText]) -> list[KeyText]:
    out: list[KeyText] = []
    for b in bounds:
        if None in b:
            continue
        if not out or b != out[-1]:
            out.append(b)
    return out


def _inside(bound: KeyText, seg: Segment) -> bool:
    return bound != seg.lo and bound != seg.hi
