"""The evaluations service layer, called directly (no HTTP)."""

import copy
import uuid

import pytest
from sqlalchemy import event, select

from webapp.extensions import db
from webapp.models import ActivityLog, Evaluation, Project, User
from webapp.services import evaluations
from webapp.services.errors import Conflict, NotFound, ValidationError


def new(project, actor, **fields):
    return evaluations.create_evaluation(project, actor, {"name": "Judge", "prompt": "Is it good?", **fields})


def activities(item):
    return [
        (row.activity, row.user_id, row.detail["changes"])
        for row in db.session.scalars(
            select(ActivityLog).where(ActivityLog.item_id == str(item.id)).order_by(ActivityLog.id)
        )
    ]


def fresh(item):
    db.session.expire_all()
    return db.session.scalar(select(Evaluation).where(Evaluation.id == item.id))


# --- validate_conditions ----------------------------------------------------------------------


@pytest.mark.parametrize("empty", [None, [], "", "  ", "[]"])
def test_empty_conditions_normalize_to_an_empty_list(empty):
    assert evaluations.validate_conditions(empty) == []


def test_condition_set_defaults():
    [condition_set] = evaluations.validate_conditions([{}])
    assert set(condition_set) == {"id", "rollout_percentage", "properties"}
    assert uuid.UUID(condition_set["id"])
    assert condition_set["rollout_percentage"] == 100
    assert condition_set["properties"] == []


def test_each_generated_id_is_distinct_and_given_ids_are_kept():
    result = evaluations.validate_conditions([{}, {"id": ""}, {"id": "mine"}, {"id": None}])
    ids = [condition_set["id"] for condition_set in result]
    assert ids[2] == "mine"
    assert len(set(ids)) == 4


def test_null_or_missing_rollout_means_100_and_the_smallest_kept_is_a_tenth():
    result = evaluations.validate_conditions(
        [{"rollout_percentage": None, "properties": None}, {}, {"rollout_percentage": 0.1}]
    )
    assert [(c["rollout_percentage"], c["properties"]) for c in result] == [(100, []), (100, []), (0.1, [])]


@pytest.mark.parametrize(
    ("rollout", "code", "words"),
    [
        (0, "invalid", "between 0.1% and 100%"),
        (0.09, "invalid", "between 0.1% and 100%"),
        (100.01, "invalid", "between 0.1% and 100%"),
        ("", "blank", "Enter a rollout percentage"),
        ("  ", "blank", "Enter a rollout percentage"),
        ("50", "invalid", "must be a number"),
    ],
)
def test_rollout_zero_blank_or_out_of_range_is_refused(rollout, code, words):
    with pytest.raises(ValidationError) as raised:
        evaluations.validate_conditions([{}, {"rollout_percentage": rollout}])
    assert (raised.value.attr, raised.value.code) == ("conditions__1__rollout_percentage", code)
    assert words in raised.value.detail


def one_property(operator, value):
    return [{"properties": [{"key": "ok", "value": "v"}, {"key": "k", "operator": operator, "value": value}]}]


@pytest.mark.parametrize(
    ("operator", "value"),
    [
        ("gt", 2),
        ("gte", 0.5),
        ("lt", -3),
        ("lte", "10"),
        ("gte", "-0.25"),
        ("regex", "^gpt-4(o|-turbo)$"),
        ("not_regex", ["^a", "b$"]),
        ("is_date_before", "-7d"),
        ("is_date_after", "-24h"),
        ("is_date_after", "-1m"),
        ("is_date_before", "-1y"),
        ("is_date_after", "30M"),
        ("is_date_exact", "-1dStart"),
        ("is_date_before", "2025-01-31"),
        ("is_date_after", "2025-01-31T09:30:00Z"),
        ("is_date_after", "2024-02-29T23:59:59.5+05:30"),
        ("exact", ["pro", "team", 3]),
        ("is_not", ["free"]),
        ("icontains", ["refund", "invoice"]),
    ],
)
def test_values_that_suit_their_operator_are_kept(operator, value):
    [condition_set] = evaluations.validate_conditions(one_property(operator, value))
    assert condition_set["properties"][1]["value"] == value


@pytest.mark.parametrize(
    ("operator", "value", "words"),
    [
        ("gte", "fast", "compares numbers"),
        ("gt", True, "compares numbers"),
        ("lt", "1e3", "compares numbers"),
        ("lte", " 5", "compares numbers"),
        ("gt", [1, 2], "one value, not a list"),
        ("regex", "([a-z", "not a valid regular expression: unterminated character set"),
        ("not_regex", ["ok", "(?<"], "Value 2: '(?<' is not a valid regular expression"),
        ("regex", 5, "must be text"),
        ("regex", "a" * 501, "at most 500 characters"),
        ("is_date_before", "yesterday-ish", "is not a date"),
        ("is_date_after", "2025-02-30", "is not a date"),
        ("is_date_after", "2025-01-31 09:30", "is not a date"),
        ("is_date_exact", "-7x", "is not a date"),
        ("is_date_before", 20250131, "is not a date"),
        ("is_date_before", ["-7d"], "one value, not a list"),
    ],
)
def test_values_that_do_not_suit_their_operator_are_refused_naming_the_value(operator, value, words):
    with pytest.raises(ValidationError) as raised:
        evaluations.validate_conditions(one_property(operator, value))
    assert raised.value.attr == "conditions__0__properties__1__value"
    assert words in raised.value.detail


def test_every_problem_is_reported_in_field_order():
    problems = evaluations.input_problems(
        {
            "name": "",
            "prompt": "p",
            "conditions": [
                {"rollout_percentage": 0, "properties": [{"key": "a", "operator": "gt", "value": "x"}]},
                {"properties": [{"key": "", "value": "v"}]},
            ],
        }
    )
    assert [problem.attr for problem in problems] == [
        "name",
        "conditions__0__rollout_percentage",
        "conditions__0__properties__0__value",
        "conditions__1__properties__0__key",
    ]
    assert evaluations.input_problems({"name": "n", "prompt": "p"}) == []


def test_property_defaults_and_trimmed_key():
    [condition_set] = evaluations.validate_conditions(
        [
            {
                "properties": [
                    {"key": " $browser ", "value": "Chrome"},
                    {"key": "plan", "value": "pro", "operator": None, "type": ""},
                ]
            }
        ]
    )
    assert condition_set["properties"] == [
        {"key": "$browser", "value": "Chrome", "operator": "exact", "type": "event"},
        {"key": "plan", "value": "pro", "operator": "exact", "type": "event"},
    ]


def test_explicit_property_fields_are_kept():
    prop = {"key": "age", "value": 30, "operator": "gte", "type": "person"}
    [condition_set] = evaluations.validate_conditions(
        [{"id": "a", "rollout_percentage": 12.5, "properties": [prop]}]
    )
    assert condition_set == {"id": "a", "rollout_percentage": 12.5, "properties": [prop]}


def test_valueless_operators_drop_the_value():
    [condition_set] = evaluations.validate_conditions(
        [{"properties": [{"key": "email", "operator": "is_not_set", "value": "ignored"}]}]
    )
    assert condition_set["properties"][0]["value"] is None


def test_conditions_given_as_a_json_string_are_parsed():
    result = evaluations.validate_conditions('[{"id": "s", "properties": [{"key": "k", "value": [1, 2]}]}]')
    assert result == [
        {
            "id": "s",
            "rollout_percentage": 100,
            "properties": [{"key": "k", "value": [1, 2], "operator": "exact", "type": "event"}],
        }
    ]


def test_validate_conditions_does_not_mutate_its_input():
    given = [{"properties": [{"key": " k ", "value": "v"}]}]
    snapshot = copy.deepcopy(given)
    evaluations.validate_conditions(given)
    assert given == snapshot


@pytest.mark.parametrize(
    ("value", "attr"),
    [
        ({"id": "x"}, "conditions"),
        ("{not json", "conditions"),
        ([[]], "conditions__0"),
        ([{}, {"rollout_percentage": 100.01}], "conditions__1__rollout_percentage"),
        ([{"rollout_percentage": float("nan")}], "conditions__0__rollout_percentage"),
        ([{"properties": [{"key": "k", "value": float("inf")}]}], "conditions__0__properties__0__value"),
        ([{"properties": [{"key": "k", "value": "v"}] * 51}], "conditions__0__properties"),
        (
            [{"properties": [{"key": "k", "value": "v"}, {"key": "k", "value": "v", "type": "x"}]}],
            "conditions__0__properties__1__type",
        ),
    ],
)
def test_validate_conditions_errors_carry_the_path(value, attr):
    with pytest.raises(ValidationError) as raised:
        evaluations.validate_conditions(value)
    assert raised.value.attr == attr


def test_validate_input_ignores_unknown_and_read_only_fields():
    cleaned = evaluations.validate_input(
        {"name": " n ", "prompt": "p", "id": "x", "created_by": 1, "created_at": "now", "extra": True},
        partial=False,
    )
    assert cleaned == {"name": "n", "prompt": "p"}


def test_validate_input_partial_does_not_require_fields():
    assert evaluations.validate_input({}, partial=True) == {}
    with pytest.raises(ValidationError) as raised:
        evaluations.validate_input({"prompt": "p"}, partial=False)
    assert raised.value.attr == "name"


# --- create, get, list ------------------------------------------------------------------------


def test_create_sets_creator_defaults_and_logs(project, actor):
    item = new(project, actor, conditions=[{}])
    assert item.created_by_id == actor.id
    assert (item.enabled, item.deleted, item.description, item.version) == (False, False, "", 1)
    assert item.conditions[0]["rollout_percentage"] == 100
    [(activity, user_id, changes)] = activities(item)
    assert (activity, user_id) == ("created", actor.id)
    assert {"field": "name", "before": None, "after": "Judge"} in changes


def test_create_with_invalid_input_writes_nothing(project, actor):
    with pytest.raises(ValidationError):
        new(project, actor, conditions=[{"rollout_percentage": 200}])
    assert db.session.scalars(select(Evaluation)).all() == []
    assert db.session.scalars(select(ActivityLog)).all() == []


def test_get_evaluation_hides_archived_and_foreign_rows(project, actor):
    item = new(project, actor)
    other = Project(organization_id=project.organization_id, name="Other")
    db.session.add(other)
    db.session.commit()
    with pytest.raises(NotFound):
        evaluations.get_evaluation(other, item.id)
    with pytest.raises(NotFound):
        evaluations.get_evaluation(project, "not-a-uuid")
    evaluations.set_archived(project, actor, item.id, True)
    with pytest.raises(NotFound):
        evaluations.get_evaluation(project, item.id)
    assert evaluations.get_evaluation(project, str(item.id), include_deleted=True).deleted is True


def test_list_shows_live_or_archived_rows(project, actor):
    live = new(project, actor, name="Live")
    archived = new(project, actor, name="Archived")
    evaluations.set_archived(project, actor, archived.id, True)
    query = evaluations.parse_list_query({}, 100, 1000)
    # List rows carry the id as its text.
    assert [item.id for item in evaluations.list_evaluations(project, query).items] == [str(live.id)]
    archived_page = evaluations.list_evaluations(project, query, archived=True)
    assert ([item.id for item in archived_page.items], archived_page.count) == ([str(archived.id)], 1)


def test_parse_list_query_defaults_blank_values_and_cap():
    query = evaluations.parse_list_query({"enabled": "", "search": " ", "order_by": "", "limit": ""}, 20, 50)
    assert (query.filters, query.order_by, query.limit, query.offset) == ({}, ("-created_at",), 20, 0)
    capped = evaluations.parse_list_query({"limit": "500", "offset": "7", "search": " Tox "}, 20, 50)
    assert (capped.limit, capped.offset, capped.filters) == (50, 7, {"search": "Tox"})


# --- update, archive, version ----------------------------------------------------------------


def test_update_bumps_version_and_logs_only_real_changes(project, actor):
    item = new(project, actor)
    updated = evaluations.update_evaluation(project, actor, item.id, {"name": "Judge", "enabled": True})
    assert (updated.enabled, updated.version) == (True, 2)
    assert activities(item)[-1] == (
        "updated",
        actor.id,
        [{"field": "enabled", "before": False, "after": True}],
    )
    unchanged = evaluations.update_evaluation(project, actor, item.id, {"enabled": True})
    assert unchanged.version == 2
    assert unchanged.updated_at == updated.updated_at
    assert len(activities(item)) == 2


def test_stale_expected_version_raises_conflict_and_changes_nothing(project, actor):
    item = new(project, actor, name="Original")
    evaluations.update_evaluation(project, actor, item.id, {"name": "First edit"}, expected_version=1)
    with pytest.raises(Conflict) as raised:
        evaluations.update_evaluation(project, actor, item.id, {"name": "Stale edit"}, expected_version=1)
    assert raised.value.code == "stale_version"
    current = fresh(item)
    assert (current.name, current.version) == ("First edit", 2)
    assert [entry[0] for entry in activities(item)] == ["created", "updated"]
    evaluations.update_evaluation(project, actor, item.id, {"name": "Second edit"}, expected_version=2)
    assert fresh(item).name == "Second edit"


def test_concurrent_stale_edit_cannot_overwrite(app, project, actor):
    """A second editor saving between the first one's read and write must not be lost silently.

    PostgreSQL: the first editor's row lock makes the second wait. SQLite: BEGIN IMMEDIATE keeps the
    second writer out. Either way the second one gives up (a short timeout here) instead of overwriting.
    """
    item = new(project, actor, name="Original")
    engine = db.engine
    sqlite = engine.dialect.name == "sqlite"
    # The first read is the unlocked existence check before validation; the second editor
    # saves right after the locked one.
    state = {"armed": True, "reads": 0, "lock_timeout": False, "second": None}

    def short_lock_timeout(dbapi_connection, _record, _proxy):
        # The second editor runs on this thread, so it must give up instead of waiting forever.
        if state["lock_timeout"]:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA busy_timeout = 200" if sqlite else "SET lock_timeout = '200ms'")
            cursor.close()

    def restore_timeout(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        busy_timeout = app.config["SQLITE_BUSY_TIMEOUT_MS"]
        cursor.execute(f"PRAGMA busy_timeout = {busy_timeout}" if sqlite else "RESET lock_timeout")
        cursor.close()
        dbapi_connection.commit()  # back in the pool idle, not in a transaction the pre-ping would trip on

    def second_editor_saves(_conn, _cursor, statement, *_args):
        if not (state["armed"] and statement.lstrip().startswith("SELECT evaluations.pk")):
            return
        state["reads"] += 1
        if state["reads"] < 2:
            return
        state["armed"] = False
        with app.app_context():
            user, same_project = db.session.get(User, actor.id), db.session.get(Project, project.id)
            state["lock_timeout"] = True
            try:
                state["second"] = evaluations.update_evaluation(
                    same_project, user, item.id, {"name": "Second"}, expected_version=1
                )
            except Exception as error:  # noqa: BLE001 - the outcome is asserted below
                state["second"] = error
            finally:
                state["lock_timeout"] = False
                db.session.remove()

    event.listen(engine.pool, "checkout", short_lock_timeout)
    event.listen(engine.pool, "checkin", restore_timeout)
    event.listen(engine, "after_cursor_execute", second_editor_saves)
    try:
        first = evaluations.update_evaluation(project, actor, item.id, {"name": "First"}, expected_version=1)
    finally:
        event.remove(engine, "after_cursor_execute", second_editor_saves)
        event.remove(engine.pool, "checkin", restore_timeout)
        event.remove(engine.pool, "checkout", short_lock_timeout)

    assert state["armed"] is False, "the first editor's read was not seen"
    assert isinstance(state["second"], Exception), "both editors saved with the same expected_version"
    assert (first.name, first.version) == ("First", 2)
    assert [entry[0] for entry in activities(item)] == ["created", "updated"]


def test_full_update_requires_name_and_prompt(project, actor):
    item = new(project, actor)
    with pytest.raises(ValidationError) as raised:
        evaluations.update_evaluation(project, actor, item.id, {"name": "x"}, partial=False)
    assert raised.value.attr == "prompt"
    assert fresh(item).name == "Judge"


def test_archive_and_restore_log_deleted_and_restored(project, actor):
    item = new(project, actor)
    evaluations.set_archived(project, actor, item.id, True)
    assert fresh(item).deleted is True
    evaluations.set_archived(project, actor, item.id, False)
    assert fresh(item).deleted is False
    assert [entry[0] for entry in activities(item)] == ["created", "deleted", "restored"]
    assert [entry.activity for entry in evaluations.history(project, fresh(item))] == [
        "restored",
        "deleted",
        "created",
    ]


# --- duplicate ----------------------------------------------------------------------------------


def test_duplicate_copies_fields_disabled_with_copy_suffix(project, actor, make_user):
    original = new(
        project,
        actor,
        name="Toxicity",
        description="Rude replies",
        enabled=True,
        conditions=[{"id": "c1", "rollout_percentage": 40}],
    )
    copier_id = make_user("grace@example.com")
    db.session.commit()  # end this session's read snapshot so it sees the new user
    copier = db.session.get(User, copier_id)
    copy_ = evaluations.duplicate_evaluation(project, copier, original.id)
    assert copy_.id != original.id
    assert copy_.name == "Toxicity (Copy)"
    assert copy_.enabled is False
    assert (copy_.description, copy_.prompt) == ("Rude replies", "Is it good?")
    assert copy_.conditions == original.conditions
    assert copy_.created_by_id == copier.id
    assert fresh(original).enabled is True
    assert fresh(original).name == "Toxicity"
    assert [entry[:2] for entry in activities(copy_)] == [("created", copier.id)]


def test_duplicate_of_a_400_character_name_stays_valid(project, actor):
    original = new(project, actor, name="x" * 400)
    copy_ = evaluations.duplicate_evaluation(project, actor, original.id)
    assert len(copy_.name) == 400
    assert copy_.name.endswith("x (Copy)")


def test_duplicate_of_an_archived_evaluation_is_not_found(project, actor):
    original = new(project, actor)
    evaluations.set_archived(project, actor, original.id, True)
    with pytest.raises(NotFound):
        evaluations.duplicate_evaluation(project, actor, original.id)


# --- bulk_update ------------------------------------------------------------------------------


def test_bulk_enable_counts_only_changed_rows(project, actor):
    a = new(project, actor, name="a")
    b = new(project, actor, name="b", enabled=True)
    c = new(project, actor, name="c")
    changed = evaluations.bulk_update(project, actor, [str(a.id), str(b.id)], "enable")
    assert changed == [a.id]
    assert [fresh(x).enabled for x in (a, b, c)] == [True, True, False]
    assert [entry[0] for entry in activities(a)] == ["created", "updated"]
    assert [entry[0] for entry in activities(b)] == ["created"]


def test_bulk_disable_archive_and_restore(project, actor):
    items = [new(project, actor, name=name, enabled=True) for name in "abc"]
    ids = [str(item.id) for item in items]
    assert evaluations.bulk_update(project, actor, ids[:2], "disable") == [items[0].id, items[1].id]
    assert [fresh(x).enabled for x in items] == [False, False, True]
    assert evaluations.bulk_update(project, actor, ids, "archive") == [item.id for item in items]
    assert all(fresh(x).deleted for x in items)
    assert [entry[0] for entry in activities(items[2])] == ["created", "deleted"]
    assert evaluations.bulk_update(project, actor, ids[1:], "restore") == [items[1].id, items[2].id]
    assert [fresh(x).deleted for x in items] == [True, False, False]
    assert activities(items[1])[-1][0] == "restored"


def test_bulk_update_ignores_other_projects_rows(project, actor):
    other = Project(organization_id=project.organization_id, name="Other")
    db.session.add(other)
    db.session.commit()
    foreign = new(other, actor, name="Foreign")
    assert evaluations.bulk_update(project, actor, [str(foreign.id)], "enable") == []
    assert fresh(foreign).enabled is False


@pytest.mark.parametrize(
    ("ids", "action", "attr"),
    [(["VALID"], "explode", "action"), ([], "enable", "ids"), (["not-a-uuid"], "enable", "ids")],
)
def test_bulk_update_rejects_bad_input(project, actor, ids, action, attr):
    item = new(project, actor)
    ids = [str(item.id) if value == "VALID" else value for value in ids]
    with pytest.raises(ValidationError) as raised:
        evaluations.bulk_update(project, actor, ids, action)
    assert raised.value.attr == attr
    assert fresh(item).enabled is False
