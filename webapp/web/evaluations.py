"""Evaluation pages: list (+archived), detail, create/edit, toggles, duplicate, archive/restore, bulk."""

from flask import Blueprint, abort, current_app, flash, g, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.datastructures import MultiDict

from ..services import evaluation_templates, evaluations, validation
from ..services.errors import Conflict, NotFound, ValidationError
from . import conflicts, evaluation_form
from .htmx import is_htmx, local_url, origin_page_args, render, see_other
from .listing import list_state, render_list
from .projects import scoped_to_project

bp = scoped_to_project(Blueprint("evaluations", __name__, url_prefix="/project/<int:project_id>/evaluations"))


@bp.before_request
@login_required
def require_login():
    """Every evaluation page needs a signed-in member of the project."""


def _render_list(args: MultiDict, *, archived: bool):
    listing = list_state(
        evaluations.LIST_SPEC,
        lambda query: evaluations.list_evaluations(g.project, query, archived=archived),
        args,
        endpoint="evaluations.archived" if archived else "evaluations.index",
        filter_names=("search", "enabled", "id__in"),
    )
    return render_list("evaluations/list.html", "evaluations/_results.html", listing, archived=archived)


@bp.get("/")
def index():
    return _render_list(request.args, archived=False)


@bp.get("/archived")
def archived():
    return _render_list(request.args, archived=True)


def _get(project, evaluation_id, include_deleted=False):
    return evaluations.get_evaluation(project, evaluation_id, include_deleted=include_deleted)


@bp.get("/<evaluation_id>")
def detail(evaluation_id):
    project = g.project
    evaluation = _get(project, evaluation_id, include_deleted=True)
    return render_template(
        "evaluations/detail.html",
        project=project,
        evaluation=evaluation,
        history=evaluations.history(project, evaluation),
    )


def _render_form(project, form, evaluation=None, status: int = 200, **context):
    return render(
        "evaluations/form.html",
        "evaluations/_form.html",
        status=status,
        project=project,
        form=form,
        evaluation=evaluation,
        templates=evaluation_templates.TEMPLATES,
        **context,
    )


def _read_form():
    """The posted form and the data to save, or the status to show the form again with instead.

    An editor button (add or remove a row) shows the changed form (200); a damaged form, with fields
    the editor never sends, is a 400 with its message; input that does not validate is a 422.
    """
    form = evaluation_form.from_post(request.form)
    if form.form_error:
        return form, None, 400
    if request.form.get("editor"):
        return form, None, 200
    data = form.check()
    return form, data, 422 if data is None else None


@bp.get("/new")
def new():
    slug = request.args.get("template")
    if slug is None:
        return _render_form(g.project, evaluation_form.blank())
    template = evaluation_templates.BY_SLUG.get(slug)
    if template is None:
        raise NotFound("There is no such template.")
    return _render_form(g.project, evaluation_form.from_template(template), template=template)


@bp.post("/new")
def create():
    project = g.project
    form, data, status = _read_form()
    if status is not None:
        return _render_form(project, form, status=status)
    try:
        evaluation = evaluations.create_evaluation(project, current_user, data)
    except ValidationError as error:
        form.add_problem(error)
        return _render_form(project, form, status=422)
    if evaluation.enabled:
        flash(f"Created “{evaluation.name}”. It is enabled and runs on matching generations.", "success")
    else:
        flash(f"Created “{evaluation.name}”. It starts disabled; enable it when it is ready.", "success")
    return see_other(url_for(".detail", project_id=project.id, evaluation_id=evaluation.id))


@bp.get("/<evaluation_id>/edit")
def edit(evaluation_id):
    project = g.project
    evaluation = _get(project, evaluation_id)
    return _render_form(project, evaluation_form.from_evaluation(evaluation), evaluation)


@bp.post("/<evaluation_id>/edit")
def update(evaluation_id):
    project = g.project
    evaluation = _get(project, evaluation_id)
    form, data, status = _read_form()
    if status is not None:
        return _render_form(project, form, evaluation, status=status)
    # "Keep my changes" after a conflict saves over the version the person was shown.
    expected = form.version.data
    if request.form.get("overwrite_version"):
        expected = validation.integer(request.form["overwrite_version"], "overwrite_version", minimum=0)
    try:
        evaluation = evaluations.update_evaluation(
            project, current_user, evaluation.id, data, partial=False, expected_version=expected
        )
    except ValidationError as error:
        form.add_problem(error)
        return _render_form(project, form, evaluation, status=422)
    except Conflict:
        current = _get(project, evaluation_id)
        form.focus = "conflict"
        return _render_form(
            project,
            form,
            current,
            status=409,
            conflict=conflicts.differences(current, evaluations.validate_input(data, partial=False)),
        )
    flash(f"Saved “{evaluation.name}”.", "success")
    return see_other(url_for(".detail", project_id=project.id, evaluation_id=evaluation.id))


@bp.post("/<evaluation_id>/enabled")
def set_enabled(evaluation_id):
    project = g.project
    _get(project, evaluation_id)
    enabled = validation.boolean(request.form.get("enabled", "false"), "enabled")
    evaluation = evaluations.update_evaluation(project, current_user, evaluation_id, {"enabled": enabled})
    if is_htmx():
        return render_template("evaluations/_switch.html", project=project, evaluation=evaluation)
    flash(f"{'Enabled' if enabled else 'Disabled'} “{evaluation.name}”.", "success")
    return see_other(
        local_url(
            request.form.get("next"), url_for(".detail", project_id=project.id, evaluation_id=evaluation_id)
        )
    )


@bp.post("/<evaluation_id>/duplicate")
def duplicate(evaluation_id):
    project = g.project
    copy = evaluations.duplicate_evaluation(project, current_user, evaluation_id)
    flash(f"Created “{copy.name}”. It starts disabled; enable it when it is ready.", "success")
    return see_other(url_for(".detail", project_id=project.id, evaluation_id=copy.id))


def _archive_or_restore(evaluation_id, archive: bool):
    project = g.project
    _get(project, evaluation_id, include_deleted=True)
    evaluation = evaluations.set_archived(project, current_user, evaluation_id, archive)
    if archive:
        flash(
            {
                "text": f"Archived “{evaluation.name}”.",
                "undo_url": url_for(".restore", project_id=project.id, evaluation_id=evaluation.id),
            },
            "success",
        )
    else:
        flash(f"Restored “{evaluation.name}”.", "success")
    if is_htmx() and request.form.get("from") in ("list", "archived"):
        # Re-render the list the user is looking at, with the message out-of-band.
        return _render_list(origin_page_args(), archived=request.form["from"] == "archived")
    return see_other(
        local_url(
            request.form.get("next"), url_for(".detail", project_id=project.id, evaluation_id=evaluation.id)
        )
    )


@bp.post("/<evaluation_id>/archive")
def archive(evaluation_id):
    return _archive_or_restore(evaluation_id, True)


@bp.post("/<evaluation_id>/restore")
def restore(evaluation_id):
    return _archive_or_restore(evaluation_id, False)


BULK_VERBS = {"enable": "Enable", "disable": "Disable", "archive": "Archive", "restore": "Restore"}
BULK_PAST = {"enable": "Enabled", "disable": "Disabled", "archive": "Archived", "restore": "Restored"}


@bp.post("/bulk")
def bulk():
    project = g.project
    action = request.form.get("action", "")
    ids = request.form.getlist("ids")
    back = local_url(request.form.get("next"), url_for(".index"))
    if action not in BULK_VERBS:
        abort(400, "Choose enable, disable, archive or restore.")
    if not ids:
        flash("Select at least one evaluation first.", "warning")
        return see_other(back)
    if request.form.get("confirmed") != "1":
        # Without JavaScript the confirmation is its own page.
        most = current_app.config["UI_MAX_PAGE_SIZE"]
        try:
            query = evaluations.parse_list_query({"id__in": ",".join(ids)}, most, most)
        except ValidationError as error:
            flash(error.detail, "error")
            return see_other(back)
        selected = evaluations.list_evaluations(project, query, archived=action == "restore")
        return render_template(
            "evaluations/confirm_bulk.html",
            action=action,
            verb=BULK_VERBS[action],
            selected=selected.items,
            back=back,
        )
    try:
        changed = evaluations.bulk_update(project, current_user, ids, action)
    except ValidationError as error:
        flash(error.detail, "error")
        return see_other(back)
    text = f"{BULK_PAST[action]} {len(changed)} evaluation{'s' if len(changed) != 1 else ''}."
    if action == "archive" and changed:
        # Undo restores exactly the rows this archived (not those archived before), as one comma list
        # of hex ids: the message waits in the session cookie until shown.
        undo = {"action": "restore", "confirmed": "1", "ids": ",".join(key.hex for key in changed)}
        flash({"text": text, "undo_url": url_for(".bulk"), "undo_fields": undo}, "success")
    else:
        flash(text, "success")
    if is_htmx() and request.form.get("from") in ("list", "archived"):
        # Re-render the list the user is looking at (the last page, if this one emptied).
        return _render_list(origin_page_args(), archived=request.form["from"] == "archived")
    return see_other(back)
