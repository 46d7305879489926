"""The registry capability: bulk registration, search, aliases, lineage, loading."""

from shoal.registry.records import VersionSpec
from shoal.registry.registry import Registry

__all__ = ["Registry", "VersionSpec"]
