"""The settings pages' and the invitation page's forms: what each field needs to be read at all; the services
judge the rest."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, EqualTo, Length

from ..services import accounts
from ..services.errors import ValidationError
from .forms import storable_text

NAME_LENGTH = Length(max=accounts.MAX_NAME_LENGTH, message="Keep it to %(max)d characters or fewer.")


class SettingsForm(FlaskForm):
    # The app's CSRFProtect checks every POST before the view runs; the templates render the token.
    class Meta:
        csrf = False

    # The services' names for fields the form calls otherwise.
    SERVICE_ATTRS: dict[str, str] = {}

    def add_service_errors(self, error: ValidationError) -> None:
        """Put each of the service's problems (ValidationErrors: several) under its field."""
        for problem in getattr(error, "errors", [error]):
            field = self._fields.get(self.SERVICE_ATTRS.get(problem.attr, problem.attr) or "")
            if field is None:
                self.form_errors.append(problem.detail)
            elif problem.detail not in field.errors:
                field.errors = [*field.errors, problem.detail]

    def add_missed_problems(self, problems: list[ValidationError]) -> None:
        """The service's problems that the form's own checks did not already report for their field
        (one failed check is enough to stop a submit, but the person should hear every problem at once)."""
        for problem in problems:
            attr = self.SERVICE_ATTRS.get(problem.attr, problem.attr)
            if attr not in self._fields or not self._fields[attr].errors:
                self.add_service_errors(problem)

    def problems(self) -> list[tuple[str | None, str]]:
        """(field id, message) for the error summary, in the form's order. Away from its field, a message
        that does not say which field it is about ("This field may not be blank.") is led by the label."""
        listed = [(None, message) for message in self.form_errors]
        return listed + [
            (field.id, f"{field.label.text}: {message}" if "this field" in message.lower() else message)
            for field in self
            for message in field.errors
        ]


class ProfileForm(SettingsForm):
    first_name = StringField("First name", validators=[storable_text, NAME_LENGTH])
    last_name = StringField("Last name", validators=[storable_text, NAME_LENGTH])


def chosen_password(name: str, label: str, noun: str) -> tuple[PasswordField, PasswordField]:
    """A password field called `name` and the field that repeats it (`noun`: "password", "new password")."""
    return (
        PasswordField(label, validators=[DataRequired(f"Choose a {noun}."), storable_text]),
        PasswordField(
            f"{label} again",
            validators=[
                DataRequired(f"Type the {noun} again."),
                EqualTo(name, f"The two {noun}s are not the same."),
            ],
        ),
    )


class PasswordForm(SettingsForm):
    current_password = PasswordField(
        "Current password", validators=[DataRequired("Enter your current password.")]
    )
    new_password, confirm_password = chosen_password("new_password", "New password", "new password")


class ApiKeyForm(SettingsForm):
    SERVICE_ATTRS = {"scoped_teams": "projects"}

    label = StringField("Label", validators=[storable_text])
    all_access = BooleanField("All access")
    # The services check scopes and projects (the API takes the same values); any ticked value is read.
    scopes = SelectMultipleField("Scopes", validate_choice=False)
    projects = SelectMultipleField("Projects", validate_choice=False)


class NewAccountForm(ProfileForm):
    """The invitation page's form for someone without an account yet: their name and a password."""

    password, confirm_password = chosen_password("password", "Password", "password")


class ProjectForm(SettingsForm):
    """A new project's name (the service checks it)."""

    name = StringField("Name", validators=[storable_text])


class InviteForm(SettingsForm):
    """Invite people: their addresses and the level they join at (the service checks both)."""

    SERVICE_ATTRS = {"target_email": "emails"}

    emails = TextAreaField("Email addresses", validators=[storable_text])
    # The choices are the levels the caller may give (the view sets them); any value is read.
    level = SelectField("Level", default="1", validate_choice=False)


class DeleteProjectForm(SettingsForm):
    """The project's name typed again before it is deleted (the service compares it)."""

    confirm_name = StringField("Name", validators=[storable_text])
