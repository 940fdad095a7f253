"""`tailtag serve`: a trained run as an HTTP tagging service, with a page to try it.

    tailtag serve RUN [--host 127.0.0.1] [--port 8000] [--backend torch|onnx] [--docs]
                      [--max-batch 32] [--max-wait-ms 10] [--max-images 16] [--max-request-mb 20]
                      [--max-pixels 50000000] [--timeout-s 30] [--max-queue N] [--max-requests 64]
                      [--read-timeout-s 10] [--keep-alive-s 5] [--max-connections 512]
                      [--allowed-host NAME ...] [--allowed-origin ORIGIN ...]

    $ tailtag serve runs/miml
    tailtag serve: run miml (5 labels, torch backend) at http://127.0.0.1:8000  (page: /, API: POST /v1/tags)
    $ curl -F images=@photo.jpg http://127.0.0.1:8000/v1/tags
    {"results":[{"filename":"photo.jpg","tags":["sea","sunset"],"probabilities":{"desert":0.02,...}}],...}

The service has no authentication: it listens on loopback unless --host says otherwise.
"""

from __future__ import annotations

import argparse
import socket
import sys
from pathlib import Path

from tailtag.serve.limits import SERVE_MAX_PIXELS, Limits


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", type=Path, metavar="RUN", help="run directory written by tailtag train")
    group = parser.add_argument_group("service")
    group.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    group.add_argument("--port", type=int, default=8000, help="TCP port (0: any free port; default 8000)")
    group.add_argument("--backend", choices=("torch", "onnx"), default="torch", help="onnx: RUN/model.onnx")
    group.add_argument("--device", default="cpu", help="torch backend: cpu, cuda[:INDEX] or auto (default cpu)")
    group.add_argument("--threads", type=int, help="torch threads of the model (default: torch's, the cores)")
    group.add_argument("--docs", action="store_true", help="serve OpenAPI docs at /docs and /openapi.json")
    group.add_argument(
        "--allowed-host", action="append", default=[], metavar="NAME",
        help="a Host name clients may use, besides localhost, 127.0.0.1, ::1 and --host (repeatable; "
        "'*.example.com' for sub-domains, '*' turns the check off). Other names get 400: DNS rebinding",
    )  # fmt: skip
    group.add_argument(
        "--allowed-origin", action="append", default=[], metavar="ORIGIN",
        help="an origin (https://app.example.com) whose web pages may POST to the service besides its own "
        "page (repeatable; '*' allows any). Other pages get 403: cross-site requests",
    )  # fmt: skip
    group.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    limits = parser.add_argument_group("batching and limits")
    limits.add_argument("--max-batch", type=int, default=32, help="most images per forward pass (default 32)")
    limits.add_argument("--max-wait-ms", type=float, default=10.0, help="wait for a fuller batch (default 10)")
    limits.add_argument("--max-images", type=int, default=16, help="most images per request (default 16)")
    limits.add_argument("--max-request-mb", type=float, default=20.0, help="most MiB per request (default 20)")
    limits.add_argument(
        "--max-pixels", type=int, default=SERVE_MAX_PIXELS, help=f"most pixels per image (default {SERVE_MAX_PIXELS:,})"
    )
    limits.add_argument("--timeout-s", type=float, default=30.0, help="per-request time limit (default 30)")
    limits.add_argument("--max-queue", type=int, default=0, help="most images waiting (default: 8 batches)")
    limits.add_argument("--max-requests", type=int, default=64, help="most requests in progress (default 64)")
    limits.add_argument("--decode-threads", type=int, default=2, help="image decoding threads (default 2)")
    connections = parser.add_argument_group("connections (slow and idle clients)")
    connections.add_argument(
        "--read-timeout-s", type=float, default=10.0,
        help="seconds a connection has to send a complete request head, from opening or from its previous "
        "response; then it is closed (idle, half-sent or trickled requests; default 10). The body of an "
        "accepted request is bounded by --timeout-s",
    )  # fmt: skip
    connections.add_argument(
        "--keep-alive-s", type=float, default=5.0, help="idle seconds a keep-alive connection stays open (default 5)"
    )
    connections.add_argument(
        "--max-connections", type=int, default=512,
        help="most open client connections (default 512); a new one beyond closes the connection idle the "
        "longest, so idle clients cannot lock out new ones. The file-descriptor limit is raised to fit",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from tailtag.errors import OptionError

    limits = Limits(
        max_batch=args.max_batch,
        max_wait_ms=args.max_wait_ms,
        max_images=args.max_images,
        max_request_mb=args.max_request_mb,
        max_pixels=args.max_pixels,
        timeout_s=args.timeout_s,
        max_queue=args.max_queue,
        max_requests=args.max_requests,
        decode_threads=args.decode_threads,
        read_timeout_s=args.read_timeout_s,
        keep_alive_s=args.keep_alive_s,
        max_connections=args.max_connections,
    )  # checks every flag before the model loads
    if not 0 <= args.port <= 65535:
        raise OptionError(f"--port must be in 0..65535, got {args.port}")
    if args.threads is not None and args.threads < 1:
        raise OptionError(f"--threads must be >= 1, got {args.threads}")
    from tailtag.serve.connections import ensure_fd_limit
    from tailtag.serve.server import bind

    ensure_fd_limit(limits.max_connections)
    sock = bind(args.host, args.port)  # a busy port fails now, not after loading the model
    try:
        return _serve(args, limits, sock)
    finally:
        sock.close()


def allowed_hosts(args: argparse.Namespace) -> list[str]:
    """Host names the service answers to: the loopback names, the bound address, and --allowed-host."""
    from tailtag.serve.guard import LOCAL_HOSTS

    return [*LOCAL_HOSTS, args.host, *args.allowed_host]


def _serve(args: argparse.Namespace, limits: Limits, sock: socket.socket) -> int:
    import torch
    import uvicorn

    from tailtag.predict.backends import tagger_for
    from tailtag.serve.app import create_app
    from tailtag.serve.server import LOOPBACK, url_of, uvicorn_config

    if args.threads:
        torch.set_num_threads(args.threads)
    tagger = tagger_for(args.run, args.backend, device=args.device)
    app = create_app(
        tagger, limits, docs=args.docs, allowed_hosts=allowed_hosts(args), allowed_origins=args.allowed_origin
    )
    url = url_of(sock)
    docs = ", docs: /docs" if args.docs else ""
    print(
        f"tailtag serve: run {tagger.model.run.path.name} ({len(tagger.names)} labels, {args.backend} backend) at "
        f"{url}  (page: /, API: POST /v1/tags{docs})",
        flush=True,
    )
    if args.host not in LOOPBACK:
        print(
            f"warning: listening on {args.host}: the service has no authentication; anyone who can reach this "
            "address can use it (put it behind a proxy that authenticates, or use --host 127.0.0.1); clients must "
            f"name it by an allowed host: {', '.join(allowed_hosts(args))} (add names with --allowed-host)",
            file=sys.stderr,
        )
    try:
        uvicorn.Server(uvicorn_config(app, log_level=args.log_level)).run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl+C after its graceful shutdown: a normal way to stop
        pass
    print("tailtag serve: stopped", flush=True)
    return 0
