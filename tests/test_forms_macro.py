"""templates/_forms.html: one way to render a WTForms field and a form's error summary."""

import re

from flask import render_template_string
from markupsafe import Markup
from wtforms import BooleanField, Form, HiddenField, StringField

from webapp.web.auth import LoginForm

MACROS = '{% from "_forms.html" import render_field, error_summary %}'


class Sample(Form):
    email = StringField("Email")
    remember = BooleanField("Remember me")
    token = HiddenField()


def render(app, source: str, **context) -> str:
    with app.test_request_context():
        return render_template_string(MACROS + source, **context)


def test_a_field_has_its_label_control_and_attributes(app):
    html = render(app, '{{ render_field(form.email, autocomplete="email") }}', form=Sample())
    assert '<label for="email">Email</label>' in html
    assert 'autocomplete="email"' in html and 'id="email"' in html
    assert "aria-invalid" not in html and "aria-describedby" not in html


def test_an_error_and_a_hint_describe_the_control(app):
    form = Sample(data={"email": "<b>"})
    form.email.errors = ["Enter an email <address>."]
    html = render(app, '{{ render_field(form.email, hint="We never share it.") }}', form=form)
    assert 'aria-invalid="true"' in html
    assert 'aria-describedby="email-hint email-error"' in html
    assert '<small id="email-hint" class="muted field-hint">We never share it.</small>' in html
    assert '<small class="field-error" id="email-error">Enter an email &lt;address&gt;.</small>' in html
    assert 'value="&lt;b&gt;"' in html


def test_a_label_may_be_markup_and_text_is_escaped(app):
    html = render(
        app,
        "{{ render_field(form.email, label=plain) }}{{ render_field(form.remember, label=rich) }}",
        form=Sample(),
        plain="<i>x</i>",
        rich=Markup("Stay <small>signed in</small>"),
    )
    assert '<label for="email">&lt;i&gt;x&lt;/i&gt;</label>' in html
    assert 'type="checkbox"' in html and "Stay <small>signed in</small></label>" in html


def test_a_hidden_field_is_the_bare_input(app):
    html = render(app, "{{ render_field(form.token) }}", form=Sample()).strip()
    assert html.startswith("<input") and "<label" not in html


def test_the_error_summary_links_each_problem_to_its_field(app):
    html = render(
        app,
        "{{ error_summary(problems) }}",
        problems=[("name", "Name: This field may not be blank."), (None, "Someone <else> changed it.")],
    )
    assert "autofocus" in html and 'tabindex="-1"' in html
    assert '<a href="#name">Name: This field may not be blank.</a>' in html
    assert "<li>Someone &lt;else&gt; changed it.</li>" in html
    assert render(app, "{{ error_summary([]) }}", problems=[]).strip() == ""


def test_the_login_form_s_fields_are_render_field_s(app, client):
    token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/login").get_data(as_text=True))
    page = client.post("/login", data={"email": "", "password": "secret", "csrf_token": token.group(1)})
    assert page.status_code == 400
    with app.test_request_context(method="POST", data={"email": "", "password": "secret"}):
        form = LoginForm(meta={"csrf": False})
        assert not form.validate()
        fields = render_template_string(
            MACROS + '{{ render_field(form.email, autocomplete="username", autofocus=True) }}'
            '{{ render_field(form.password, autocomplete="current-password") }}',
            form=form,
        )
    html = page.get_data(as_text=True)
    for field in re.findall(
        r"<label.*?</label>\s*<input[^>]*>(?:\s*<small[^>]*>[^<]*</small>)?", fields, re.S
    ):
        assert field in html
    assert 'aria-describedby="email-error"' in html and "Enter your email." in html
    assert 'value="secret"' not in html
