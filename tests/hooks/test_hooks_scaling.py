"""Every rule does work linear (or near it) in statement size.

Work is counted, not timed: the number of Python and C function calls the profiler sees while
a rule checks one statement of size n and of size 4n.  Linear work gives a ratio near 4; the
quadratic CDC105 of issue 17 (aliases collected once per comparison) gave 16.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import pytest
import sqlglot

from pytest_cdc_hooks.ddl import extract_ops
from pytest_cdc_hooks.lint import lint_text
from pytest_cdc_hooks.rules import Context, builtin_registry
from pytest_cdc_hooks.schema import Schema
from pytest_cdc_hooks.splitting import SqlStatement
from pytest_cdc_hooks.usage import file_uses

N = 60
#: 4x the statement may cost at most this many times the work (n log n stays well below).
MAX_RATIO = 6.0
DDL = "CREATE TABLE acct (no varchar(9) PRIMARY KEY, a int, b text, ts timestamp)"

SHAPES: dict[str, Callable[[int], str]] = {
    "or_terms": lambda n: "SELECT no FROM acct WHERE " + " OR ".join(f"no = {i}" for i in range(n)),
    "and_terms": lambda n: (
        "SELECT no FROM acct WHERE " + " AND ".join(f"lower(b) = '{i}'" for i in range(n))
    ),
    "in_list": lambda n: f"SELECT no FROM acct WHERE no IN ({', '.join(map(str, range(n)))})",
    "columns": lambda n: "SELECT " + ", ".join(f"a + {i} AS c{i}" for i in range(n)) + " FROM acct",
    "joins": lambda n: (
        "SELECT a0.no FROM acct a0 "
        + " ".join(f"JOIN acct a{i} ON a{i}.no = a{i - 1}.a" for i in range(1, n))
    ),
    "case_whens": lambda n: (
        "SELECT CASE "
        + " ".join(f"WHEN no = {i} THEN {i}" for i in range(n))
        + " END FROM acct WITH (NOLOCK) WHERE CHECKSUM(b) = 1"
    ),
    "subqueries": lambda n: (
        "SELECT * FROM acct WHERE "
        + " OR ".join(f"a IN (SELECT a FROM acct WHERE b LIKE '%{i}')" for i in range(n))
    ),
    "paged": lambda n: (
        "SELECT no FROM acct WHERE "
        + " OR ".join(f"ts > '2024-01-{i % 28 + 1:02d}'" for i in range(n))
        + " ORDER BY a OFFSET 10 ROWS"
    ),
}


def calls(work: Callable[[], Any]) -> int:
    count = 0

    def profile(frame: object, event: str, arg: object) -> None:
        nonlocal count
        if event in ("call", "c_call"):
            count += 1

    sys.setprofile(profile)
    try:
        work()
    finally:
        sys.setprofile(None)
    return count


def ratio(work: Callable[[int], Any]) -> float:
    work(N)  # warm up: first calls import, compile and fill caches
    work(4 * N)
    return calls(lambda: work(4 * N)) / calls(lambda: work(N))


@functools.cache
def tree(shape: str, n: int) -> Any:
    return sqlglot.parse_one(SHAPES[shape](n), read="tsql")


@functools.cache
def schema() -> Schema:
    model = Schema()
    for op in extract_ops(sqlglot.parse_one(DDL, read="tsql"), "tsql", "m.sql", 1):
        model.apply(op)
    return model


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("rule", builtin_registry(), ids=lambda r: r.code)
def test_rule_work_grows_linearly(rule: Any, shape: str) -> None:
    ctx = Context(path="q.sql", dialect="tsql", stmt=SqlStatement("", 0, 0), schemas=(schema(),))
    assert ratio(lambda n: list(rule.check(ctx, tree(shape, n)))) < MAX_RATIO


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_whole_file_work_grows_linearly(shape: str) -> None:
    """Split, parse, every rule, and the index-coverage hook's query reading."""

    def lint(n: int) -> None:
        text = f"{DDL};\n{SHAPES[shape](n)};\n"
        lint_text(text, f"q{n}.sql", "tsql", builtin_registry())
        file_uses(text, "tsql")

    assert ratio(lint) < MAX_RATIO


def test_a_statement_is_fingerprinted_once_however_many_findings(isolated: object) -> None:
    """Hashing is one C call whatever the text's size, so call counts cannot see it: hashing
    the statement once per finding made the lint quadratic (4,000 OR terms: 2.5 s)."""
    text = f"{DDL};\n{SHAPES['or_terms'](4 * N)};\n"
    hashed = 0

    def profile(frame: Any, event: str, arg: object) -> None:
        nonlocal hashed
        if event == "call" and frame.f_code.co_name == "fingerprint":
            hashed += 1

    sys.setprofile(profile)
    try:
        found, _ = lint_text(text, "f.sql", "tsql", builtin_registry())
        uses = file_uses(text, "tsql")
    finally:
        sys.setprofile(None)
    assert len([f for f in found if f.code == "CDC105"]) == 4 * N
    assert uses["uses"]
    assert hashed <= 2 * 2  # each hook: at most once per statement with findings


STATEMENTS = [
    "CREATE INDEX CONCURRENTLY ix_{i} ON acct (a)",
    "SELECT * FROM acct WHERE no = '{i}'",
    "UPDATE acct SET a = {i} WHERE no = '{i}'",
    "DROP INDEX ix_{i}",
]


@functools.cache
def file_of(n: int) -> tuple[tuple[SqlStatement, Any], ...]:
    """n parsed statements of one migration, as lint_text hands them to the rules."""
    out = []
    offset = 0
    for i in range(n):
        text = STATEMENTS[i % len(STATEMENTS)].format(i=i)
        out.append((SqlStatement(text, offset, offset + len(text)), sqlglot.parse_one(text)))
        offset += len(text) + 2
    return tuple(out)


@pytest.mark.parametrize("rule", builtin_registry(), ids=lambda r: r.code)
def test_rule_work_grows_linearly_with_the_number_of_statements(rule: Any) -> None:
    """A rule that looks at the other statements (CDC110) must not look at all of them again
    for each statement."""

    def check_file(n: int) -> None:
        statements = file_of(n)
        ctx = Context(
            path="m.sql",
            dialect="postgres",
            stmt=SqlStatement("", 0, 0),
            statements=[stmt for stmt, _ in statements],
        )
        for stmt, tree in statements:
            ctx.stmt = stmt
            list(rule.check(ctx, tree))

    assert ratio(check_file) < MAX_RATIO
