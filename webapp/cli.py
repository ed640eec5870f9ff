"""Flask commands: users, keys, demo data."""

import click


def init_app(app) -> None:
    pass
