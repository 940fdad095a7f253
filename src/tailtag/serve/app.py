"""The FastAPI application: POST /v1/tags, GET /v1/labels, GET /healthz, GET / (the page), docs on request.

A request flows: limits on the body while it streams in (`upload`) -> header pixel check and decoding in a
small thread pool (`decode`) -> the micro-batcher's queue and its single model thread (`batching`) ->
calibrated probabilities and the run's thresholds (`Tagger.decide`) -> JSON. Every refusal is an
`ApiError` turned into `{"error": {"code", "message", "fix"}}` with its 4xx / 503 / 504 status; the
catch-all 500 exists for bugs only and is counted in /healthz (`internal_errors`), so tests can show that
no malformed input reaches it.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path

import torch
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from tailtag import __version__
from tailtag.inference import Tagger, Tags
from tailtag.serve.batching import MicroBatcher, QueueFull
from tailtag.serve.decode import decode_upload
from tailtag.serve.guard import LOCAL_HOSTS, HostOriginGuard
from tailtag.serve.limits import ApiError, Limits
from tailtag.serve.page import CONTENT_SECURITY_POLICY, render_page
from tailtag.serve.schema import ERROR_RESPONSES, TAGS_REQUEST_DOC, HealthResponse, LabelsResponse, TagsResponse
from tailtag.serve.upload import Upload, read_uploads

log = logging.getLogger("tailtag.serve")


class Service:
    """The state behind the routes: tagger, limits, batcher, decode pool, scratch directory, counters."""

    def __init__(self, tagger: Tagger, limits: Limits):
        self.tagger, self.limits = tagger, limits
        self.run = tagger.model.run.path.name
        self.batcher: MicroBatcher[Tags] = MicroBatcher(
            self._score, max_batch=limits.max_batch, max_wait_s=limits.max_wait_ms / 1000, max_queue=limits.max_queue
        )
        self.started = time.monotonic()
        self.in_flight = 0
        self.requests_served = self.images_served = self.internal_errors = 0
        self.rejected: dict[str, int] = {}
        self._decoders: ThreadPoolExecutor | None = None
        self._scratch: Path | None = None

    def _score(self, views: torch.Tensor) -> list[Tags]:
        """(B, V, 3, H, W) -> B results; runs in the model thread."""
        return self.tagger.tags_of(*self.tagger.decide(self.tagger.raw_probabilities(views)))

    async def start(self) -> None:
        self._scratch = Path(tempfile.mkdtemp(prefix="tailtag-serve-"))
        self._decoders = ThreadPoolExecutor(self.limits.decode_threads, thread_name_prefix="tailtag-decode")
        self.batcher.start()

    async def stop(self) -> None:
        await self.batcher.stop()
        if self._decoders is not None:
            self._decoders.shutdown(wait=True, cancel_futures=True)
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)

    async def tag(self, request: Request) -> dict:
        """The response body of one POST /v1/tags, within the request time limit."""
        if self.in_flight >= self.limits.max_requests:
            raise _busy(f"{self.in_flight} requests are in progress (--max-requests {self.limits.max_requests})", 1)
        self.in_flight += 1
        try:
            async with asyncio.timeout(self.limits.timeout_s):
                uploads = await self._read(request)
                views = await self._decode(uploads)
                try:
                    tags = await self.batcher.submit(views)
                except QueueFull as full:
                    raise _busy(
                        f"{full.queued} images are waiting for the model; {full.asked} more do not fit "
                        f"(--max-queue {self.limits.max_queue})",
                        full.retry_after_s,
                    ) from None
        except TimeoutError:
            raise ApiError(
                504,
                "timeout",
                f"the request took longer than {self.limits.timeout_s:g} s (slow upload or a busy service)",
                "retry later, send fewer images per request, or start the service with a larger --timeout-s",
            ) from None
        finally:
            self.in_flight -= 1
        self.requests_served += 1
        self.images_served += len(tags)
        results = [_result(upload, result) for upload, result in zip(uploads, tags, strict=True)]
        return {"results": results, "labels": len(self.tagger.names), "run": self.run}

    async def _read(self, request: Request) -> list[Upload]:
        try:
            headers = request.headers
            return await read_uploads(
                headers.get("content-type", ""), headers.get("content-length"), request.stream(), self.limits
            )
        except ClientDisconnect:
            raise ApiError(400, "client_disconnected", "the client closed the connection mid-body", "resend") from None

    async def _decode(self, uploads: list[Upload]) -> list[torch.Tensor]:
        """(V, 3, H, W) views per upload; the first unusable image (by index) names all the unusable ones."""
        loop = asyncio.get_running_loop()
        args = (self.tagger, self.limits.max_pixels, self._scratch)
        jobs = [loop.run_in_executor(self._decoders, decode_upload, upload, *args) for upload in uploads]
        outcomes = await asyncio.gather(*jobs, return_exceptions=True)
        failures = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
        if not failures:
            return outcomes
        first = failures[0]
        if not isinstance(first, ApiError):
            raise first  # a bug: the catch-all handler reports it
        if len(failures) > 1:
            first.message += f" (and {len(failures) - 1} more unusable image(s) in this request)"
        raise first

    def labels(self) -> dict:
        thresholds = self.tagger.decision.thresholds
        return {
            "run": self.run,
            "task": self.tagger.model.run.task,
            "names": self.tagger.names,
            "thresholds": dict(zip(self.tagger.names, map(float, thresholds.thresholds_), strict=True)),
            "strategy": thresholds.strategy,
            "params": thresholds.get_params(),
            "calibration": self.tagger.decision.calibrator.method,
            "views": list(self.tagger.views),
        }

    def health(self) -> dict:
        return {
            "status": "ok" if self.batcher.running else "stopped",
            "model": self.run,
            "version": __version__,
            "labels": len(self.tagger.names),
            "uptime_s": round(time.monotonic() - self.started, 3),
            "requests_served": self.requests_served,
            "images_served": self.images_served,
            "batches_run": self.batcher.batches_run,
            "mean_batch_size": round(self.batcher.mean_batch_size, 3),
            "queued_images": self.batcher.queued,
            "requests_in_progress": self.in_flight,
            "rejected": dict(sorted(self.rejected.items())),
            "internal_errors": self.internal_errors,
            "limits": self.limits.to_dict(),
        }


def _result(upload: Upload, tags: Tags) -> dict:
    return {"filename": upload.filename, "tags": tags.tags, "probabilities": tags.probabilities}


def _busy(message: str, retry_after_s: int) -> ApiError:
    return ApiError(
        503,
        "busy",
        f"the service is at capacity: {message}",
        f"retry after {retry_after_s} s (Retry-After header), or run more service processes",
        headers={"Retry-After": str(retry_after_s)},
    )


def create_app(
    tagger: Tagger,
    limits: Limits,
    *,
    docs: bool = False,
    allowed_hosts: Sequence[str] = LOCAL_HOSTS,
    allowed_origins: Sequence[str] = (),
) -> FastAPI:
    """The service for `tagger` under `limits`; `docs` adds OpenAPI docs at /docs and /openapi.json.

    Requests whose Host is not in `allowed_hosts`, and POSTs from pages of other origins than the service's
    own and `allowed_origins`, are refused (`guard.HostOriginGuard`: DNS rebinding and cross-site requests).

    Example:
        >>> from tailtag.inference import Tagger
        >>> app = create_app(Tagger.load("runs/exp1"), Limits(max_batch=16))  # doctest: +SKIP
        >>> # uvicorn.run(app, host="127.0.0.1", port=8000), or `tailtag serve runs/exp1`
    """
    service = Service(tagger, limits)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        await service.start()
        yield
        await service.stop()

    app = FastAPI(
        title="tailtag",
        version=__version__,
        description=f"Image tagging with run {service.run!r}.",
        lifespan=lifespan,
        docs_url=None,  # the default page loads Swagger UI from a CDN: `_add_docs` serves a local copy
        redoc_url=None,
        openapi_url="/openapi.json" if docs else None,
    )
    app.state.service = service
    _add_error_handlers(app, service)
    if docs:
        _add_docs(app)

    def count(code: str) -> None:
        service.rejected[code] = service.rejected.get(code, 0) + 1

    app.add_middleware(HostOriginGuard, allowed_hosts=allowed_hosts, allowed_origins=allowed_origins, on_reject=count)

    @app.post("/v1/tags", response_model=TagsResponse, responses=ERROR_RESPONSES, openapi_extra=TAGS_REQUEST_DOC)
    async def tags(request: Request) -> JSONResponse:
        """Tags and calibrated probabilities of one or many images (multipart files or base64 JSON)."""
        return JSONResponse(await service.tag(request))

    @app.get("/v1/labels", response_model=LabelsResponse)
    async def labels() -> dict:
        """The run's labels in output order, their thresholds, the threshold strategy and the task."""
        return service.labels()

    @app.get("/healthz", response_model=HealthResponse, responses={503: {"model": HealthResponse}})
    async def healthz() -> JSONResponse:
        """Liveness and counters: uptime, requests served, batches run, mean batch size, rejections.
        503 when the model queue is not running, so a load balancer takes the instance out."""
        health = service.health()
        return JSONResponse(health, status_code=200 if health["status"] == "ok" else 503)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(
            render_page(service.run, limits), headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY}
        )

    return app


def _add_docs(app: FastAPI) -> None:
    """Swagger UI at /docs from the copy of its assets that the `fastapi-offline` package ships, so the page
    works without network access (FastAPI's default loads them from a CDN and is blank offline)."""
    from importlib.resources import files

    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles

    app.mount("/docs/static", StaticFiles(directory=str(files("fastapi_offline") / "static")), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    async def swagger() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="tailtag API",
            swagger_js_url="/docs/static/swagger-ui-bundle.js",
            swagger_css_url="/docs/static/swagger-ui.css",
            swagger_favicon_url="/docs/static/favicon.png",
            swagger_ui_parameters={"validatorUrl": None},  # no call to the online validator
        )


def _add_error_handlers(app: FastAPI, service: Service) -> None:
    def reply(error: ApiError) -> JSONResponse:
        service.rejected[error.code] = service.rejected.get(error.code, 0) + 1
        return JSONResponse(error.body(), status_code=error.status, headers=error.headers)

    @app.exception_handler(ApiError)
    async def api_error(_: Request, error: ApiError) -> JSONResponse:
        return reply(error)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed"}
        fix = "see GET /v1/labels, POST /v1/tags, GET /healthz (and /docs when started with --docs)"
        message = f"{request.method} {request.url.path}: {error.detail}"
        code = codes.get(error.status_code, "http_error")
        return reply(ApiError(error.status_code, code, message, fix, headers=dict(error.headers or {})))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, error: RequestValidationError) -> JSONResponse:
        return reply(ApiError(400, "bad_request", f"invalid request: {error.errors()[:3]}", "see /docs"))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, error: Exception) -> JSONResponse:
        service.internal_errors += 1
        log.error("internal error on %s %s", request.method, request.url.path, exc_info=error)
        body = {"error": {"code": "internal_error", "message": "internal error (a bug in tailtag)", "fix": "report it"}}
        return JSONResponse(body, status_code=500)
