"""Symbol set pages: list with status tabs, detail with download/replace/delete, summary chart."""

from contextlib import suppress

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import RequestEntityTooLarge

from ..extensions import csrf
from ..services import symbol_sets, symbol_upload_checks, symbol_uploads
from ..services.errors import NotFound, ValidationError
from .htmx import is_htmx, local_url, origin_page_args, render, see_other
from .listing import list_state, render_list
from .projects import scoped_to_project

bp = scoped_to_project(Blueprint("symbol_sets", __name__, url_prefix="/project/<int:project_id>/symbol-sets"))
TABS = ("all", "uploaded", "pending", "failed")
# The API's status names that mean the same as a tab.
TAB_ALIASES = {"valid": "uploaded"}
REPLACE_WARNING = "This replaces the file in use."
CHART_DAYS = 30


@bp.before_request
@login_required
def require_login():
    """Every symbol set page needs a signed-in member of the project."""


def _render_list(args: MultiDict):
    project = g.project
    listing = list_state(
        symbol_sets.LIST_SPEC,
        lambda query: symbol_sets.list_symbol_sets(project, query),
        args,
        endpoint="symbol_sets.index",
        filter_names=("status", "search", "ref"),
        neutral={"status": "all"},
    )
    current = listing.query.filters.get("status", "all")
    return render_list(
        "symbol_sets/list.html",
        "symbol_sets/_results.html",
        listing,
        counts=symbol_sets.status_counts(project),
        tabs=TABS,
        active_tab=TAB_ALIASES.get(current, current),
    )


@bp.get("/")
def index():
    return _render_list(request.args)


def _get(project, symbol_set_id):
    return symbol_sets.get_symbol_set(project, symbol_set_id)


def _render_detail(
    project, item, status: int = 200, replace_error: str | None = None, confirm_replace: bool = False
):
    return render(
        "symbol_sets/detail.html",
        "symbol_sets/_detail.html",
        status=status,
        project=project,
        item=item,
        history=symbol_sets.history(project, item),
        replace_error=replace_error,
        replace_warning=REPLACE_WARNING,
        confirm_replace=confirm_replace,
        max_upload_mib=symbol_uploads.MAX_UPLOAD_BYTES // (1024 * 1024),
    )


@bp.get("/<symbol_set_id>")
def detail(symbol_set_id):
    project = g.project
    return _render_detail(project, _get(project, symbol_set_id))


@bp.get("/<symbol_set_id>/download")
def download(symbol_set_id):
    project = g.project
    return _redirect_to_download(symbol_sets.download_url, project, symbol_set_id)


@bp.get("/<symbol_set_id>/download-rejected")
def download_rejected(symbol_set_id):
    """The bytes of the latest upload that failed the checks, for review (never the set's file)."""
    project = g.project
    return _redirect_to_download(symbol_sets.rejected_download_url, project, symbol_set_id)


def _redirect_to_download(make_url, project, symbol_set_id):
    return redirect(make_url(project, symbol_set_id), 303)


@bp.post("/<symbol_set_id>/replace")
@csrf.exempt  # checked below, once the larger body limit applies (reading the token parses the body)
def replace(symbol_set_id):
    project = g.project
    item = _get(project, symbol_set_id)
    limit_mib = symbol_uploads.MAX_UPLOAD_BYTES // (1024 * 1024)
    # The app-wide limit is for ordinary forms; Werkzeug spools these file parts to temporary files.
    request.max_content_length = symbol_upload_checks.REPLACE_BODY_LIMIT
    try:
        csrf.protect()
        source, source_map = request.files.get("source"), request.files.get("source_map")
    except RequestEntityTooLarge:
        message = (
            f"The files are too large: together they may be at most {limit_mib} MiB. Nothing was changed."
        )
        return _render_detail(project, item, status=413, replace_error=message)
    if not source or not source.filename or not source_map or not source_map.filename:
        return _render_detail(
            project, item, status=422, replace_error="Choose both the minified file and its source map."
        )
    if item.has_uploaded_file and request.form.get("confirmed") != "1":
        # With JavaScript the form asks in a dialog first; without, this page asks for a tick.
        message = f"{REPLACE_WARNING} Tick the box to confirm, choose the files again and upload."
        return _render_detail(project, item, status=409, replace_error=message, confirm_replace=True)
    try:
        item = symbol_upload_checks.replace_from_files(
            project, current_user, item.id, source.stream, source_map.stream
        )
    except ValidationError as error:
        item = _get(project, symbol_set_id)
        kept = " Nothing was replaced: the file in use is unchanged." if item.has_uploaded_file else ""
        message = f"The new files did not pass the check: {error.detail}{kept}"
        return _render_detail(project, item, status=422, replace_error=message)
    flash(f"Replaced the files of {item.ref}; the symbol set is uploaded.", "success")
    if is_htmx():
        return _render_detail(project, item)
    return see_other(url_for(".detail", project_id=project.id, symbol_set_id=item.id))


@bp.post("/<symbol_set_id>/delete")
def delete(symbol_set_id):
    project = g.project
    item = _get(project, symbol_set_id)
    back = local_url(request.form.get("next"), url_for(".index", project_id=project.id))
    if request.form.get("confirmed") != "1":
        # Without JavaScript the confirmation is its own page.
        return render_template("symbol_sets/confirm_delete.html", project=project, selected=[item], back=back)
    ref = item.ref  # read now: if another request deletes the row first, `item` cannot reload
    with suppress(NotFound):  # another request deleted it first: gone, as the user asked
        symbol_sets.delete_symbol_set(project, current_user, item.id)
    flash(f"Deleted the symbol set {ref}.", "success")
    if is_htmx() and request.form.get("from") == "list":
        # Re-render the list the user is looking at, with the message out-of-band.
        return _render_list(origin_page_args())
    return see_other(back)


@bp.post("/bulk-delete")
def bulk_delete():
    project = g.project
    ids = request.form.getlist("ids")
    back = local_url(request.form.get("next"), url_for(".index", project_id=project.id))
    if not ids:
        flash("Select at least one symbol set first.", "warning")
        return see_other(back)
    if request.form.get("confirmed") != "1":
        selected = []
        for symbol_set_id in dict.fromkeys(ids[: current_app.config["UI_MAX_PAGE_SIZE"]]):
            try:
                selected.append(symbol_sets.get_symbol_set(project, symbol_set_id))
            except NotFound:
                continue
        if not selected:
            flash("Those symbol sets no longer exist.", "warning")
            return see_other(back)
        return render_template(
            "symbol_sets/confirm_delete.html", project=project, selected=selected, back=back
        )
    try:
        deleted = symbol_sets.delete_symbol_sets(project, current_user, ids)
    except ValidationError as error:
        flash(error.detail, "error")
        return see_other(back)
    flash(f"Deleted {deleted} symbol set{'s' if deleted != 1 else ''}.", "success")
    if is_htmx() and request.form.get("from") == "list":
        # Re-render the list the user is looking at (the last page, if this one emptied).
        return _render_list(origin_page_args())
    return see_other(back)


def _chart(days: list[dict], width: int = 720, height: int = 200) -> dict:
    """Bar geometry for the uploads/failures chart (drawn as inline SVG by the template)."""
    top = max([1] + [day["uploads"] for day in days] + [day["failures"] for day in days])
    left, right, bottom, plot_top = 36, 24, height - 24, 10
    plot_height = bottom - plot_top
    slot = (width - left - right) / len(days)
    bar = max(slot / 2 - 2, 1)
    bars = []
    for index, day in enumerate(days):
        x = left + index * slot + 1
        for offset, kind in ((0, "uploads"), (bar, "failures")):
            value = day[kind]
            h = plot_height * value / top
            bars.append(
                {"kind": kind, "day": day["day"], "value": value, "x": x + offset, "y": bottom - h, "h": h}
            )
    ticks = sorted({0, top // 2, top})
    return {
        "width": width,
        "height": height,
        "left": left,
        "right": width - right,
        "bottom": bottom,
        "bar": bar,
        "bars": bars,
        "ticks": [{"value": value, "y": bottom - plot_height * value / top} for value in ticks],
        "labels": [
            {"x": left + index * slot + slot / 2, "text": day["day"][5:]}
            for index, day in enumerate(days)
            if index % 5 == 0 or index == len(days) - 1
        ],
    }


@bp.get("/summary")
def summary():
    project = g.project
    days = symbol_sets.daily_activity(project, days=CHART_DAYS)
    return render_template(
        "symbol_sets/summary.html",
        project=project,
        counts=symbol_sets.status_counts(project),
        days=days,
        totals={
            "uploads": sum(day["uploads"] for day in days),
            "failures": sum(day["failures"] for day in days),
        },
        chart=_chart(days),
    )
