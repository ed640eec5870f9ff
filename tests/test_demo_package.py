"""The demo package: the bench's seed cache keys on every file of it; its releases are the service's."""

import shutil

from sqlalchemy import select

from webapp import demo
from webapp.demo import content
from webapp.extensions import db
from webapp.models import ActivityLog, Release, SymbolSet
from webapp.services import releases, symbol_data
from webapp.storage import get_storage
from webapp.web.filters import preview

from .test_bench_baseline import api_list


def test_the_bench_seed_key_changes_with_any_file_of_the_demo_package(tmp_path, monkeypatch):
    """... and with the JSON columns' writer, which decides the seeded rows' stored texts."""
    root = api_list.ROOT
    shutil.copytree(root / "migrations" / "versions", tmp_path / "migrations" / "versions")
    shutil.copytree(root / "webapp" / "demo", tmp_path / "webapp" / "demo")
    shutil.copy(root / "webapp" / "json_columns.py", tmp_path / "webapp")
    monkeypatch.setattr(api_list, "ROOT", tmp_path)
    keys = {api_list.seed_key(10, 5)}
    for name in ("demo/content.py", "demo/bundles.py", "demo/seeder.py", "json_columns.py"):
        with (tmp_path / "webapp" / name).open("a") as file:
            file.write("\n# changed\n")
        keys.add(api_list.seed_key(10, 5))
    assert len(keys) == 5
    assert api_list.seed_key(10, 6) not in keys


def test_demo_releases_come_from_the_release_service_backdated(app, run):
    assert run("seed-demo", "--evaluations", "3", "--symbol-sets", "9").exit_code == 0
    with app.app_context():
        account = demo.ensure_demo_account()
        rows = db.session.scalars(select(Release).order_by(Release.created_at)).all()
        assert [row.version for row in rows] == ["2.13.1", "2.14.0"]
        for row in rows:
            assert row.hash_id == releases.default_hash_id("acme-web", row.version)
            assert row.metadata_["git"]["repo_name"] == "acme-web"
        assert (rows[1].created_at - rows[0].created_at).days == 21
        # Seeding again reuses them.
        demo.seed_symbol_sets(account.project, account.user, 2)
        assert db.session.scalar(select(db.func.count(Release.id))) == 2
        # Activity rows in the service's shape (activity.entry), for both kinds of item.
        details = db.session.scalars(select(ActivityLog.detail)).all()
        assert details and all(set(detail) >= {"name", "changes"} for detail in details)
        db.session.remove()


def test_demo_prompt_previews_say_what_each_check_judges():
    # The list shows a prompt's first 60 characters (evaluations/_row.html): each check's prompt starts with
    # its own question, not a preamble every demo row shares.
    previews = {preview(prompt, 60) for _description, prompt in content.texts().values()}
    assert len(previews) == len(content.CHECKS)


def test_demo_sets_record_what_their_file_holds_as_the_upload_check_does(app, run):
    assert run("seed-demo", "--evaluations", "0", "--symbol-sets", "9").exit_code == 0
    with app.app_context():
        storage = get_storage()
        uploaded = db.session.scalars(select(SymbolSet).where(SymbolSet.storage_ptr.is_not(None))).all()
        assert len(uploaded) == 4
        for row in uploaded:
            with storage.open(row.storage_ptr) as stream:
                assert row.contents == symbol_data.inspect(stream).contents
            assert row.contents["format"] == "source map" and row.contents["sources_with_content"] == 1
        db.session.remove()
