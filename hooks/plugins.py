"""Third-party lint rules, from plugins in the ``pytest_cdc`` entry-point group."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

__all__ = ["ENTRY_POINT_GROUP", "plugin_fingerprint", "register_plugin_rules"]

ENTRY_POINT_GROUP = "pytest_cdc"


def plugin_fingerprint() -> str:
    """Names and versions of installed rule plugins: part of the lint cache key."""
    parts = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        version = getattr(dist, "version", "") if dist is not None else ""
        parts.append(f"{ep.name}={ep.value}@{version}")
    return ";".join(sorted(parts))


def register_plugin_rules(registry: Any, extra_plugins: tuple[object, ...] = ()) -> None:
    """Call ``pytest_cdc_register_lint_rules(registry)`` on every plugin.

    ``extra_plugins`` are plugin objects (modules or instances) registered directly, which is
    how tests and embedding code add rules without installing a distribution.
    """
    if not extra_plugins and not plugin_fingerprint():
        return  # nothing installed: skip pluggy entirely, it is the common case
    import pluggy

    from pytest_cdc import hookspecs

    class _Manager(pluggy.PluginManager):
        # Like pytest: a plain function named pytest_cdc_* is a hook implementation, so a
        # plugin module needs no marker import.
        def parse_hookimpl_opts(self, plugin: Any, name: str) -> Any:
            opts = super().parse_hookimpl_opts(plugin, name)
            if (
                opts is None
                and name.startswith("pytest_cdc_")
                and callable(getattr(plugin, name, None))
            ):
                return {}
            return opts

    # The project's hookspecs are marked for pytest's project name; the entry-point group is
    # where plugins are found.
    manager = _Manager("pytest")
    manager.add_hookspecs(hookspecs)
    manager.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    for plugin in extra_plugins:
        manager.register(plugin)
    manager.hook.pytest_cdc_register_lint_rules(registry=registry)
