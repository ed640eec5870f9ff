"""Form helpers shared by the HTML views."""

from wtforms.validators import StopValidation

from ..services import validation


def storable_text(_form, field) -> None:
    """A WTForms validator: refuse text that no database stores (NUL, lone surrogates)."""
    problem = validation.text_problem(field.data or "")
    if problem:
        raise StopValidation(problem)
