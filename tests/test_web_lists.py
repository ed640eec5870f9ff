"""The list pages (evaluations and symbol sets): shared state and links, the Triggers column and previews,
empty states, bulk archive with Undo, aria-sort, numeric-aware name order."""

# The fixtures of the two lists' own test modules are imported, and test arguments name them.
# ruff: noqa: F811

import html as htmllib
import re
from urllib.parse import parse_qs, urlsplit

import pytest

from webapp.extensions import db
from webapp.models import Evaluation
from webapp.web.filters import preview, triggers

from .test_web_evaluations import HX, make_evaluation, stored  # noqa: F401
from .test_web_evaluations import list_url as evaluations_url
from .test_web_symbol_sets import list_url as sets_url
from .test_web_symbol_sets import make_set, refs_in  # noqa: F401


def names_in(html: str) -> list[str]:
    return re.findall(r'class="row-name"[^>]*>([^<]+)</a>', html)


def query_of(url: str) -> dict:
    return {name: values[-1] for name, values in parse_qs(urlsplit(htmllib.unescape(url)).query).items()}


def headers_of(html: str) -> dict[str, str]:
    """Each sortable header's link text -> its aria-sort."""
    found = re.findall(r'<th scope="col" aria-sort="(\w+)">\s*<a href="[^"]*"[^>]*>([^<]+)', html)
    return {label.strip(): sort for sort, label in found}


# --- Triggers column, previews ----------------------------------------------------------------


def condition_set(rollout, properties=0):
    prop = {"key": "$ai_model", "value": "gpt-4", "operator": "exact", "type": "event"}
    return {"id": f"s{rollout}", "rollout_percentage": rollout, "properties": [prop] * properties}


@pytest.mark.parametrize(
    ("conditions", "short", "full"),
    [
        ([], "No triggers", "No condition sets: it runs on every generation."),
        ([condition_set(25, 2)], "25% when 2 conditions", "25% when 2 conditions"),
        ([condition_set(50, 1)], "50% when 1 condition", "50% when 1 condition"),
        ([condition_set(100.0)], "100% of all generations", "100% of all generations"),
        ([{"properties": []}], "100% of all generations", "100% of all generations"),
        (
            [condition_set(10, 1), condition_set(12.5, 3)],
            "2 condition sets",
            "10% when 1 condition, or 12.5% when 3 conditions",
        ),
    ],
)
def test_triggers_words(conditions, short, full):
    assert triggers(conditions) == (short, full)


@pytest.mark.parametrize(
    ("text", "length", "expected"),
    [
        ("Short enough", 20, "Short enough"),
        ("Checks every claim against the context given", 20, "Checks every claim…"),
        ("Line one\n\n  line   two", 40, "Line one line two"),
        ("x" * 50, 10, "x" * 9 + "…"),
        ("Ends at a word boundary exactly", 24, "Ends at a word boundary…"),
        ("", 10, ""),
    ],
)
def test_preview_cuts_at_word_boundaries(text, length, expected):
    assert preview(text, length) == expected
    assert len(preview(text, length)) <= length


def test_list_shows_triggers_and_prompt_preview_with_full_text_in_titles(
    client, logged_in, project_id, make_evaluation
):
    long_description = "Flags replies that recommend or disparage a competitor's product by name " * 3
    long_prompt = "Does the response recommend or disparage a competitor's product by name? Answer yes or no."
    make_evaluation("None set", conditions=[])
    make_evaluation("One set", conditions=[condition_set(25, 2)], description="Short one")
    make_evaluation(
        "Two sets",
        conditions=[condition_set(10, 1), condition_set(100)],
        description=long_description,
        prompt=long_prompt,
    )
    html = client.get(evaluations_url(project_id, order_by="name")).get_data(as_text=True)
    cells = re.findall(r'<td class="triggers"[^>]*>(.*?)</td>', html, re.S)
    assert [re.sub(r"<[^>]+>", "", cell) for cell in cells] == [
        "No triggers: No condition sets: it runs on every generation.",
        "25% when 2 conditions",
        "2 condition sets: 10% when 1 condition, or 100% of all generations",
    ]
    assert 'title="10% when 1 condition, or 100% of all generations">2 condition sets<' in html
    assert ">Triggers</th>" in html and ">Prompt</th>" in html
    # Cut at a word, the whole text in the title; short texts have no title.
    shown = preview(long_description, 90)
    assert long_description.startswith(shown[:-1] + " ") and shown.endswith("replies…")
    assert f'title="{long_description.strip()}"' in htmllib.unescape(html)
    assert f">{htmllib.escape(shown, quote=False)}</small>" in html.replace("&#39;", "'")
    assert f'title="{long_prompt}"' in htmllib.unescape(html)
    assert "Does the response recommend or disparage a competitor's…</small>" in htmllib.unescape(html)
    assert '<small class="muted">Short one</small>' in html


# --- list state: links, page size, past the end -------------------------------------------------


def test_links_change_one_thing_and_keep_the_rest(client, logged_in, project_id, make_evaluation):
    for number in range(25):
        make_evaluation(f"Check {number}", enabled=number % 2 == 0)
    html = client.get(evaluations_url(project_id, enabled="true", search="check", offset=5)).get_data(
        as_text=True
    )
    sort_link = re.search(r'<a href="([^"]*)" id="sort-name">Name', html).group(1)
    assert query_of(sort_link) == {"enabled": "true", "search": "check", "order_by": "name"}  # page 1
    assert query_of(re.search(r'href="([^"]*)" rel="prev"', html).group(1)) == {
        "enabled": "true",
        "search": "check",
    }
    bulk_next = re.search(r'name="next" value="([^"]*)"', html).group(1)
    assert query_of(bulk_next) == {"enabled": "true", "search": "check", "offset": "5"}


def test_page_size_comes_from_config(app, client, logged_in, project_id, make_evaluation, monkeypatch):
    for number in range(8):
        make_evaluation(f"Check {number}")
    monkeypatch.setitem(app.config, "UI_PAGE_SIZE", 3)
    monkeypatch.setitem(app.config, "UI_MAX_PAGE_SIZE", 5)
    assert len(names_in(client.get(evaluations_url(project_id)).get_data(as_text=True))) == 3
    assert len(names_in(client.get(evaluations_url(project_id, limit=7)).get_data(as_text=True))) == 5


@pytest.mark.parametrize("which", ["evaluations", "symbol_sets"])
def test_past_the_end_shows_the_last_page(client, logged_in, project_id, make_evaluation, make_set, which):
    for number in range(23):
        if which == "evaluations":
            make_evaluation(f"Check {number}")
        else:
            make_set(f"chunk-{number}", state="pending")
    url = (evaluations_url if which == "evaluations" else sets_url)(project_id, offset=60, search="")
    response = client.get(url, headers=HX)
    assert "Showing 21–23 of 23" in response.get_data(as_text=True)
    # The pushed address is the page shown, without blank parameters.
    assert query_of(response.headers["HX-Push-Url"]) == {"offset": "20"}


def test_a_single_page_says_its_count_once(client, logged_in, project_id, make_evaluation, make_set):
    for name in ("One", "Two", "Three"):
        make_evaluation(name)
    html = client.get(evaluations_url(project_id)).get_data(as_text=True)
    assert re.search(r'id="result-count"[^>]*>3 evaluations<', html)
    assert "Showing" not in html and 'class="pager"' not in html
    make_set("app-chunk")
    html = client.get(sets_url(project_id)).get_data(as_text=True)
    assert re.search(r'id="result-count"[^>]*>1 symbol set<', html) and "Showing" not in html


# --- empty states ---------------------------------------------------------------------------------


def test_empty_list_says_it_once_without_bulk_bar(client, logged_in, project_id):
    html = client.get(evaluations_url(project_id)).get_data(as_text=True)
    assert html.count("No evaluations") == 1 and "No evaluations yet." in html
    assert 'id="bulk-form"' not in html and "Bulk actions" not in html
    assert "Showing" not in html and "0 evaluations" not in html
    assert "Clear filters" not in html
    archived = client.get(f"/project/{project_id}/evaluations/archived").get_data(as_text=True)
    assert archived.count("Nothing is archived.") == 1 and 'id="bulk-form"' not in archived


def test_filtered_empty_list_offers_clear_filters(client, logged_in, project_id, make_evaluation):
    make_evaluation("Tone")
    html = client.get(evaluations_url(project_id, search="zebra", enabled="true", order_by="name")).get_data(
        as_text=True
    )
    assert html.count("No evaluations match these filters.") == 1
    assert 'id="bulk-form"' not in html
    clear = re.search(
        r'<a href="([^"]*)" class="clear-filters" hx-boost="false">Clear filters</a>', html
    ).group(1)
    assert query_of(clear) == {"order_by": "name"}  # the sort stays, the filters go
    assert "Tone" in client.get(htmllib.unescape(clear)).get_data(as_text=True)


def test_symbol_set_empty_tab_and_search_offer_clear_filters(client, logged_in, project_id, make_set):
    html = client.get(sets_url(project_id)).get_data(as_text=True)
    assert html.count("No symbol sets yet.") == 1 and "Clear filters" not in html
    assert 'id="bulk-form"' not in html
    make_set("app-chunk")
    html = client.get(sets_url(project_id, status="failed")).get_data(as_text=True)
    assert "No failed symbol sets." in html and 'id="bulk-form"' not in html
    clear = re.search(r'<a href="([^"]*)" class="clear-filters" hx-boost="false">', html).group(1)
    assert query_of(clear) == {}
    html = client.get(sets_url(project_id, search="nothing-like-it")).get_data(as_text=True)
    assert html.count("No symbol sets match these filters.") == 1 and "Clear filters" in html
    # status=all filters nothing: an empty list there has nothing to clear.
    html = client.get(sets_url(project_id, status="all")).get_data(as_text=True)
    assert "app-chunk" in html and 'id="bulk-form"' in html


# --- bulk archive with Undo ---------------------------------------------------------------------


def test_bulk_archive_over_htmx_rerenders_the_list_and_undo_restores_exactly_those(
    app, client, logged_in, project_id, make_evaluation
):
    earlier = make_evaluation("Archived before")
    archived = client.post(
        f"/project/{project_id}/evaluations/{earlier}/archive", data={"csrf_token": logged_in}
    )
    client.get(archived.headers["Location"])  # shows (and so clears) its message
    chosen = [make_evaluation(f"Chosen {number}") for number in range(3)]
    kept = make_evaluation("Kept")
    response = client.post(
        f"/project/{project_id}/evaluations/bulk",
        data={"csrf_token": logged_in, "action": "archive", "ids": [*chosen, earlier], "confirmed": "1",
              "from": "list"},
        headers={**HX, "HX-Current-URL": f"http://localhost{evaluations_url(project_id, order_by='name')}"},
    )  # fmt: skip
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'id="results"' in html and names_in(html) == ["Kept"]
    assert "Archived 3 evaluations." in html
    undo = re.search(r'<form method="post" action="([^"]+)" class="inline">(.*?)</form>', html, re.S)
    assert undo.group(1).endswith("/evaluations/bulk")
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', undo.group(2)))
    assert fields["action"] == "restore" and fields["confirmed"] == "1"
    assert sorted(fields["ids"].split(",")) == sorted(key.replace("-", "") for key in chosen)
    assert re.search(r'<button type="submit" class="link-button" autofocus>Undo</button>', undo.group(2))
    assert "autofocus" not in html.replace(undo.group(0), "")  # nothing else takes focus
    assert response.headers["HX-Replace-Url"].endswith("order_by=name")

    restored = client.post(undo.group(1), data=fields | {"next": evaluations_url(project_id)})
    assert restored.status_code == 303
    assert [stored(app, key).deleted for key in chosen] == [False] * 3
    assert stored(app, earlier).deleted is True and stored(app, kept).deleted is False
    assert "Restored 3 evaluations." in client.get(restored.headers["Location"]).get_data(as_text=True)


def test_bulk_archive_without_javascript_offers_undo_after_the_redirect(
    app, client, logged_in, project_id, make_evaluation
):
    chosen = [make_evaluation(f"Chosen {number}") for number in range(2)]
    response = client.post(
        f"/project/{project_id}/evaluations/bulk",
        data={"csrf_token": logged_in, "action": "archive", "ids": chosen, "confirmed": "1",
              "next": evaluations_url(project_id)},
    )  # fmt: skip
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Archived 2 evaluations." in page and ">Undo</button>" in page
    # Other bulk actions have nothing to undo.
    client.post(
        f"/project/{project_id}/evaluations/bulk",
        data={"csrf_token": logged_in, "action": "enable", "ids": chosen, "confirmed": "1"},
    )
    page = client.get(evaluations_url(project_id)).get_data(as_text=True)
    assert ">Undo</button>" not in page


def test_undo_of_a_full_page_fits_the_session_cookie(app, client, logged_in, project_id):
    """Without JavaScript the Undo waits in the session cookie: 100 ids (the most a page shows) must fit
    a browser's 4 KB, or the browser would drop the cookie and sign the user out."""
    with app.app_context():
        rows = [{"project_id": project_id, "name": f"Check {n}", "prompt": "?"} for n in range(100)]
        db.session.execute(Evaluation.__table__.insert(), rows)
        db.session.commit()
        ids = [str(key) for key in db.session.scalars(db.select(Evaluation.id))]
        db.session.remove()
    assert app.config["UI_MAX_PAGE_SIZE"] == len(ids)
    response = client.post(
        f"/project/{project_id}/evaluations/bulk",
        data={"csrf_token": logged_in, "action": "archive", "ids": ids, "confirmed": "1"},
    )
    assert response.status_code == 303
    assert max(len(cookie) for cookie in response.headers.getlist("Set-Cookie")) < 4000
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Archived 100 evaluations." in page and ">Undo</button>" in page


def test_row_delete_in_place_moves_focus_to_the_count(client, logged_in, project_id, make_set):
    gone = make_set("gone-chunk")
    make_set("kept-chunk")
    response = client.post(
        f"/project/{project_id}/symbol-sets/{gone}/delete",
        data={"csrf_token": logged_in, "confirmed": "1", "from": "list"},
        headers={**HX, "HX-Current-URL": f"http://localhost{sets_url(project_id)}"},
    )
    html = response.get_data(as_text=True)
    assert refs_in(html) == ["kept-chunk"]
    count_line = r'<p class="count" id="result-count" tabindex="-1" data-focus-fallback autofocus>'
    assert re.search(count_line + r"\s*1 symbol set", html)


def test_bulk_delete_over_htmx_rerenders_the_list(client, logged_in, project_id, make_set):
    ids = [make_set(f"chunk-{number}") for number in range(2)]
    response = client.post(
        f"/project/{project_id}/symbol-sets/bulk-delete",
        data={"csrf_token": logged_in, "ids": ids, "confirmed": "1", "from": "list"},
        headers={**HX, "HX-Current-URL": f"http://localhost{sets_url(project_id)}"},
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "Deleted 2 symbol sets." in html
    assert html.count("No symbol sets yet.") == 1
    assert re.search(r'<p class="empty" id="result-count" tabindex="-1" data-focus-fallback autofocus>', html)


# --- sort headers -----------------------------------------------------------------------------------


def test_every_sortable_header_has_aria_sort_and_the_default_shows_its_direction(
    client, logged_in, project_id, make_evaluation, make_set
):
    make_evaluation("One")
    html = client.get(evaluations_url(project_id)).get_data(as_text=True)
    assert headers_of(html) == {"Name": "none", "Updated": "none", "Created": "descending"}
    assert re.search(r'>Created<span aria-hidden="true"> ▼</span></a>', html)
    html = client.get(evaluations_url(project_id, order_by="name,-created_at")).get_data(as_text=True)
    assert headers_of(html) == {"Name": "ascending", "Updated": "none", "Created": "none"}
    make_set("a-chunk")
    html = client.get(sets_url(project_id)).get_data(as_text=True)
    assert headers_of(html) == {"Ref": "none", "Created": "descending", "Last used": "none"}
    html = client.get(sets_url(project_id, order_by="-last_used")).get_data(as_text=True)
    assert headers_of(html)["Last used"] == "descending"


# --- numeric-aware name order in the UI ---------------------------------------------------------


def test_name_order_in_the_list_page_is_numeric_aware(client, logged_in, project_id, make_evaluation):
    for name in ("eval 10", "Eval 2", "eval 1", "Alpha"):
        make_evaluation(name)
    html = client.get(evaluations_url(project_id, order_by="name")).get_data(as_text=True)
    assert names_in(html) == ["Alpha", "eval 1", "Eval 2", "eval 10"]
    html = client.get(evaluations_url(project_id, order_by="-name")).get_data(as_text=True)
    assert names_in(html) == ["eval 10", "Eval 2", "eval 1", "Alpha"]
