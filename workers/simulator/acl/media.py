"""acl.media: DVPP memory (the only part of the media API the simulator models)."""

from __future__ import annotations

from ._alloc import dvpp_free, dvpp_malloc

__all__ = ["dvpp_malloc", "dvpp_free"]
