"""Every built-in finding code, without importing the rules (a cached run stays light).

``tests/hooks/test_hooks_packaging.py`` checks this list against the rule registry and the docs.
"""

from __future__ import annotations

from collections.abc import Iterable

from pytest_cdc.errors import ConfigError, did_you_mean

__all__ = ["COVERAGE_CODES", "LINT_CODES", "check_codes"]

#: cdc-sql-lint: the core findings, then the rules
LINT_CODES = (
    "CDC000",
    "CDC001",
    "CDC002",
    *(f"CDC1{n:02d}" for n in range(1, 11)),
)
#: cdc-index-coverage
COVERAGE_CODES = ("CDC201", "CDC202", "CDC203", "CDC204", "CDC205", "CDC206", "CDC207")


_LOOKALIKE = str.maketrans("OoIlL", "00111")


def check_codes(codes: Iterable[str], where: str) -> None:
    """Refuse codes nobody reports (``CDC1O1``): an ignore entry with a typo would silently
    ignore nothing.  Plugin rules count, so plugins are asked only when a code is unknown."""
    known = {*LINT_CODES, *COVERAGE_CODES}
    unknown = [code for code in codes if code not in known]
    if not unknown:
        return
    from pytest_cdc_hooks.plugins import plugin_fingerprint

    if plugin_fingerprint():
        from pytest_cdc_hooks.plugins import register_plugin_rules
        from pytest_cdc_hooks.rules import builtin_registry

        registry = builtin_registry()
        register_plugin_rules(registry)
        known |= {rule.code for rule in registry}
        unknown = [code for code in unknown if code not in known]
    if unknown:
        # letters typed for digits (CDC1O1) first, then the closest spelling
        digits = unknown[0][:3] + unknown[0][3:].translate(_LOOKALIKE)
        hint = f" (did you mean {digits!r}?)" if digits in known else ""
        hint = hint or did_you_mean(unknown[0], sorted(known))
        raise ConfigError(
            f"unknown rule code {unknown[0]!r} in {where}{hint}; "
            "cdc-sql-lint --list-rules prints every code"
        )
