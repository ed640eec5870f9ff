"""JavaScript `Error.stack` text, as Chrome, Firefox and Safari print it, as frames (top first).

Chrome (V8):      `    at fn (https://host/app.js:1:2)`, `    at https://host/app.js:1:2`,
                  `    at async fn (...)`, `    at new Foo (...)`,
                  eval frames `at eval (eval at f (url:1:2), ...)`
Firefox, Safari:  `fn@https://host/app.js:1:2`, `@https://host/app.js:1:2`, `global code@...`
Lines that are no frame (the message, `[native code]`, `at native`) are skipped.
"""

import re
from dataclasses import dataclass

_CHROME = re.compile(r"^\s*at (?:(?P<function>.+?) \((?P<location>.+)\)|(?P<bare>.+))\s*$")
_GECKO = re.compile(r"^\s*(?P<function>[^@]*)@(?P<location>.+?)\s*$")
# The position ends the location; what is before it is the URL (which may itself contain colons).
_POSITION = re.compile(r"^(?P<filename>.+?):(?P<line>[0-9]+):(?P<column>[0-9]+)$")
# Chrome wraps an eval'd frame's origin: `eval at fn (https://host/app.js:1:2), <anonymous>:1:1`.
_EVAL_ORIGIN = re.compile(r"\(([^()]+:[0-9]+:[0-9]+)\)")
_ASYNC_OR_NEW = re.compile(r"^(?:async |new )")
MAX_NUMBER = 2**31 - 1


@dataclass(frozen=True)
class StackFrame:
    filename: str
    lineno: int  # 1-based, as browsers print them
    colno: int  # 1-based
    function: str | None = None


def parse(text: str) -> list[StackFrame]:
    """The frames found in `text`, top first; a line that is no frame is skipped."""
    frames = []
    for line in text.splitlines():
        frame = _frame(line)
        if frame is not None:
            frames.append(frame)
    return frames


def _frame(line: str) -> StackFrame | None:
    match = _CHROME.match(line)
    if match:
        function = match.group("function")
        location = match.group("location") or match.group("bare")
        if location.startswith("eval at "):
            origin = _EVAL_ORIGIN.search(location)
            location = origin.group(1) if origin else location
        if function:
            function = _ASYNC_OR_NEW.sub("", function)
    else:
        match = _GECKO.match(line)
        if not match:
            return None
        # Firefox marks a frame reached through an await or a callback `async*fn@...`.
        function, location = match.group("function").removeprefix("async*"), match.group("location")
    position = _POSITION.match(location.strip())
    if not position:
        return None  # `native`, `<anonymous>`, `[native code]`: nothing to resolve
    lineno, colno = int(position.group("line")), int(position.group("column"))
    if not (0 < lineno <= MAX_NUMBER and 0 < colno <= MAX_NUMBER):
        return None
    function = (function or "").strip()
    return StackFrame(position.group("filename"), lineno, colno, function or None)
