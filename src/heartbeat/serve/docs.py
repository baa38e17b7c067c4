"""``/docs`` that works without internet: Swagger UI's assets served by the service itself.

FastAPI's default ``/docs`` page loads Swagger UI's JavaScript and CSS from a CDN, so on a
hospital network with no way out it is blank. This follows FastAPI's "self-hosting JavaScript
and CSS for docs" recipe: the default docs are turned off and ``/docs`` is a page whose only
URLs are the service's own, with the assets taken from the ``fastapi-offline`` package (it
vendors Swagger UI 5, which renders the OpenAPI 3.1 that FastAPI writes; ``swagger-ui-bundle``
ships Swagger UI 4, which cannot). The online validator badge is off: it would call out too.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse

from heartbeat.errors import ConfigError

DOCS_URL, REDIRECT_URL = "/docs", "/docs/oauth2-redirect"
#: URL -> (file in fastapi_offline's static folder, media type); served by exact path, nothing else
ASSETS = {
    "/static/swagger-ui-bundle.js": ("swagger-ui-bundle.js", "text/javascript"),
    "/static/swagger-ui.css": ("swagger-ui.css", "text/css"),
    "/static/favicon.png": ("favicon.png", "image/png"),
}
PATHS = frozenset({DOCS_URL, REDIRECT_URL, *ASSETS})


def asset_folder() -> Path:
    """The folder of the vendored Swagger UI files (a clear error where the serve extra is missing)."""
    try:
        import fastapi_offline  # only when the docs are mounted
    except ImportError as exc:
        raise ConfigError("the API docs need the 'fastapi-offline' package: pip install -e '.[serve]', "
                           "or start the service with --no-docs") from exc
    return Path(fastapi_offline.__file__).parent / "static"


def add_docs(app: FastAPI, openapi_url: str) -> None:
    """``/docs`` (Swagger UI, its *Authorize* button included), its OAuth2 redirect page and the assets."""
    folder = asset_folder()
    missing = [name for name, _ in ASSETS.values() if not (folder / name).is_file()]
    if missing:
        raise ConfigError(f"fastapi-offline at {folder} lacks {missing}: reinstall it, or use --no-docs")

    @app.get(DOCS_URL, include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=root + openapi_url, title=f"{app.title} - API docs", oauth2_redirect_url=root + REDIRECT_URL,
            swagger_js_url=root + "/static/swagger-ui-bundle.js", swagger_css_url=root + "/static/swagger-ui.css",
            swagger_favicon_url=root + "/static/favicon.png", swagger_ui_parameters={"validatorUrl": None})

    @app.get(REDIRECT_URL, include_in_schema=False)
    def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    for url, (name, media) in ASSETS.items():
        def asset(path: Path = folder / name, media: str = media) -> FileResponse:
            return FileResponse(path, media_type=media, headers={"Cache-Control": "public, max-age=86400"})

        app.add_api_route(url, asset, methods=["GET"], include_in_schema=False)
