"""The rule registry: what a rule is, what it may know, and where plugins add theirs."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from pytest_cdc.errors import ConfigError, did_you_mean
from pytest_cdc_hooks.schema import Schema, Table, table_key
from pytest_cdc_hooks.splitting import SqlStatement

__all__ = ["Check", "Context", "Hit", "Rule", "RuleRegistry"]

#: ``(node, message)``, or ``(node, message, severity)`` to override the rule's severity
Hit = tuple[Any, ...]


Check = Callable[["Context", exp.Expression], Iterable[Hit]]


@dataclass
class Context:
    """What a rule may know about the statement it checks."""

    path: str
    dialect: str  # sqlglot name: "postgres" or "tsql"
    stmt: SqlStatement
    is_ddl: bool = False
    is_query: bool = True
    #: tables created earlier in this file (table keys): new, empty, no need to build online
    created_tables: set[str] = field(default_factory=set)
    #: the file's own CREATE TABLEs, then the configured DDL files
    schemas: tuple[Schema, ...] = ()
    #: every statement of the file, in order (for rules about the file as a whole)
    statements: Sequence[SqlStatement] = ()
    #: tables a not-understood CREATE TABLE earlier in this file may create -> its line
    maybe_created: dict[str, int] = field(default_factory=dict)
    #: values a rule computes once per file (keyed by the rule's code): a rule that looked at
    #: every statement again for each statement would be quadratic in file size
    memo: dict[str, Any] = field(default_factory=dict)

    def table(self, parts: list[str]) -> Table | None:
        key = table_key(parts, self.dialect)
        for schema in self.schemas:
            if key in schema.tables:
                return schema.tables[key]
        return None


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    message: str
    check: Check
    severity: str = "error"
    #: which files: "any", "query" (reconciliation queries) or "ddl" (migrations)
    applies_to: str = "any"
    dialects: frozenset[str] = frozenset({"postgres", "tsql"})


class RuleRegistry:
    """Rules by code; ``add`` refuses duplicates so a plugin cannot silently replace a rule."""

    def __init__(self) -> None:
        self._rules: dict[str, Rule] = {}

    def add(self, rule: Rule) -> Rule:
        if not re.fullmatch(r"[A-Z][A-Z0-9]{2,9}", rule.code):
            raise ConfigError(f"rule code {rule.code!r} must look like ABC123 (upper case)")
        if rule.code in self._rules:
            raise ConfigError(f"lint rule {rule.code!r} is registered twice: pick another code")
        self._rules[rule.code] = rule
        return rule

    def rule(
        self, code: str, name: str, message: str, **options: object
    ) -> Callable[[Check], Check]:
        """Decorator form of :meth:`add`."""

        def decorate(check: Check) -> Check:
            self.add(Rule(code, name, message, check, **options))  # type: ignore[arg-type]
            return check

        return decorate

    def get(self, code: str) -> Rule:
        try:
            return self._rules[code]
        except KeyError:
            hint = did_you_mean(code, self._rules)
            raise ConfigError(f"unknown rule code {code!r}{hint}") from None

    def __iter__(self) -> Iterator[Rule]:
        return iter(sorted(self._rules.values(), key=lambda r: r.code))

    def __contains__(self, code: object) -> bool:
        return code in self._rules

    def __len__(self) -> int:
        return len(self._rules)
