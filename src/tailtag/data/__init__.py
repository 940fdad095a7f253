"""Image data sets for torch DataLoaders: decoding with bad images flagged, never fatal or silent."""

from tailtag.data.dataset import ImageBatch, ImageDataset, collate_images
from tailtag.data.prefetch import prefetch_in_thread

__all__ = ["ImageBatch", "ImageDataset", "collate_images", "prefetch_in_thread"]
