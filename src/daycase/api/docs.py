"""The interactive API docs at `/docs`, from a vendored Swagger UI (API room).

FastAPI's own `/docs` page loads Swagger UI from a CDN, unpinned, on the app's origin
where the session cookie works: any change on that CDN would run in a signed-in
browser. Here the bundle is a pinned copy in the package (`api/static`, licence kept),
started by an external script so the page works under the Content-Security-Policy.
There is no ReDoc page.
"""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/docs/assets"

_PAGE = f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>daycase API</title>
  <link rel="stylesheet" href="{ASSETS}/swagger-ui.css">
  <script src="{ASSETS}/swagger-ui-bundle.js" defer></script>
  <script src="{ASSETS}/docs.js" defer></script>
</head>
<body>
<div id="swagger-ui"></div>
</body>
</html>
"""


def install_docs(app: FastAPI) -> None:
    """Serve `/docs` and its vendored files (the app is made with `docs_url=None`)."""
    app.mount(
        ASSETS,
        StaticFiles(directory=str(resources.files("daycase.api").joinpath("static"))),
        name="docs-assets",
    )

    @app.get("/docs", include_in_schema=False, response_class=HTMLResponse)
    async def docs() -> HTMLResponse:
        return HTMLResponse(_PAGE)
