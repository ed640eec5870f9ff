"""Flask commands: users, keys, demo data."""

import time

import click
from flask.cli import AppGroup, with_appcontext

from .models import MembershipLevel
from .services import accounts, api_keys, demo
from .services.errors import ServiceError

users_cli = AppGroup("users", help="Manage users.")
keys_cli = AppGroup("keys", help="Manage personal API keys.")


def _fail(error: ServiceError) -> click.ClickException:
    return click.ClickException(error.detail)


def _project_ids(_ctx, _param, value: str | None) -> list[int] | None:
    if not value:
        return None
    try:
        return [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter("use project ids separated by commas, e.g. 1,2") from None


@users_cli.command("create")
@click.argument("email")
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="At least 8 characters; asked for (not echoed) when omitted.",
)
@click.option("--organization", required=True, help="Created with a default project if new.")
@click.option("--first-name", default="")
@click.option("--last-name", default="")
def create_user(email, password, organization, first_name, last_name):
    """Create a user who owns ORGANIZATION, or joins it as a member when it exists."""
    joining = accounts.find_organization(organization) is not None
    try:
        user = accounts.create_user(email, password, organization, first_name=first_name, last_name=last_name)
    except ServiceError as error:
        raise _fail(error) from None
    membership = user.memberships[0]
    org = membership.organization
    level = MembershipLevel(membership.level).name.lower()
    click.echo(f"Created user {user.email} (id {user.id}).")
    click.echo(
        f"{'Joined' if joining else 'Created'} organization '{org.name}' as {level}; projects: "
        + ", ".join(f"{project.name} (id {project.id})" for project in org.projects)
        + "."
    )


@keys_cli.command("create")
@click.argument("email")
@click.option(
    "--scopes",
    required=True,
    help="'*' or a comma-separated list, e.g. evaluation:read,evaluation:write. "
    f"Known scopes: {', '.join(api_keys.ALL_SCOPES)}.",
)
@click.option("--label", default="CLI key", show_default=True)
@click.option(
    "--projects",
    callback=_project_ids,
    help="Limit the key to these project ids (comma-separated); default: all the user's projects.",
)
def create_key(email, scopes, label, projects):
    """Create a personal API key for EMAIL; print the raw key on the last line."""
    try:
        user = accounts.find_user_by_email(email)
        key, raw_key = api_keys.create_key(user, label, scopes, projects)
    except ServiceError as error:
        raise _fail(error) from None
    scope_text = ", ".join(key.scopes)
    project_text = ", ".join(map(str, key.scoped_teams)) if key.scoped_teams else "all"
    click.echo(
        f"Created API key '{key.label}' ({key.mask_value}) for {user.email}; "
        f"scopes: {scope_text}; projects: {project_text}."
    )
    click.echo("Copy it now, it is not shown again:")
    click.echo(raw_key)


@click.command("seed-demo")
@with_appcontext
@click.option(
    "--evaluations",
    "evaluation_count",
    type=click.IntRange(min=0),
    default=demo.DEFAULT_EVALUATIONS,
    show_default=True,
    help="How many evaluations to add to the demo project.",
)
@click.option("--if-empty", is_flag=True, help="Do nothing when any user exists (for `make run`).")
def seed_demo(evaluation_count, if_empty):
    """Add the demo login and realistic evaluations; print the login."""
    if if_empty and accounts.count_users() > 0:
        click.echo("Users exist already; not adding demo data.")
    else:
        try:
            account = demo.ensure_demo_account()
            if account.created:
                click.echo(f"Created the demo user {demo.DEMO_EMAIL} in '{demo.DEMO_ORGANIZATION}'.")
            started = time.perf_counter()
            added = demo.seed_evaluations(account.project, account.user, evaluation_count)
        except ServiceError as error:
            raise _fail(error) from None
        click.echo(
            f"Added {added} evaluations to project '{account.project.name}' "
            f"(id {account.project.id}) in {time.perf_counter() - started:.1f}s."
        )
    if demo.demo_user_exists():
        password = demo.DEMO_PASSWORD if demo.demo_password_works() else "(changed since it was seeded)"
        click.echo(f"Log in at {demo.DEMO_URL} as {demo.DEMO_EMAIL}, password: {password}")


def init_app(app) -> None:
    app.cli.add_command(users_cli)
    app.cli.add_command(keys_cli)
    app.cli.add_command(seed_demo)
