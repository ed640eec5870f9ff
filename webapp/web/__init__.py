"""HTML blueprints: server-rendered pages with htmx partials."""


def init_app(app) -> None:
    pass
