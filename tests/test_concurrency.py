"""Several workers writing at once: no "database is locked", no lost update."""

import threading

from webapp.extensions import db
from webapp.models import ActivityLog, Evaluation
from webapp.services import accounts, evaluations

WORKERS = 4
UPDATES_EACH = 10


def test_concurrent_updates_all_land(app, user_id, project_id):
    with app.app_context():
        user = accounts.get_user(user_id)
        project = accounts.resolve_project(user, project_id)
        evaluation_id = evaluations.create_evaluation(project, user, {"name": "n", "prompt": "p"}).id
        db.session.remove()
    errors = []
    start = threading.Barrier(WORKERS)

    def worker(number):
        with app.app_context():
            user = accounts.get_user(user_id)
            project = accounts.resolve_project(user, project_id)
            start.wait()
            for step in range(UPDATES_EACH):
                try:
                    # Each write reads the row first: a deferred SQLite transaction or an
                    # unlocked PostgreSQL read would lose updates or fail with "locked".
                    evaluations.update_evaluation(
                        project, user, evaluation_id, {"description": f"worker {number} step {step}"}
                    )
                except Exception as error:  # noqa: BLE001 - collected and asserted below
                    errors.append(repr(error))
            db.session.remove()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    with app.app_context():
        evaluation = db.session.scalar(db.select(Evaluation).where(Evaluation.id == evaluation_id))
        assert evaluation.version == 1 + WORKERS * UPDATES_EACH
        updates = db.session.scalar(
            db.select(db.func.count(ActivityLog.id)).where(ActivityLog.activity == "updated")
        )
        assert updates == WORKERS * UPDATES_EACH
