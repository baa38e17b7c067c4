"""/docs works without internet: the page names only the service's own URLs, and they answer."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from heartbeat.serve.app import Settings, create_app

# every test here trains a model or starts a server: make test-fast leaves them to make test
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    db = tmp_path_factory.mktemp("docs") / "serve.db"
    with TestClient(create_app(Settings(model_dir=ROOT / "models" / "cnn1d", db_url=f"sqlite:///{db}"))) as c:
        yield c


def test_docs_reference_no_external_url_and_their_assets_are_served(client):
    page = client.get("/docs")
    assert page.status_code == 200 and "swagger" in page.text.lower()
    assert not re.search(r"https?://", page.text), re.findall(r"https?://\S+", page.text)
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    assert {"/static/swagger-ui-bundle.js", "/static/swagger-ui.css"} <= set(assets)
    for url in assets:  # open like /docs: no credential needed
        r = client.get(url)
        assert r.status_code == 200 and len(r.content) > 1000, url
    assert client.get("/static/swagger-ui-bundle.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/docs/oauth2-redirect").status_code == 200


def test_only_the_named_assets_are_open(client):
    assert client.get("/static/redoc.standalone.js").status_code == 401  # in the package, not served
    assert client.get("/static/../model").status_code in (401, 404)


def test_no_docs_turns_the_page_and_assets_off(tmp_path):
    app = create_app(Settings(model_dir=ROOT / "models" / "cnn1d", db_url=f"sqlite:///{tmp_path / 's.db'}",
                              docs=False))
    with TestClient(app) as c:
        assert c.get("/docs").status_code == 404 and c.get("/static/swagger-ui.css").status_code == 404
