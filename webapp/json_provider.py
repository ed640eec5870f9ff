"""JSON responses encoded by orjson, as the text Flask's own provider would write.

Same keys in the same (sorted) order, compact separators, a trailing newline, and Flask's conversions
for what JSON has no type for (datetimes as HTTP dates, dataclasses, Decimal, ...). Non-ASCII text is
written as UTF-8 rather than as \\u escapes: the same JSON value. Anything orjson refuses (a lone
surrogate in an echoed input, an integer beyond 64 bits) is left to Flask's encoder. A JSON column's
canonical text (json_columns.StoredJSON) is embedded as it is: it is what orjson would write for its value.
"""

import orjson
from flask.json.provider import DefaultJSONProvider

from .json_columns import StoredJSON

OPTIONS = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_APPEND_NEWLINE
    # Flask writes these its own way (HTTP dates, asdict): hand them to its default function.
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
)


class JSONProvider(DefaultJSONProvider):
    def response(self, *args, **kwargs):
        if self.compact is False or (self.compact is None and self._app.debug):
            return super().response(*args, **kwargs)  # indented for people: Flask's way
        body = self.encode(self._prepare_response_obj(args, kwargs))
        return self._app.response_class(body, mimetype=self.mimetype)

    def encode(self, obj) -> bytes:
        """A compact response's body, as `response` writes it."""
        try:
            return orjson.dumps(obj, default=self._embed_default, option=OPTIONS)
        except orjson.JSONEncodeError:
            return (self.dumps(obj, separators=(",", ":")) + "\n").encode()

    def _embed_default(self, obj):
        if type(obj) is StoredJSON:
            return orjson.Fragment(obj.text)
        return self.default(obj)

    @staticmethod
    def default(obj):
        """Flask's conversions, and a stored text's value (the json module cannot embed text)."""
        if type(obj) is StoredJSON:
            return obj.value()
        return DefaultJSONProvider.default(obj)
