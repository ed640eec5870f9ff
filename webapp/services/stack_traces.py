"""JavaScript `Error.stack` text, as Chrome, Firefox and Safari print it, as frames (top first).

Chrome (V8):      `    at fn (https://host/app.js:1:2)`, `    at https://host/app.js:1:2`,
                  `    at async fn (...)`, `    at new Foo (...)`,
                  eval frames `at eval (eval at f (url:1:2), ...)`
Firefox, Safari:  `fn@https://host/app.js:1:2`, `@https://host/app.js:1:2`, `global code@...`
Lines that are no frame (the message, `[native code]`, `at native`) are skipped.
"""

import re
from dataclasses import dataclass

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
    """One line as a frame, by splitting (no backtracking pattern: a line can be a megabyte long)."""
    line = line.strip()
    if line.startswith("at "):
        rest = line[3:]
        function, opening, location = rest.partition(" (")
        if opening and location.endswith(")"):
            location = location[:-1]
        else:
            function, location = None, rest
        if location.startswith("eval at "):
            origin = _EVAL_ORIGIN.search(location)
            location = origin.group(1) if origin else location
        if function:
            function = _ASYNC_OR_NEW.sub("", function)
    elif "@" in line:
        # Firefox marks a frame reached through an await or a callback `async*fn@...`.
        function, _, location = line.partition("@")
        function = function.removeprefix("async*")
    else:
        return None
    filename, line_text, column_text = _split_position(location.strip())
    if not filename:
        return None  # `native`, `<anonymous>`, `[native code]`: nothing to resolve
    lineno, colno = int(line_text), int(column_text)
    if not (0 < lineno <= MAX_NUMBER and 0 < colno <= MAX_NUMBER):
        return None
    function = (function or "").strip()
    return StackFrame(filename, lineno, colno, function or None)


def _split_position(location: str) -> tuple[str, str, str]:
    """`url:line:column` as its three parts (the URL may hold colons); empty parts when it is not one."""
    parts = location.rsplit(":", 2)
    if len(parts) != 3 or not parts[0]:
        return "", "", ""
    filename, line, column = parts
    if (
        not (line.isascii() and line.isdigit() and column.isascii() and column.isdigit())
        or len(line) > 10
        or len(column) > 10
    ):
        return "", "", ""
    return filename, line, column
