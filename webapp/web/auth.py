"""Log in and out."""

from math import ceil

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired

from ..auth import begin_session, end_session
from ..services import accounts, login_throttle
from .forms import storable_text
from .htmx import local_url, see_other

bp = Blueprint("auth", __name__)


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired("Enter your email."), storable_text])
    password = PasswordField("Password", validators=[DataRequired("Enter your password.")])


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(local_url(request.args.get("next"), url_for("projects.home")))
    form = LoginForm()
    error = None
    status = 400 if request.method == "POST" else 200
    if form.validate_on_submit():
        address = request.remote_addr or "unknown"
        wait = login_throttle.retry_after(form.email.data, address)
        if wait is not None:
            error = (
                f"Too many failed attempts. Try again in {ceil(wait / 60)} minute{'s' if wait > 60 else ''}."
            )
            return render_template("auth/login.html", form=form, error=error), 429, {"Retry-After": str(wait)}
        user = accounts.authenticate(form.email.data, form.password.data)
        if user is not None:
            login_throttle.clear_failures(form.email.data)
            begin_session(user)
            return see_other(local_url(request.args.get("next"), url_for("projects.home")))
        login_throttle.record_failure(form.email.data, address)
        error = "That email and password do not match an account."
    return render_template("auth/login.html", form=form, error=error), status


@bp.post("/logout")
@login_required
def logout():
    end_session()
    flash("You are logged out.", "info")
    return see_other(url_for("auth.login"))
