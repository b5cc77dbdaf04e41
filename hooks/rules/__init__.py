"""The cdc-sql-lint rules and the registry third-party plugins add to.

A rule is a code, a one-line message, and a function that receives a :class:`Context` and one
parsed statement and yields ``(node, message)`` pairs (``node`` locates the finding; ``message``
``None`` means the rule's own).  Example files for every rule live in ``tests/hooks/files``
as ``ok_<code>_<dialect>.sql`` / ``bad_<code>_<dialect>.sql``.

The built-in rules come in two families: :mod:`.reads` (how reconciliation queries read) and
:mod:`.writes` (statements that change data or schema); :mod:`.sql` holds what several of them
read from a statement.

Plugins register rules through the ``pytest_cdc_register_lint_rules(registry)`` hook, found via
the ``pytest_cdc`` setuptools entry-point group::

    def pytest_cdc_register_lint_rules(registry):
        registry.add(Rule("XYZ001", "no-foo", "do not use foo", check_foo))
"""

from __future__ import annotations

from pytest_cdc_hooks.rules import reads, writes
from pytest_cdc_hooks.rules.registry import Check, Context, Hit, Rule, RuleRegistry
from pytest_cdc_hooks.rules.sql import written_name

__all__ = [
    "BUILTIN_RULES",
    "CORE_CODES",
    "Check",
    "Context",
    "Hit",
    "Rule",
    "RuleRegistry",
    "builtin_registry",
    "written_name",
]

BUILTIN_RULES = tuple(sorted((*reads.RULES, *writes.RULES), key=lambda rule: rule.code))

#: Findings the lint itself produces (not rules that can be registered or replaced).
CORE_CODES = {
    "CDC000": "statement not understood by the parser (warning; an error with --strict)",
    "CDC001": "syntax error: unterminated literal or comment, unbalanced parentheses",
    "CDC002": "file cannot be read as SQL text (binary, or not UTF-8/UTF-16)",
}


def builtin_registry() -> RuleRegistry:
    registry = RuleRegistry()
    for rule in BUILTIN_RULES:
        registry.add(rule)
    return registry
