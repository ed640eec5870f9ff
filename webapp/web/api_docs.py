"""The API reference: the served OpenAPI schema, rendered in the browser by the vendored Swagger UI."""

from flask import Blueprint, render_template, url_for

# A page of its own blueprint: the API blueprints' key authentication (a 401 without a key) stays off it.
bp = Blueprint("api_docs", __name__)

SWAGGER_UI = "vendor/swagger-ui-5.35.0"


@bp.get("/api/docs/")
def show():
    """Show the reference; public, like the schema it renders (it holds no data)."""
    return render_template(
        "api_docs/show.html", schema_url=url_for("api_schema.schema"), swagger_ui=SWAGGER_UI
    )
