"""Domain errors raised by services; the API and the web views translate them."""


class ServiceError(Exception):
    """Base class: a message fit to show the user."""

    code = "error"

    def __init__(self, detail: str, code: str | None = None, attr: str | None = None):
        super().__init__(detail)
        self.detail = detail
        self.code = code or self.code
        self.attr = attr


class ValidationError(ServiceError):
    code = "invalid_input"

    def __init__(self, attr: str | None, code: str, detail: str):
        super().__init__(detail, code=code, attr=attr)


class ValidationErrors(ValidationError):
    """Several problems found at once; the first is also this error's own attr, code and detail."""

    def __init__(self, errors: list[ValidationError]):
        first = errors[0]
        super().__init__(first.attr, first.code, first.detail)
        self.errors = errors


class NotFound(ServiceError):
    code = "not_found"

    def __init__(self, detail: str = "Not found.", resource: str | None = None):
        super().__init__(detail)
        # What is missing ("evaluation", "symbol_set"): the web page says so and links to its list.
        self.resource = resource


class PermissionDenied(ServiceError):
    code = "permission_denied"

    def __init__(self, detail: str = "You do not have permission to perform this action."):
        super().__init__(detail)


class TooLarge(ServiceError):
    """An upload larger than allowed (413); nothing of it was kept."""

    code = "file_too_large"


class Conflict(ServiceError):
    code = "conflict"


class Contended(Conflict):
    """Other requests kept changing the same rows at that moment; the same request may be retried."""

    code = "contended"
    retry_after_seconds = 1

    def __init__(
        self, detail: str = "Other requests are changing the same data right now; try again in a moment."
    ):
        super().__init__(detail)
