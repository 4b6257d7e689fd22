"""Kinds of step, and the registry of classes per kind (`@register`, `REGISTRY`)."""

from ednax.registry.core import REGISTRY, Entry, Registry, RegistryError, register
from ednax.registry.kinds import KINDS, Kind

__all__ = ["KINDS", "REGISTRY", "Entry", "Kind", "Registry", "RegistryError", "register"]
