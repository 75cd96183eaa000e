"""`wbl user` commands: the accounts that log in to the coordinator's pages.

- `wbl user add EMAIL --program SLUG --role coordinator|admin|viewer [--name N]`: the password
  is asked at a prompt (twice), read from standard input with `--password-stdin`, or made up
  and printed once with `--generate-password` (how `make serve` makes its demo account). An
  existing account gets the role in that program (and the new password, if one is given).
- `wbl user deactivate EMAIL`: the account can no longer log in, and its open sessions are
  refused from their next request; its name stays on the audit trail.
- `wbl user list [--program SLUG]`: email, active, programs and roles, last login.

The work is `scheduler.accounts`'; these commands parse and print.
"""

from __future__ import annotations

import secrets
import sys

import click

from models import Role
from scheduler.accounts import AccountLine, add_user, deactivate_user, list_users
from scheduler.cli_common import fail, session_factory
from scheduler.db import get_or_create_program, transaction
from scheduler.errors import ActionRefused

__all__ = ["user_group"]


def _describe(line: AccountLine) -> str:
    roles = ", ".join(f"{slug}:{role}" for slug, role in line.memberships) or "no program"
    state = "active" if line.active else "deactivated"
    return f"{line.email} ({state}; {roles})"


@click.group("user")
def user_group() -> None:
    """Accounts of coordinators, admins and viewers (the web pages' logins)."""


@user_group.command("add")
@click.pass_context
@click.argument("email")
@click.option("--program", required=True, help="The program's slug (created if new).")
@click.option(
    "--role",
    type=click.Choice([r.value for r in Role]),
    default=Role.coordinator.value,
    show_default=True,
    help="coordinator and admin change the program's rounds; a viewer only reads.",
)
@click.option("--name", help="The name shown on pages and in the audit (default: the email's).")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from standard input's first line."
)
@click.option(
    "--generate-password",
    is_flag=True,
    help="Make up a random password and print it once (for demos and first logins).",
)
@click.option(
    "--keep-password",
    is_flag=True,
    help="For an existing account: add the role and keep its password (asks for none).",
)
def add_cmd(
    ctx: click.Context,
    email: str,
    program: str,
    role: str,
    name: str | None,
    password_stdin: bool,
    generate_password: bool,
    keep_password: bool,
) -> None:
    """Add an account, or give an existing one a role in another program."""
    if sum((password_stdin, generate_password, keep_password)) > 1:
        fail("give at most one of --password-stdin, --generate-password, --keep-password")
    password: str | None
    if keep_password:
        password = None
    elif generate_password:
        password = secrets.token_urlsafe(12)
    elif password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        with transaction(session_factory(ctx)) as session:
            get_or_create_program(session, program)
            line = add_user(
                session, email, program_slug=program, role=role, password=password, name=name
            )
    except ActionRefused as refused:
        fail(refused.message)
    click.echo(f"account {_describe(line)}")
    if generate_password:
        click.echo(f"password: {password}")


@user_group.command("deactivate")
@click.pass_context
@click.argument("email")
def deactivate_cmd(ctx: click.Context, email: str) -> None:
    """Refuse the account from now on (its login and its open sessions)."""
    try:
        with transaction(session_factory(ctx)) as session:
            line = deactivate_user(session, email)
    except ActionRefused as refused:
        fail(refused.message)
    click.echo(f"account {_describe(line)}")


@user_group.command("list")
@click.pass_context
@click.option("--program", help="Only this program's accounts.")
def list_cmd(ctx: click.Context, program: str | None) -> None:
    """The accounts: email, state, programs and roles, last login."""
    with transaction(session_factory(ctx)) as session:
        lines = list_users(session, program)
    if not lines:
        click.echo("no accounts yet: `wbl user add EMAIL --program SLUG` adds one")
        return
    for line in lines:
        last = line.last_login_at.strftime("%Y-%m-%d %H:%M") if line.last_login_at else "never"
        click.echo(f"{_describe(line)}  last login {last}")
