"""Image files -> RGB images: robust loading, up-front checks, duplicate detection, the bad-image policy.

Needs only Pillow and numpy (never torch), so `inspect` and `split` can check images cheaply.
"""

from tailtag.images.check import (
    ON_BAD_IMAGE,
    CheckMode,
    ImageCheck,
    ImageProblem,
    OnBadImage,
    PolicyOutcome,
    apply_policy,
    check_images,
)
from tailtag.images.load import (
    DEFAULT_MAX_PIXELS,
    PILLOW_MAX_PIXELS,
    ImageHeader,
    load_image,
    read_header,
    to_rgb,
)

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "ON_BAD_IMAGE",
    "CheckMode",
    "ImageCheck",
    "ImageHeader",
    "ImageProblem",
    "OnBadImage",
    "PILLOW_MAX_PIXELS",
    "PolicyOutcome",
    "apply_policy",
    "check_images",
    "load_image",
    "read_header",
    "to_rgb",
]
