"""The actions tests' system of record is :class:`~tests.actions.crm.Crm`; its ``crm``
fixture is in the top-level conftest, so that the cluster tests have it too."""

from __future__ import annotations

from tests.actions.crm import Crm

__all__ = ["Crm"]
