"""/docs works offline: Swagger UI and its assets come from the service itself."""

import re
from urllib.parse import urlsplit

import httpx


async def test_docs_and_every_asset_are_served_locally(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert any(asset.endswith(".js") for asset in assets)
    assert any(asset.endswith(".css") for asset in assets)
    for asset in assets:
        assert urlsplit(asset).hostname in (None, "test"), f"{asset} is not served by the service"
        response = await client.get(urlsplit(asset).path)
        assert response.status_code == 200
        assert response.content
    assert "/openapi.json" in page.text


async def test_the_openapi_document_is_openapi_3(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    assert schema["openapi"].startswith("3.")
    assert "/docs" not in schema["paths"]
