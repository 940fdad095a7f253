"""The service over real HTTP: the same tags and probabilities as `Tagger.predict`, the other endpoints."""

from __future__ import annotations

import base64
import re

import httpx
import numpy as np
import pytest

from tailtag.serve.schema import HealthResponse, LabelsResponse, TagsResponse


def _multipart(paths):
    return [("images", (path.name, path.read_bytes(), "application/octet-stream")) for path in paths]


def _check_same(answer: dict, expected, paths) -> None:
    TagsResponse.model_validate(answer)
    assert len(answer["results"]) == len(expected)
    for result, tags, path in zip(answer["results"], expected, paths, strict=True):
        assert result["tags"] == tags.tags, path.name
        assert list(result["probabilities"]) == list(tags.probabilities)  # label order kept
        got = np.array(list(result["probabilities"].values()))
        np.testing.assert_allclose(got, list(tags.probabilities.values()), atol=1e-5, err_msg=path.name)


def test_single_multipart_image_matches_tagger(service, tagger, images):
    expected = tagger.predict(images[:1])
    response = httpx.post(f"{service}/v1/tags", files=_multipart(images[:1]))
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["labels"] == len(tagger.names) and answer["run"] == "run"
    assert answer["results"][0]["filename"] == images[0].name
    _check_same(answer, expected, images[:1])


@pytest.mark.parametrize("field", ["images", "image"])
def test_many_multipart_images_in_order(service, tagger, images, field):
    chosen = images[4:8]  # demo JPEG, CMYK JPEG, RGBA PNG, EXIF-rotated JPEG
    files = [(field, (p.name, p.read_bytes(), "image/jpeg")) for p in chosen]
    response = httpx.post(f"{service}/v1/tags", files=files)
    assert response.status_code == 200, response.text
    _check_same(response.json(), tagger.predict(chosen), chosen)
    assert [r["filename"] for r in response.json()["results"]] == [p.name for p in chosen]


def test_base64_json_matches_tagger(service, tagger, images):
    chosen = images[1:4]
    encoded = [base64.b64encode(chosen[0].read_bytes()).decode()]
    encoded.append("data:image/jpeg;base64," + base64.b64encode(chosen[1].read_bytes()).decode())
    encoded.append(base64.urlsafe_b64encode(chosen[2].read_bytes()).decode().rstrip("="))  # URL-safe, unpadded
    response = httpx.post(f"{service}/v1/tags", json={"images": encoded})
    assert response.status_code == 200, response.text
    _check_same(response.json(), tagger.predict(chosen), chosen)
    assert [r["filename"] for r in response.json()["results"]] == [None, None, None]


def test_labels_describe_the_decision(service, tagger):
    info = httpx.get(f"{service}/v1/labels").json()
    LabelsResponse.model_validate(info)
    assert info["names"] == tagger.names
    assert info["task"] == "multilabel" and info["views"] == ["center", "full"]
    assert info["strategy"] == tagger.decision.thresholds.strategy
    np.testing.assert_allclose(list(info["thresholds"].values()), tagger.decision.thresholds.thresholds_)


def test_healthz_counts_work(service, images):
    before = httpx.get(f"{service}/healthz").json()
    HealthResponse.model_validate(before)
    assert before["status"] == "ok" and before["model"] == "run"
    httpx.post(f"{service}/v1/tags", files=_multipart(images[:2])).raise_for_status()
    after = httpx.get(f"{service}/healthz").json()
    assert after["requests_served"] == before["requests_served"] + 1
    assert after["images_served"] == before["images_served"] + 2
    assert after["batches_run"] >= before["batches_run"] + 1
    assert after["uptime_s"] > before["uptime_s"]
    assert after["limits"]["max_images"] == 4


def test_page_is_self_contained(service):
    response = httpx.get(f"{service}/")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    page = response.text
    for hook in ('id="file-input"', 'id="drop-zone"', 'id="results"', "prob-bar", '"maxImages": 4'):
        assert hook in page
    # nothing is loaded from elsewhere, and the browser is told so
    assert "http://" not in page and "https://" not in page and "src=" not in page.replace("img.src", "")
    assert "default-src 'none'" in response.headers["content-security-policy"]


def test_docs_page_loads_nothing_from_elsewhere(service):
    page = httpx.get(f"{service}/docs")
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets and all(url.startswith("/docs/static/") for url in assets), assets  # no CDN: works offline
    assert "http://" not in page.text and "https://" not in page.text
    for url in assets:
        asset = httpx.get(f"{service}{url}")
        assert asset.status_code == 200 and len(asset.content) > 1000, url


def test_docs_only_when_asked(service, small_run):
    assert httpx.get(f"{service}/docs").status_code == 200
    schema = httpx.get(f"{service}/openapi.json").json()
    body = schema["paths"]["/v1/tags"]["post"]["requestBody"]["content"]
    assert set(body) == {"multipart/form-data", "application/json"}
    from tailtag.inference import Tagger
    from tailtag.serve import BackgroundServer, Limits, create_app

    with BackgroundServer(create_app(Tagger.load(small_run), Limits())) as plain:
        for path in ("/docs", "/openapi.json", "/redoc", "/docs/static/swagger-ui.css"):
            response = httpx.get(plain.url + path)
            assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


@pytest.mark.slow
def test_onnx_backend_serves_the_same_tags(small_run, tmp_path, tagger, images):
    """`tailtag serve --backend onnx` answers with the tags batch prediction gives with PyTorch."""
    import shutil

    from tailtag.export import export_run
    from tailtag.predict.backends import tagger_for
    from tailtag.serve import BackgroundServer, Limits, create_app

    run = shutil.copytree(small_run, tmp_path / "run")  # the export writes model.onnx into the run
    export_run(run, "onnx", sample=4)
    with BackgroundServer(create_app(tagger_for(run, "onnx"), Limits())) as server:
        response = httpx.post(f"{server.url}/v1/tags", files=_multipart(images))
    assert response.status_code == 200, response.text
    _check_same(response.json(), tagger.predict(images), images)
