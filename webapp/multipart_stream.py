"""Read a multipart/form-data body as it arrives: its text fields, then one file part as a stream.

Nothing is buffered whole: a file part streams straight into the store, and the body is measured as it
is read, so a body larger than allowed is refused (413) whether or not it declared a Content-Length.
"""

import io

from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

READ_SIZE = 64 * 1024
# Room for the form's text fields and part headers, before and around the file's bytes.
FORM_OVERHEAD = 64 * 1024
MAX_PARTS = 50


class UploadRefused(Exception):
    """An upload answered with a 4xx and a short JSON body."""

    def __init__(self, status: int, code: str, detail: str):
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


def too_large(limit: int) -> UploadRefused:
    return UploadRefused(
        413, "file_too_large", f"The upload is larger than the {limit} bytes this URL allows."
    )


class MultipartBody:
    """Read a multipart body event by event, never more than `limit` bytes of it."""

    def __init__(self, stream, boundary: bytes):
        self._stream = stream
        self._decoder = MultipartDecoder(boundary, max_parts=MAX_PARTS)
        self.received = 0
        # Only the text fields may come until the caller raises the limit for the file (the local
        # store once it has checked the upload token): FORM_OVERHEAD bytes at most.
        self.limit = FORM_OVERHEAD
        self.max_bytes: int | None = None

    def next_event(self):
        while True:
            try:
                event = self._decoder.next_event()
            except ValueError as error:  # the body ended in the middle of a part
                raise UploadRefused(400, "invalid_form", "The multipart body is incomplete.") from error
            if not isinstance(event, NeedData):
                return event
            chunk = self._stream.read(READ_SIZE)
            self.received += len(chunk)
            if self.received > self.limit:
                if self.max_bytes is None:
                    raise UploadRefused(
                        413, "fields_too_large", "The form fields before `file` are too large."
                    )
                raise too_large(self.max_bytes)
            self._decoder.receive_data(chunk or None)

    def skip_to_end(self) -> None:
        """Read (and ignore, as S3 does) whatever follows the file part, so the connection can be reused."""
        while not isinstance(self.next_event(), Epilogue):
            pass

    def read_fields(self) -> tuple[dict[str, str], File | None]:
        """The text fields up to the file part, and that part's header (None when there is none)."""
        fields: dict[str, str] = {}
        name, value = None, []
        while True:
            event = self.next_event()
            if isinstance(event, File):
                return fields, event
            if isinstance(event, Epilogue):
                return fields, None
            if isinstance(event, Field):
                name, value = event.name, []
            elif isinstance(event, Data) and name is not None:
                value.append(event.data)
                if not event.more_data:
                    fields[name] = b"".join(value).decode("utf-8", "replace")
                    name = None


class FilePart(io.RawIOBase):
    """The current file part's bytes as a readable stream, pulled from the body as they arrive."""

    def __init__(self, body: MultipartBody):
        self._body = body
        self._pending = b""
        self._done = False

    def readable(self) -> bool:
        return True

    def _fill(self) -> None:
        while not self._pending and not self._done:
            event = self._body.next_event()
            if isinstance(event, Data):
                self._pending = event.data
                if not event.more_data:
                    self._done = True
                    # Still inside put(): a body that turns out too long stores nothing.
                    self._body.skip_to_end()

    def is_empty(self) -> bool:
        self._fill()
        return not self._pending

    def readinto(self, buffer) -> int:
        self._fill()
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size
