"""Frozen-backbone features of image files, cached on disk by image content (for the "head" training mode)."""

from tailtag.features.cache import FeatureResult, cache_key, compute_features, extract_features, open_store
from tailtag.features.hashing import content_digests, file_digest
from tailtag.features.store import FeatureStore

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
