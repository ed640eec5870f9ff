"""API keys in the service layer: unique labels under concurrency, the one-time reveal."""

import threading

import pytest

from webapp.extensions import db
from webapp.models import PersonalAPIKey
from webapp.services import accounts, api_keys
from webapp.services.errors import ValidationError

WORKERS = 6


def test_simultaneous_creates_with_one_label_make_one_key_and_clear_errors(app, user_id):
    outcomes = []
    start = threading.Barrier(WORKERS)

    def worker():
        with app.app_context():
            user = accounts.get_user(user_id)
            start.wait()
            try:
                api_keys.create_key_to_reveal(user, "deploy", "*")
                outcomes.append("created")
            except ValidationError as error:
                outcomes.append(error.code)
            except Exception as error:  # noqa: BLE001 - collected and asserted below
                outcomes.append(repr(error))
            db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["created"] + ["unique"] * (WORKERS - 1)
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(PersonalAPIKey.id))) == 1


def test_reveal_needs_the_right_pad_and_the_owner_and_works_once(app, user_id, make_user):
    stranger_id = make_user("eve@example.com", organization="Other")
    with app.app_context():
        user, stranger = accounts.get_user(user_id), accounts.get_user(stranger_id)
        key, pad = api_keys.create_key_to_reveal(user, "deploy", "*")
        key_id = str(key.id)
        assert api_keys.reveal_key(stranger, key_id, pad) is None  # not hers: the sealed copy stays
        raw_key = api_keys.reveal_key(user, key_id, pad)
        assert raw_key.startswith("phx_")
        assert api_keys.hash_key(raw_key) == db.session.get(PersonalAPIKey, key.id).secure_value
        assert api_keys.reveal_key(user, key_id, pad) is None

        other, other_pad = api_keys.create_key_to_reveal(user, "other", "*")
        wrong_pad = bytes(byte ^ 1 for byte in other_pad)
        # A wrong pad never shows some other string as the key, and burns the one showing.
        assert api_keys.reveal_key(user, str(other.id), wrong_pad) is None
        assert api_keys.reveal_key(user, str(other.id), other_pad) is None


@pytest.mark.parametrize("key_id", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_reveal_of_an_unknown_key_is_none(app_context, user_id, key_id):
    assert api_keys.reveal_key(accounts.get_user(user_id), key_id, b"pad") is None
