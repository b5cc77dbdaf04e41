"""Query plans from PostgreSQL and SQL Server in one model (see :mod:`.model`).

Only the model is imported here; parsers load on use.
"""

from __future__ import annotations

from pytest_cdc.plans.model import MissingIndex, Plan, PlanNode, Statement

__all__ = ["MissingIndex", "Plan", "PlanNode", "Statement"]
