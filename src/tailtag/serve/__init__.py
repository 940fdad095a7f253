"""`tailtag serve`: a run behind an HTTP API (FastAPI + uvicorn) with micro-batching, hard limits and a page.

Downstream of `tailtag.inference` (the `Tagger` shared with `tailtag predict`, so the service and batch
prediction give the same tags for the same file). Endpoints: POST /v1/tags, GET /v1/labels, GET /healthz,
GET / (a page to try the run), and OpenAPI docs at /docs when asked for.
"""

from tailtag.serve.app import Service, create_app
from tailtag.serve.batching import MicroBatcher, QueueFull
from tailtag.serve.limits import SERVE_MAX_PIXELS, ApiError, Limits
from tailtag.serve.server import BackgroundServer, bind, url_of, uvicorn_config
from tailtag.serve.upload import Upload, read_uploads

__all__ = [
    "SERVE_MAX_PIXELS",
    "ApiError",
    "BackgroundServer",
    "Limits",
    "MicroBatcher",
    "QueueFull",
    "Service",
    "Upload",
    "bind",
    "create_app",
    "read_uploads",
    "url_of",
    "uvicorn_config",
]
