"""Placeholder created by the lead so the package installs; the owning module replaces it."""
