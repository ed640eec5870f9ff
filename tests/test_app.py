"""The application class: Flask with its per-call coroutine check remembered."""

import gc
import weakref

from webapp import App


class View:
    def dispatch(self):
        return "answer"


def test_ensure_sync_remembers_functions_without_keeping_instances():
    app = App(__name__)
    instances = [View() for _ in range(3)]
    alive = [weakref.ref(instance) for instance in instances]
    for instance in instances:
        assert app.ensure_sync(instance.dispatch)() == "answer"
    # One entry for the function, whatever the number of instances whose bound method was asked about.
    assert list(app._synchronous.keys()) == [View.dispatch]
    del instances, instance
    gc.collect()
    assert all(ref() is None for ref in alive)


def test_ensure_sync_still_wraps_coroutine_functions(monkeypatch):
    app = App(__name__)
    wrapped = []
    monkeypatch.setattr(app, "async_to_sync", lambda func: wrapped.append(func) or (lambda: "ran"))

    async def view():
        return "answer"

    assert app.ensure_sync(view)() == "ran"
    assert app.ensure_sync(view)() == "ran"
    assert wrapped == [view, view]


def test_ensure_sync_takes_callables_it_cannot_remember():
    class Slotted:
        __slots__ = ()

        def __call__(self):
            return "answer"

    app = App(__name__)
    view = Slotted()  # no __weakref__: not a key a weak dictionary can hold
    assert app.ensure_sync(view) is view and view() == "answer"
    assert len(app._synchronous) == 0
