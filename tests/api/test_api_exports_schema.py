"""The CSV exports take the filters of their lists, so the OpenAPI document gives each the same
schema as the list's parameter of that name (sort keys as an enum, ids bounded): a client that
sends what the list takes is not refused by the export."""

from __future__ import annotations


def _params(doc: dict, path: str) -> dict[str, dict]:
    out = {}
    for p in doc["paths"][path]["get"].get("parameters", []):
        schema = {k: v for k, v in p["schema"].items() if k not in ("description", "title")}
        out[p["name"]] = schema
    return out


# Export-only parameters, each with its reason.
EXPORT_ONLY = {"ids": "the firms ticked on the list page (a bulk action), not a list filter"}


def test_export_filters_have_the_list_schemas(client):
    doc = client.get("/api/openapi.json").json()
    wrong = []
    for export, listing in (
        ("/api/v1/exports/firms.csv", "/api/v1/firms"),
        ("/api/v1/exports/traders.csv", "/api/v1/traders"),
    ):
        exported, listed = _params(doc, export), _params(doc, listing)
        for name, schema in exported.items():
            if name in EXPORT_ONLY:
                continue
            if name not in listed:
                wrong.append(f"{export} ?{name}: not a filter of {listing}")
            elif schema != listed[name]:
                wrong.append(f"{export} ?{name}: {schema} != {listing}: {listed[name]}")
    assert not wrong, "\n".join(wrong)
