"""Frozen-backbone features of image files, cached on disk by image content (for the "head" training mode).

The submodules are imported on first use (`tailtag.lazy`): reading an embeddings file
(`tailtag.features.external`) does not load the image pipeline of `tailtag.features.cache`.
"""

from typing import TYPE_CHECKING

from tailtag.lazy import lazy_exports

if TYPE_CHECKING:
    from tailtag.features.cache import FeatureResult, cache_key, compute_features, extract_features, open_store
    from tailtag.features.hashing import content_digests, file_digest
    from tailtag.features.store import FeatureStore

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "cache": ("FeatureResult", "cache_key", "compute_features", "extract_features", "open_store"),
        "hashing": ("content_digests", "file_digest"),
        "store": ("FeatureStore",),
    },
)

__all__ = [
    "FeatureResult",
    "FeatureStore",
    "cache_key",
    "compute_features",
    "content_digests",
    "extract_features",
    "file_digest",
    "open_store",
]
