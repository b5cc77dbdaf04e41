"""Third-party lint rules, from plugins in the ``pytest_cdc`` entry-point group."""

from __future__ import annotations

import os
import re
import sys
from typing import Any

__all__ = ["ENTRY_POINT_GROUP", "plugin_fingerprint", "register_plugin_rules"]

ENTRY_POINT_GROUP = "pytest_cdc"


_SECTION = re.compile(r"^\[pytest_cdc\][ \t]*$(?P<body>[^\[]*)", re.M)


def plugin_fingerprint() -> str:
    """Installed distributions with ``pytest_cdc`` entry points (name, version, entries).

    Part of the lint cache key, computed on every run, so it reads ``entry_points.txt`` files
    directly: ``importlib.metadata.entry_points()`` parses every installed distribution's
    metadata, which costs more than the whole cached run in a large environment.
    """
    parts = []
    for base in sys.path:
        try:
            names = os.listdir(base or ".")
        except OSError:
            continue
        for name in names:
            if not name.endswith((".dist-info", ".egg-info")):
                continue
            try:
                with open(os.path.join(base, name, "entry_points.txt"), encoding="utf-8") as f:
                    text = f.read()
            except OSError:
                continue
            m = _SECTION.search(text)
            if m:
                parts.append(f"{name}:{' '.join(m.group('body').split())}")
    return ";".join(sorted(parts))


def register_plugin_rules(registry: Any, extra_plugins: tuple[object, ...] = ()) -> None:
    """Call ``pytest_cdc_register_lint_rules(registry)`` on every plugin.

    ``extra_plugins`` are plugin objects (modules or instances) registered directly, which is
    how tests and embedding code add rules without installing a distribution.
    """
    if not extra_plugins and not plugin_fingerprint():
        return  # nothing installed: skip pluggy entirely, it is the common case
    import pluggy

    from pytest_cdc.plugin import hookspecs

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
