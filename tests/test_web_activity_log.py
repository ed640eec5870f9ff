"""The activity log in the UI's words: an evaluation is archived and restored, a symbol set deleted."""

import re

from webapp.extensions import db
from webapp.models import ActivityLog
from webapp.services import accounts, evaluations


def make(app, user_id, project_id, name):
    with app.app_context():
        user = accounts.get_user(user_id)
        project = accounts.resolve_project(user, project_id)
        evaluation_id = str(evaluations.create_evaluation(project, user, {"name": name, "prompt": "p"}).id)
        db.session.remove()
    return evaluation_id


def activity_phrases(html: str) -> list[str]:
    """Each entry of the page's activity log as "<verb> this evaluation", newest first."""
    log = html[html.index('<ol class="activity">') :]
    log = log[: log.index("</ol>")]
    return re.findall(r"\b(\w+ this evaluation)\b", re.sub(r"<[^>]+>|\s+", " ", log))


def test_archive_and_restore_read_archived_and_restored(client, logged_in, project_id, app, user_id):
    evaluation_id = make(app, user_id, project_id, "Tone check")
    base = f"/project/{project_id}/evaluations"
    client.post(f"{base}/{evaluation_id}/archive", data={"csrf_token": logged_in})
    client.post(f"{base}/{evaluation_id}/restore", data={"csrf_token": logged_in})
    client.post(
        f"{base}/bulk",
        data={"csrf_token": logged_in, "action": "archive", "ids": evaluation_id, "confirmed": "1"},
    )
    html = client.get(f"{base}/{evaluation_id}").get_data(as_text=True)
    assert activity_phrases(html) == [
        "archived this evaluation",
        "restored this evaluation",
        "archived this evaluation",
        "created this evaluation",
    ]
    assert "deleted this evaluation" not in html
    # Stored as before (the API's soft-delete word): rows written earlier read the same way.
    with app.app_context():
        stored = db.session.scalars(
            db.select(ActivityLog.activity)
            .where(ActivityLog.item_id == evaluation_id)
            .order_by(ActivityLog.id)
        ).all()
    assert stored == ["created", "deleted", "restored", "deleted"]


def test_a_symbol_set_is_still_deleted(app, user_id, project_id):
    from webapp.web.filters import activity_phrase

    entry = ActivityLog(scope="SymbolSet", activity="deleted")
    assert activity_phrase(entry) == "deleted this symbol set"
    assert activity_phrase(ActivityLog(scope="SymbolSet", activity="something_new")) == "something new"


def test_an_edit_says_what_changed_and_a_blank_value_says_it_is_empty(
    client, logged_in, project_id, app, user_id
):
    evaluation_id = make(app, user_id, project_id, "Tone check")
    base = f"/project/{project_id}/evaluations"
    client.post(
        f"{base}/{evaluation_id}/edit",
        data={
            "csrf_token": logged_in,
            "name": "Tone check",
            "description": "Polite replies",
            "prompt": "p",
            "version": "1",
            "conditions-0-rollout_percentage": "50",
        },
    )
    html = client.get(f"{base}/{evaluation_id}").get_data(as_text=True)
    log = html[html.index('<ol class="activity">') :]
    changes = [
        " ".join(re.sub(r"<[^>]+>", " ", item).split())
        for item in re.findall(r"<li>(\w+:.*?)</li>", log, re.S)
    ]
    assert changes == ["description: (empty) → Polite replies", "conditions: changed"]
