"""The service's JSON shapes as pydantic models, for the OpenAPI docs (`tailtag serve --docs`).

The routes build plain dicts (the tagging route returns them directly, skipping validation on the hot
path); these models document what the dicts hold, and the tests check responses against them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class TagResult(BaseModel):
    """One image's answer."""

    filename: str | None = Field(description="the multipart filename; null for base64 JSON images")
    tags: list[str] = Field(description="labels the run's thresholds chose, by descending probability")
    probabilities: dict[str, float] = Field(description="every label -> calibrated probability, in label order")


class TagsResponse(BaseModel):
    """POST /v1/tags: one result per image, in request order."""

    results: list[TagResult]
    labels: int = Field(description="K, the number of labels of the run")
    run: str = Field(description="the run directory's name")


class LabelsResponse(BaseModel):
    """GET /v1/labels."""

    run: str
    task: str = Field(description="multilabel or multiclass")
    names: list[str] = Field(description="the K labels in output order")
    thresholds: dict[str, float] = Field(description="label -> threshold on the calibrated probability")
    strategy: str = Field(description="threshold strategy fitted on validation, e.g. per_class_f1, top_k")
    params: dict[str, Any] = Field(description="the strategy's parameters (top_k: min_tags, max_tags)")
    calibration: str = Field(description="calibration method applied before the thresholds")
    views: list[str] = Field(description="test-time views averaged per image")


class HealthResponse(BaseModel):
    """GET /healthz."""

    status: str
    model: str
    version: str
    labels: int
    uptime_s: float
    requests_served: int
    images_served: int
    batches_run: int
    mean_batch_size: float
    queued_images: int
    requests_in_progress: int
    rejected: dict[str, int] = Field(description="refused requests per error code")
    internal_errors: int = Field(description="requests that hit a bug (500); 0 in a healthy service")
    limits: dict[str, int | float]


class ErrorDetail(BaseModel):
    code: str = Field(description="stable identifier, e.g. too_many_pixels, bad_image, busy")
    message: str = Field(description="what was wrong, naming the image (index and filename) or field")
    fix: str = Field(description="what to change")


class ErrorResponse(BaseModel):
    """Every refusal: 400, 413, 415, 422, 503 (with Retry-After), 504."""

    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "malformed body, bad base64, a path or URL instead of bytes"},
    413: {"model": ErrorResponse, "description": "body over --max-request-mb, over --max-images, or too many pixels"},
    415: {"model": ErrorResponse, "description": "neither multipart/form-data nor application/json"},
    422: {"model": ErrorResponse, "description": "an image that cannot be decoded (named by index and filename)"},
    503: {"model": ErrorResponse, "description": "queue full or too many requests; see Retry-After"},
    504: {"model": ErrorResponse, "description": "the request took longer than --timeout-s"},
}

_BASE64_LIST = {"type": "array", "items": {"type": "string", "description": "base64 bytes or data: URI"}}
TAGS_REQUEST_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"images": {"type": "array", "items": {"type": "string", "format": "binary"}}},
                }
            },
            "application/json": {
                "schema": {"type": "object", "required": ["images"], "properties": {"images": _BASE64_LIST}}
            },
        },
    }
}
