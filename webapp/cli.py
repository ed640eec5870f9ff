"""Flask commands: users, keys, demo data, symbol-set maintenance."""

import functools
import json
import time
from datetime import timedelta

import click
from flask.cli import AppGroup, with_appcontext

from . import demo, mail
from .availability import describe, is_unavailable
from .models import MembershipLevel
from .services import (
    accounts,
    api_keys,
    failure_reasons,
    invites,
    organizations,
    projects,
    symbol_sets,
    symbol_upload_expiry,
    symbol_uploads,
    validation,
)
from .services.errors import ServiceError
from .storage import StorageError

users_cli = AppGroup("users", help="Manage users.")
keys_cli = AppGroup("keys", help="Manage personal API keys.")
symbol_sets_cli = AppGroup("symbol-sets", help="Maintain error-tracking symbol sets (source maps).")
projects_cli = AppGroup("projects", help="Manage organizations' projects.")
invites_cli = AppGroup("invites", help="Invite people to an organization.")


def _fail(error: ServiceError | StorageError) -> click.ClickException:
    return click.ClickException(error.detail if isinstance(error, ServiceError) else str(error))


class WholeNumber(click.ParamType):
    """ASCII digits within bounds (click's INT calls int(), which also takes "٣" and "1_000")."""

    name = "integer"

    def __init__(self, what: str, minimum: int = 0, maximum: int = validation.INT32_MAX):
        self.what, self.minimum, self.maximum = what, minimum, maximum

    def convert(self, value, param, ctx) -> int:
        try:
            return validation.integer(value, None, minimum=self.minimum, maximum=self.maximum)
        except ServiceError:
            bounds = f"{self.minimum} to {self.maximum}"
            self.fail(f"{validation.shown(value)} is not {self.what}: use digits, {bounds}.", param, ctx)


PROJECT_ID = WholeNumber("a project id", minimum=1)


def _project_ids(ctx, param, value: str | None) -> list[int] | None:
    if not value:
        return None
    return [PROJECT_ID.convert(part.strip(), param, ctx) for part in value.split(",") if part.strip()]


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
@click.option("--label", help="Unique among the user's keys; default: 'CLI key' (numbered if taken).")
@click.option(
    "--projects",
    callback=_project_ids,
    help="Limit the key to these project ids (comma-separated); default: all the user's projects.",
)
def create_key(email, scopes, label, projects):
    """Create a personal API key for EMAIL; print the raw key on the last line."""
    try:
        user = accounts.find_user_by_email(email)
        key, raw_key = api_keys.create_key(
            user, label or api_keys.unused_label(user, "CLI key"), scopes, projects
        )
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


def _organization(name: str):
    organization = accounts.find_organization(name)
    if organization is None:
        raise click.ClickException(f"No organization named {validation.shown(name)}.")
    return organization


@projects_cli.command("create")
@click.argument("name")
@click.option("--organization", required=True, help="The organization's name.")
def create_project(name, organization):
    """Create project NAME in ORGANIZATION; print its id on the last line."""
    org = _organization(organization)
    try:
        project = projects.create_project(organizations.operator(org), name)
    except ServiceError as error:
        raise _fail(error) from None
    click.echo(f"Created project '{project.name}' in '{org.name}'.")
    click.echo(project.id)


@projects_cli.command("list")
@click.option("--organization", help="Only this organization's projects.")
def list_projects(organization):
    """List projects: id, organization and name, one a line."""
    rows = accounts.all_projects(_organization(organization) if organization else None)
    if not rows:
        click.echo("No projects.")
    for project in rows:
        click.echo(f"{project.id}\t{project.organization.name}\t{project.name}")


@invites_cli.command("create")
@click.argument("email")
@click.option("--organization", required=True, help="The organization's name.")
@click.option(
    "--level",
    type=click.Choice(list(organizations.LEVELS_BY_NAME)),
    default="member",
    show_default=True,
)
def create_invite(email, organization, level):
    """Invite EMAIL to ORGANIZATION; print the invite link (valid 7 days, single use) on the last line."""
    from .web.invites import invite_link  # the web layer knows the URL; the command only prints it

    org = _organization(organization)
    try:
        if len(invites.parse_emails(email)) != 1:
            raise click.ClickException("Give one email address.")
        [(invitation, token, _pad)] = invites.create_invites(
            organizations.operator(org), email, level, from_text=True
        )
    except ServiceError as error:
        raise _fail(error) from None
    invites.forget_sealed([invitation.id])
    link = invite_link(token)
    [emailed] = invites.email_invites([(invitation, link)], None)
    click.echo(
        f"Invited {invitation.target_email} to '{org.name}' as {level}; the link works once, for 7 days"
        + (" (also emailed)." if emailed else ".")
    )
    if mail.is_configured() and not emailed:
        click.echo("The email could not be sent (the log says why): send the link yourself.", err=True)
    click.echo(link)


@click.command("seed-demo")
@with_appcontext
@click.option(
    "--evaluations",
    "evaluation_count",
    type=WholeNumber("a count"),
    default=demo.DEFAULT_EVALUATIONS,
    show_default=True,
    help="How many evaluations to add to the demo project.",
)
@click.option(
    "--symbol-sets",
    "symbol_set_count",
    type=WholeNumber("a count", maximum=demo.MAX_SYMBOL_SETS),
    default=demo.DEFAULT_SYMBOL_SETS,
    show_default=True,
    help="How many symbol sets to add (uploaded, pending and failed, with two releases). Every uploaded "
    f"one gets its own stored source map of about 1 KiB, so at most {demo.MAX_SYMBOL_SETS}.",
)
@click.option("--if-empty", is_flag=True, help="Do nothing when any user exists (for `make run`).")
def seed_demo(evaluation_count, symbol_set_count, if_empty):
    """Add the demo login, realistic evaluations and symbol sets; print the login."""
    if if_empty and accounts.count_users() > 0:
        click.echo("Users exist already; not adding demo data.")
    else:
        try:
            account = demo.ensure_demo_account()
            if account.created:
                click.echo(f"Created the demo user {demo.DEMO_EMAIL} in '{demo.DEMO_ORGANIZATION}'.")
            project = f"project '{account.project.name}' (id {account.project.id})"
            started = time.perf_counter()
            added = demo.seed_evaluations(account.project, account.user, evaluation_count)
            click.echo(f"Added {added} evaluations to {project} in {time.perf_counter() - started:.1f}s.")
            if symbol_set_count:
                started = time.perf_counter()
                sets = demo.seed_symbol_sets(account.project, account.user, symbol_set_count)
                click.echo(
                    f"Added {sets.total} symbol sets ({sets.uploaded} uploaded, {sets.pending} pending, "
                    f"{sets.failed} failed; releases {' and '.join(sets.releases)}) to {project} "
                    f"in {time.perf_counter() - started:.1f}s."
                )
        except (ServiceError, StorageError) as error:
            raise _fail(error) from None
    if demo.demo_user_exists():
        password = demo.DEMO_PASSWORD if demo.demo_password_works() else "(changed since it was seeded)"
        click.echo(f"Log in at {demo.DEMO_URL} as {demo.DEMO_EMAIL}, password: {password}")


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


@symbol_sets_cli.command("expire-pending")
@click.option(
    "--grace-minutes",
    type=WholeNumber("a number of minutes"),
    default=int(symbol_uploads.EXPIRY_GRACE.total_seconds() // 60),
    show_default=True,
    help="How long past the upload URL's lifetime "
    f"({symbol_uploads.UPLOAD_URL_SECONDS // 60} minutes) an upload may still finish.",
)
def expire_pending(grace_minutes):
    """End uploads that were started but never finished (run it from cron).

    A set with no checked file is marked failed; one with a checked file keeps it. Also removes objects
    written to upload URLs after their upload ended, and partial objects (older than an hour) that a
    crashed process left in storage.
    """
    grace = timedelta(minutes=grace_minutes)
    try:
        count = symbol_upload_expiry.expire_pending(grace=grace)
        orphans = symbol_upload_expiry.remove_orphaned_uploads(grace=grace)
        removed = symbol_upload_expiry.remove_abandoned_uploads()
    except (ServiceError, StorageError) as error:
        raise _fail(error) from None
    if count:
        click.echo(f"Expired {_plural(count, 'pending upload')}.")
    else:
        click.echo("No pending uploads have expired.")
    if orphans:
        click.echo(f"Removed {_plural(orphans, 'orphaned upload object')} no pending upload uses.")
    if removed:
        click.echo(f"Removed {_plural(removed, 'partial object')} left by interrupted uploads.")


@symbol_sets_cli.command("mark-failed")
@click.argument("project_id", type=PROJECT_ID)
@click.argument("ref")
@click.option(
    "--reason",
    required=True,
    help="Why symbolication failed: a sentence, or PostHog's JSON form such as "
    '\'{"JavaScript":{"NoSourcemap":"https://example.com/static/app.js"}}\'.',
)
def mark_failed(project_id, ref, reason):
    """Record that symbol set REF of project PROJECT_ID failed (creating it when unknown).

    For an external symbolicator: the set shows as failed, with the reason as a sentence, until a new
    upload of the same REF succeeds.
    """
    try:
        project = accounts.get_project(project_id)
        lookup = symbol_sets.parse_list_query({"ref": ref}, 1, 1)
        existed = symbol_sets.list_symbol_sets(project, lookup).count > 0
        item = symbol_sets.mark_failed(project, ref, reason)
    except ServiceError as error:
        raise _fail(error) from None
    if item.failure_reason.startswith("{"):
        try:
            json.loads(item.failure_reason)
        except json.JSONDecodeError:
            click.echo(
                "Warning: the reason looks like JSON but does not parse; it is kept as text.", err=True
            )
    where = f"in project '{project.name}' (id {project.id})"
    if existed:
        click.echo(f"Marked symbol set {item.id} (ref {item.ref}) {where} as failed.")
    else:
        click.echo(f"Created symbol set {item.id} for the new ref {item.ref} {where}, marked as failed.")
    click.echo(f"Reason: {failure_reasons.describe(item.failure_reason)}")


def _reporting_outages(command: click.Command) -> click.Command:
    """End the command with one clear line, not a traceback, when the database or storage is down."""
    callback = command.callback
    if getattr(callback, "reports_outages", False):
        return command  # the groups are module-level: every app made in one process shares them

    @functools.wraps(callback)
    def run(*args, **kwargs):
        try:
            return callback(*args, **kwargs)
        except Exception as error:
            if not is_unavailable(error):
                raise
            raise click.ClickException(
                f"The database or file storage is unavailable ({describe(error)}). "
                "Run the command again once it is back."
            ) from None

    run.reports_outages = True
    command.callback = run
    return command


def init_app(app) -> None:
    for group in (users_cli, keys_cli, symbol_sets_cli, projects_cli, invites_cli):
        for command in group.commands.values():
            _reporting_outages(command)
        app.cli.add_command(group)
    app.cli.add_command(_reporting_outages(seed_demo))
