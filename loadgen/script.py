"""wrk's scripting hooks, in Python (``-s script.py``).

A script is a Python file with any of wrk's global functions::

    setup(thread)                      # parent, once per worker, before the run
    init(args)                         # each worker, before it connects
    request() -> bytes                 # each worker, for every request (or pipelined batch)
    response(status, headers, body)    # each worker, for every response
    delay() -> milliseconds            # each worker, a pause before every request
    done(summary, latency, requests)   # parent, after the report

and a global ``wrk`` object like wrk's (``wrk.method``, ``wrk.headers``, ``wrk.format()``...).
Each worker process loads the file afresh, as each wrk thread has its own Lua state. Unlike wrk,
a script that fails to load or raises stops the run with its file and line.
"""

from __future__ import annotations

import inspect
import io
import math
import os
import reprlib
import socket
import sys
import threading
import time
import traceback
import types
import warnings
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from functools import cached_property, partial
from numbers import Real
from typing import Any, TextIO, cast

from ._stats.stats import Distribution
from .closedoutput import kept_open
from .errors import Interrupted, SetupError, shown
from .inputfiles import read_whole_text
from .request import Request, format_request, is_latin1, request_headers, verify_batch
from .result import Result
from .settings import SCRIPT_TIMEOUT_S
from .stopping import interrupt_on_signals, interruptible, raised_by_signal
from .target import Address, Url

# Each hook and the arguments wrk passes it. Lua drops the arguments a function does not name;
# Python refuses them, so a hook that cannot take them is refused when the script loads, not
# once the run calls it (done(): after the whole run).
HOOKS = {
    "setup": ("thread",),
    "init": ("args",),
    "request": (),
    "response": ("status", "headers", "body"),
    "delay": (),
    "done": ("summary", "latency", "requests"),
}
# What a script's code raises stops the run with its file and line: any error, sys.exit() (a script
# has no business ending loadgen's processes by itself) and a BaseException of its own (pytest.fail()'s,
# GeneratorExit: one failed the worker, whose measurement was lost, or was a traceback in loadgen's process).
# But in loadgen's process, KeyboardInterrupt is the user's Ctrl-C (a worker ignores Ctrl-C, so there only
# the script raises it), and in a worker HookStuck is the hook watch's.
_SHAREABLE = (type(None), bool, int, float, str, bytes)


def _as_request(value: object) -> Request | bytes:
    """What request() returned: a request as data, or HTTP/1.1 text to send as it is."""
    if isinstance(value, Request):
        return value
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise TypeError(f"request() must return str, bytes or wrk.request_data(...), not {type(value).__name__}")


def _as_delay(value: object) -> float:
    """delay()'s milliseconds: a number, or a string of one as Lua converts it; NaN is no time to
    wait (the loop's timer refuses it, which failed the worker instead of naming the script), and
    a string of no number (or an int past a float) said float()'s words, naming no hook. Whole
    milliseconds, the fraction dropped, as wrk's: the loop's timer rounded it, and waits out a
    millisecond it starts in besides (asked 1.5 and 5.5, a request every 2.7 and 6.8 ms at -c1,
    wrk's every 1.2-1.5 and 5.5 ms; asked 1 and 4, both alike)."""
    if not isinstance(value, Real | str):
        raise TypeError(f"delay() must return milliseconds (a number), not {type(value).__name__}")
    try:
        milliseconds = float(value)
    except (ValueError, OverflowError):
        milliseconds = math.nan
    if math.isnan(milliseconds):
        raise ValueError(f"delay() must return milliseconds (a number), not {reprlib.repr(value)}")
    return float(math.floor(milliseconds)) if math.isfinite(milliseconds) else milliseconds


def _quick_shape(request: Request | bytes) -> tuple[int, bool]:
    """A batch's shape, as a glance at its bytes tells it (a body may hold a request line's text)."""
    if isinstance(request, Request):
        return 1, request.method == "HEAD"
    return request.count(b" HTTP/1."), request.startswith(b"HEAD ")


def _batch_shape(request: Request | bytes) -> tuple[int, bool] | None:
    """How many requests a batch holds, and whether all are HEAD (None: it is no valid batch, which
    the check before the run says in wrk's words, and a later one is sent unchecked, as wrk's)."""
    if isinstance(request, Request):
        return _quick_shape(request)
    try:
        methods = verify_batch(request).methods
    except SetupError:
        return None
    return len(methods), all(method == "HEAD" for method in methods)


def _shape_refusal(shape: tuple[int, bool], got: tuple[int, bool]) -> str:
    if got[0] != shape[0]:
        return (
            f"request() returned {got[0]} pipelined requests after {shape[0]} at first: each call must "
            "return as many (the responses are read by the first's count, as wrk's pipeline depth)"
        )
    return "request() returned HEAD and other methods in turn: a run's requests are all HEAD or none"


class RequestRefused(Exception):
    """request() returned what the run's protocol does not send (HTTP/1.1 text under HTTP/2): the
    message says so, and stops the run as a script error."""


def _as_data(refusal: str, value: object) -> Request:
    """What request() returned, where only a request as data will do."""
    request = _as_request(value)
    if not isinstance(request, Request):
        raise RequestRefused(refusal)
    return request


class ScriptError(SetupError):
    """A script failed to load or raised; the message names the file and line first, as wrk's
    (``file: error``)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, wrk_message=True)


class HookStuck(BaseException):
    """Raised inside a hook that holds the worker's loop too long (see loadgen._run.hookwatch);
    the message is ``file:line: hook() ...``. Not an Exception, so the script's ``except
    Exception`` cannot keep it from stopping the hook."""


def defined_at(path: str, hook: object) -> int | None:
    """The line of the script where ``hook`` is defined (None: it is not a function of the script)."""
    code = getattr(hook, "__code__", None)
    return code.co_firstlineno if code is not None and code.co_filename == path else None


def hook_place(path: str, hook: object) -> str:
    """``file:line`` of ``hook``'s definition, for an error its call did not raise inside the script."""
    line = defined_at(path, hook)
    return path if line is None else f"{path}:{line}"


def raised_at(path: str, exc: BaseException, hook: object = None) -> str:
    """``file:line`` of the innermost frame of ``exc`` inside the script (else where ``hook`` is defined)."""
    frames = traceback.extract_tb(exc.__traceback__)
    lines = [frame.lineno for frame in frames if frame.filename == path and frame.lineno is not None]
    return f"{path}:{lines[-1]}" if lines else hook_place(path, hook)


def describe_exception(path: str, exc: BaseException, hook: object = None) -> str:
    """``file:line: Type: message`` for the innermost frame inside the script; when the error is
    not inside it (``hook`` returned what it may not), the line where ``hook`` is defined."""
    if isinstance(exc, SyntaxError) and exc.filename == path:
        return f"{path}:{exc.lineno}: SyntaxError: {exc.msg}"
    where = raised_at(path, exc, hook)
    message = " ".join(part.strip() for part in str(exc).splitlines() if part.strip())  # one line on stderr
    if isinstance(exc, RequestRefused):
        return f"{where}: {message}"
    return f"{where}: {type(exc).__name__}: {message}" if message else f"{where}: {type(exc).__name__}"


@contextmanager
def script_code(path: str, hook: object = None) -> Iterator[None]:
    """The script's code (``hook``, or its top level) run inside: what it raises is a ScriptError
    naming its line, as the top of this module says, but Ctrl-C stays a stop where it is the user's."""
    try:
        yield
    except KeyboardInterrupt as exc:
        if raised_by_signal(exc):
            raise
        raise ScriptError(describe_exception(path, exc, hook)) from None
    except HookStuck as exc:
        raise ScriptError(str(exc)) from None
    except BaseException as exc:  # noqa: BLE001 - the script's error, said as one (see the top)
        raise ScriptError(describe_exception(path, exc, hook)) from None


def shareable(value: object) -> bool:
    """What wrk lets ``thread:set``/``thread:get`` copy between states: scalars and tables of them."""
    if isinstance(value, _SHAREABLE):
        return True
    if isinstance(value, (list, tuple)):
        return all(shareable(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, _SHAREABLE) and shareable(v) for k, v in value.items())
    return False


class Wrk:
    """The script's ``wrk`` global: the request being sent, and wrk's helper functions."""

    def __init__(self, url: Url, method: str, headers: dict[str, str], body: bytes | None) -> None:
        self.scheme = url.scheme
        self.host = url.host
        self.port = url.port
        self.path = url.path
        self.method = method
        self.headers = dict(headers)
        self.body = body
        self.thread: WorkerThread | None = None
        self._url = url
        self._fixed: bytes | None = None  # wrk.request() once init() has run (fix_request)

    def format(
        self,
        method: str | None = None,
        path: str | None = None,
        headers: dict[str, str] | None = None,
        body: bytes | str | None = None,
    ) -> bytes:
        """A request as HTTP/1.1 text; any argument left out is taken from the ``wrk`` fields."""
        request = self.request_data(method, path, headers, body)
        return format_request(request.method, request.target, request.headers, request.body)

    def request_data(
        self,
        method: str | None = None,
        path: str | None = None,
        headers: dict[str, str] | None = None,
        body: bytes | str | None = None,
    ) -> Request:
        """A request as data, which every protocol can send (HTTP/1.1 and HTTP/2); the arguments
        are :meth:`format`'s. Header values are sent as text, as Lua's ``tostring`` makes them
        (wrk's counter.lua sets a number), and a header set to None is left out, as one set to nil.
        Headers given replace ``wrk.headers``, as wrk's: only its Host is kept (merged, every
        ``format(m, p, {"X-A": "a"})`` carried ``wrk.headers`` and ``-H``'s too, which wrk's leaves out)."""
        body = self.body if body is None else body
        if isinstance(body, str):
            body = body.encode()
        elif isinstance(body, bytearray | memoryview):
            body = bytes(body)
        if headers is None:
            headers = self.headers
        elif not isinstance(headers, Mapping):  # was Python's "'list' object is not a mapping"
            raise TypeError(f"a request's headers must be a dict, not {type(headers).__name__}")
        else:
            headers = {**{k: v for k, v in self.headers.items() if str(k).lower() == "host"}, **headers}
        method, path = method or self.method, path or self.path
        given = [(str(name), str(value)) for name, value in headers.items() if value is not None]
        _check_request_fields(method, path, body, given)
        fields = tuple(request_headers(self._url.implied_headers, given, body))
        return Request(method, path, fields, body)

    def give_host(self) -> None:
        """``wrk.headers["Host"]`` from the URL unless a Host is given, as wrk.lua's ``init`` sets it before
        the script's: a script reading it (in ``init()``, ``request()``...) got a KeyError. The same request."""
        if not any(str(name).lower() == "host" for name in self.headers):
            self.headers["Host"] = self._url.host_header

    def request(self) -> bytes:
        """The static request, as ``wrk.request()``: what is sent when there is no ``request()``."""
        return self.format() if self._fixed is None else self._fixed

    def fix_request(self) -> None:
        """Make ``wrk.request()`` the request of the fields as ``init()`` left them, as wrk.lua's
        ``init`` does: a ``wrk.headers`` set later (in ``response()``) changed it, which wrk's
        never is (a request() returning it sent 19 of 20 with the later header). Fields that make
        no request leave it unfixed: format() then says why, at the script's line, once it is sent."""
        with suppress(TypeError, ValueError):
            self._fixed = self.format()

    @staticmethod
    def lookup(host: str, service: str | int) -> list[Address]:
        """getaddrinfo, as wrk.lookup; a resolution failure raises, naming what was looked up as
        wrk's line does (``unable to resolve no.such.host:80 ...``), which getaddrinfo's left out; a host
        or service of another type is a TypeError saying what it takes (getaddrinfo's: ``OSError: Int or
        String expected``, and a service of None looked up port 0)."""
        if not isinstance(host, str) or isinstance(service, bool) or not isinstance(service, str | int):
            given = f"{type(host).__name__}, {type(service).__name__}"
            raise TypeError(f"wrk.lookup(host, service) takes a host (str) and a port (int or str), not ({given})")
        try:
            infos = socket.getaddrinfo(host, service, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise socket.gaierror(exc.errno, f"unable to resolve {host}:{service}: {exc.strerror}") from None
        return [Address(family, str(sockaddr[0]), int(sockaddr[1])) for family, _, _, _, sockaddr in infos]

    @staticmethod
    def connect(addr: Address, timeout: float = 2.0) -> bool:
        """Whether a test connection to ``addr`` succeeds; an ``addr`` not from :meth:`lookup`, or a
        ``timeout`` that is no number of seconds, a TypeError saying so (was ``AttributeError: 'str'
        object has no attribute 'host'``)."""
        if not isinstance(addr, Address):
            raise TypeError(f"wrk.connect() takes an address from wrk.lookup(), not {type(addr).__name__}")
        if isinstance(timeout, bool) or not isinstance(timeout, Real):
            raise TypeError(f"wrk.connect()'s timeout is seconds (a number), not {type(timeout).__name__}")
        try:
            with socket.create_connection((addr.host, addr.port), timeout=timeout):
                return True
        except OSError:
            return False


def _check_request_fields(method: object, path: object, body: object, headers: list[tuple[str, str]]) -> None:
    """A TypeError naming the part of a request of another type (``wrk.body = 5``), or a ValueError
    naming text HTTP/1.1 cannot carry (``wrk.headers["X"] = "a€"``), which failed the worker further
    on, naming none (``object of type 'int' has no len() at request.py:70``, a UnicodeEncodeError)."""
    for name, value in (("method", method), ("path", path)):
        if not isinstance(value, str):
            raise TypeError(f"a request's {name} must be str, not {type(value).__name__}")
    if body is not None and not isinstance(body, bytes):
        raise TypeError(f"a request's body must be str or bytes, not {type(body).__name__}")
    texts = [("method", method), ("path", path), *((f"header {name}", f"{name}: {value}") for name, value in headers)]
    for name, text in texts:
        if not is_latin1(cast(str, text)):
            raise ValueError(f"a request's {name} can carry only Latin-1 characters: {text!r}")


def _variable(call: str, name: object) -> str:
    """A TypeError at the script's line unless ``name`` (of ``thread.set()`` or ``get()``) is a str: an int name
    was kept, and failed the worker as its globals were sent back (``AttributeError: 'int' object has no attribute
    'startswith'``), its requests lost with it."""
    if not isinstance(name, str):
        raise TypeError(f"{call}() takes a variable's name (str), not {type(name).__name__}")
    return name


class _Addressed:
    """A thread's ``addr``, checked as it is set, at the script's line: anything else failed the
    worker once it connected (``AttributeError: 'int' object has no attribute 'family'``)."""

    _addr: Address

    @property
    def addr(self) -> Address:
        return self._addr

    @addr.setter
    def addr(self, value: Address) -> None:
        if not isinstance(value, Address):
            raise TypeError(f"thread.addr must be an address from wrk.lookup(), not {type(value).__name__}")
        self._addr = value


class SetupThread(_Addressed):
    """``thread`` as ``setup()`` sees it in the parent: its id, address and variables to send."""

    def __init__(self, index: int, addr: Address) -> None:
        self.id = index
        self.addr = addr
        self.sent: dict[str, object] = {}
        self.received: dict[str, object] = {}  # the worker's globals, for done()

    def set(self, name: str, value: object) -> None:
        if not shareable(value):
            raise TypeError(f"thread.set({name!r}): only None, bool, numbers, strings and lists/dicts of them")
        self.sent[_variable("thread.set", name)] = value

    def get(self, name: str) -> object:
        name = _variable("thread.get", name)
        return self.received.get(name, self.sent.get(name))

    def stop(self) -> None:
        """Nothing, as wrk's ``thread:stop()`` in ``setup()`` (the thread's loop, once started, clears
        it), with a warning at the script's line; was an AttributeError that ended the run (exit 1)."""
        warning = "thread.stop() in setup() stops nothing, as wrk's: the worker runs; call wrk.thread.stop() in it"
        warnings.warn(warning, RuntimeWarning, stacklevel=2)


class WorkerThread(_Addressed):
    """``wrk.thread`` inside a worker; ``stop()`` ends this worker's run (``thread:stop()``)."""

    def __init__(self, index: int, addr: Address, namespace: dict[str, object]) -> None:
        self.id = index
        self.addr = addr
        self._namespace = namespace
        self.stop_requested = False
        self.running = False  # set once init() has run (load_worker_script)

    def get(self, name: str) -> object:
        return self._namespace.get(_variable("wrk.thread.get", name))

    def set(self, name: str, value: object) -> None:
        self._namespace[_variable("wrk.thread.set", name)] = value

    def stop(self) -> None:
        """In ``init()``, nothing, as wrk's (its thread's loop, once started, clears it), with a
        warning at the script's line: it stopped a worker with a request() before its first
        request (0 requests, blamed on a delay() the script did not have), and one without none."""
        if not self.running:
            warning = "wrk.thread.stop() in init() stops nothing, as wrk's: the worker runs; "
            warning += "call it in request(), response() or delay()"
            warnings.warn(warning, RuntimeWarning, stacklevel=2)
            return
        self.stop_requested = True


def read_script(path: str) -> str:
    """The script's text, read once in the parent: workers get the text, not the path, so they
    need not share the parent's file system (a Dask cluster's machines do not)."""
    try:
        return read_whole_text(path)
    except OSError as exc:
        raise ScriptError(f"{shown(path)}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ScriptError(f"{shown(path)}: not a text file ({exc.reason})") from None


def load_script(path: str, source: str, wrk: Wrk) -> types.ModuleType:
    """Run the script's ``source`` (read from ``path``, named in messages) in a fresh module with
    ``wrk`` defined; ScriptError on any failure."""
    _import_beside(path)
    module = types.ModuleType("loadgen_script")
    module.__file__ = path
    module.__dict__["wrk"] = wrk
    with script_code(path):
        exec(compile(source, path, "exec"), module.__dict__)
    for name, params in HOOKS.items():
        hook = module.__dict__.get(name)
        if hook is not None:
            _check_hook(path, name, hook, params)
    return module


def _import_beside(path: str) -> None:
    """The script's directory first on ``sys.path``, as ``python dir/script.py`` puts it, for the
    helper modules beside it: they were found only from the current directory, and only under
    ``python -m loadgen``, never by the installed command (wrk's ``require`` looks in ``./``)."""
    directory = os.path.dirname(os.path.abspath(path))
    if directory not in sys.path:
        sys.path.insert(0, directory)


@contextmanager
def imports_beside(path: str | None) -> Iterator[None]:
    """For a run the program called (``loadgen.run(script=...)``): the script's directory on
    ``sys.path`` and the modules imported from it only while the run lasts. Both stayed: the
    program's path grew by a directory a run, and a second run's script in another directory
    imported the first one's ``mylib`` (the same name, already imported), in the caller's process."""
    if path is None:
        yield
        return
    directory = os.path.dirname(os.path.abspath(path))
    added, before = directory not in sys.path, set(sys.modules)
    try:
        yield
    finally:
        if added:
            with suppress(ValueError):
                sys.path.remove(directory)
        for name in set(sys.modules) - before:
            if (getattr(sys.modules.get(name), "__file__", None) or "").startswith(directory + os.sep):
                del sys.modules[name]


def _check_hook(path: str, name: str, hook: object, params: tuple[str, ...]) -> None:
    """ScriptError unless ``hook`` is a function that takes wrk's arguments for it."""
    if not callable(hook):
        raise ScriptError(f"{path}: {name} must be a function, not {type(hook).__name__}")
    if (kind := _body_deferred(hook)) is not None:
        never = "calling it does not run its body; use a plain def"
        raise ScriptError(f"{hook_place(path, hook)}: {name}() is {kind}: {never}")
    try:
        signature = inspect.signature(hook)
    except (TypeError, ValueError):  # a callable without one (a builtin): its call will tell
        return
    try:
        signature.bind(*params)
    except TypeError:
        count = {0: "no arguments", 1: "1 argument"}.get(len(params), f"{len(params)} arguments")
        takes = f"{count} ({', '.join(params)})" if params else count
        raise ScriptError(f"{hook_place(path, hook)}: {name}() must take {takes}, as wrk calls it") from None


def _body_deferred(hook: object) -> str | None:
    """What kind of function ``hook`` is when a call only makes an object (None: a plain one); its
    response() or init() did nothing, without a word (the coroutine never awaited)."""
    if inspect.iscoroutinefunction(hook) or inspect.isasyncgenfunction(hook):
        return "async"
    return "a generator (it yields)" if inspect.isgeneratorfunction(hook) else None


class HookTime:
    """When the hook call in progress began, and how long the calls that returned took in all
    (monotonic seconds): what lets the hook watch tell one call that holds the worker's loop from
    many slow ones that each return."""

    __slots__ = ("began", "held")

    def __init__(self) -> None:
        self.began = 0.0
        self.held = 0.0


class WorkerScript:
    """A script loaded inside a worker: its hooks, guarded so a failure stops the run.
    ``text_refused``: why request() may not return HTTP/1.1 text (the protocol's; None: it may);
    such a request stops the run, in the meantime the ``wrk`` fields' request is sent."""

    def __init__(
        self, path: str, module: types.ModuleType, thread: WorkerThread, text_refused: str | None = None
    ) -> None:
        self.path = path
        self.module = module
        self.thread = thread
        self.printed = ("", "")  # what loading the script and its init() printed, held (load_worker_script)
        self.error: str | None = None
        self.stuck: str | None = None  # a hook that never returned, interrupted: where, which
        self.thread_addr = thread.addr
        self.hook_time = HookTime()
        hooks = module.__dict__
        self.shape: tuple[int, bool] | None = None  # HTTP/1.1's first batch: its length, and whether all HEAD
        fallback: Request | bytes
        if text_refused is None:
            convert, fallback = self._as_batch, b""
        else:
            convert, fallback = partial(_as_data, text_refused), self._static_request()
        self.request: Callable[[], Request | bytes] | None = self._guard(hooks.get("request"), convert, fallback)
        self.response: Callable[[int, dict[str, str], bytes], None] | None = self._guard(hooks.get("response"))
        self.delay: Callable[[], float] | None = self._guard(hooks.get("delay"), _as_delay, 0.0)

    @property
    def stop_requested(self) -> bool:
        return self.thread.stop_requested or self.error is not None or self.stuck is not None

    @property
    def paced_hooks(self) -> bool:
        """It has a hook a paced run calls in the worker's loop: request() or response() (the rate
        replaces delay(); setup() and init() ran before the run, done() runs after it)."""
        return self.request is not None or self.response is not None

    def _guard(
        self, hook: Callable[..., Any] | None, convert: Callable[[Any], Any] | None = None, fallback: Any = None
    ) -> Any:
        """The hook wrapped so that an exception is recorded (and stops the worker); ``fallback``
        is what the failed call returns meanwhile."""
        if hook is None:
            return None
        timed = self.hook_time
        monotonic = time.monotonic

        def guarded(*args: Any) -> Any:
            timed.began = began = monotonic()
            try:
                value = hook(*args)
                return convert(value) if convert else value
            except HookStuck as exc:  # the first says what held the loop: later calls were cut short by it
                if self.stuck is None:
                    self.stuck = str(exc)
                return fallback
            except BaseException as exc:  # noqa: BLE001 - the script's error, said as one (see the top)
                if self.error is None:
                    self.error = describe_exception(self.path, exc, hook)
                return fallback
            finally:
                timed.held += monotonic() - began

        return guarded

    @cached_property
    def first_request(self) -> Request | bytes:
        """What to send: the dynamic ``request()``'s first (like wrk, this calls it once before
        the run, to check it; the schedule sends it first) or the static request of the ``wrk`` fields."""
        request = self.request() if self.request else self._static_request()
        if self.error or self.stuck:
            raise ScriptError(self.error or str(self.stuck))
        self.shape = _batch_shape(request)
        return request

    def _static_request(self) -> Request:
        """The request of the ``wrk`` fields, or the script error when they make none (``wrk.headers =
        None``: the worker failed before it started, exit 2, the script named nowhere)."""
        wrk: Wrk = self.module.__dict__["wrk"]
        try:
            return wrk.request_data()
        except (TypeError, ValueError) as exc:
            raise ScriptError(f"{self.path}: its wrk fields make no request: {exc}") from None

    def _as_batch(self, value: object) -> Request | bytes:
        """request()'s HTTP/1.1 batch, shaped as the first: each connection reads its responses by
        the first's (how many, and whether HEAD's, without a body); another shape was read as the
        server's malformed responses. Counted at once, parsed only when the count differs."""
        request = _as_request(value)
        shape = self.shape
        if shape is not None and _quick_shape(request) != shape:
            got = _batch_shape(request)
            if got is not None and got != shape:
                raise RequestRefused(_shape_refusal(shape, got))
        return request

    def exported_globals(self) -> dict[str, object]:
        """The script's shareable globals, for ``thread.get()`` in ``done()``."""
        return {
            name: value
            for name, value in self.module.__dict__.items()
            if not name.startswith("__") and name != "wrk" and shareable(value)
        }


class _Held(io.StringIO):
    """What a thread's ``sys.stdout`` writes while the script's prints are held: it says whether
    the real stream is a terminal, and its encoding, as the real one would (a script deciding on
    colour by ``isatty()`` was told no terminal). No ``fileno()``: what is written to the
    descriptor is not held (as ``os.write(1, ...)``)."""

    def __init__(self, real: TextIO) -> None:
        super().__init__()
        self._real = real

    def isatty(self) -> bool:
        return self._real.isatty()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._real.encoding

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return self._real.errors


class _Holding(threading.local):
    """The calling thread's held prints (None: it holds none)."""

    printed: _Held | None = None


_HOLDING = _Holding()


class _ThreadsStdout:
    """``sys.stdout`` while a thread holds the script's prints: that thread's writes go to its
    :class:`_Held`, every other thread's to the stream as it was. (``redirect_stdout`` swapped it
    for the whole process: two runs' ``setup()`` at once, ``run_async``'s or from two threads, left
    it a held buffer that swallowed the program's prints from then on, and a run's held output
    took in the other threads' prints.) ``close()`` is refused, as the real stream's."""

    def __init__(self, real: TextIO) -> None:
        self.real = real

    def _current(self) -> TextIO:
        printed = _HOLDING.printed
        return self.real if printed is None else printed

    def write(self, text: str) -> int:
        return self._current().write(text)

    def close(self) -> None:
        if not kept_open(self):
            self._current().close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._current(), name)


class _Holders:
    """How many threads hold the script's prints: ``sys.stdout`` is a _ThreadsStdout while any does."""

    lock = threading.Lock()
    count = 0


@contextmanager
def held_output(held: list[str]) -> Iterator[None]:
    """What the script prints meanwhile in this thread, kept in ``held`` (also when it raises):
    printed later in wrk's order, each thread's script loaded, its ``setup()``, its ``init()``,
    although the workers load theirs at once, in their own processes."""
    with _Holders.lock:
        if not isinstance(sys.stdout, _ThreadsStdout):
            sys.stdout = cast(TextIO, _ThreadsStdout(sys.stdout))
        shared = cast(_ThreadsStdout, sys.stdout)
        _Holders.count += 1
    outer = _HOLDING.printed
    _HOLDING.printed = printed = _Held(shared.real if outer is None else outer)
    try:
        yield
    finally:
        _HOLDING.printed = outer
        held.append(printed.getvalue())
        with _Holders.lock:
            _Holders.count -= 1
            if not _Holders.count and sys.stdout is shared:  # not when the program put its own there meanwhile
                sys.stdout = shared.real


def load_worker_script(
    path: str,
    source: str,
    args: tuple[str, ...],
    url: Url,
    index: int,
    addr: Address,
    thread_globals: dict[str, object],
    method: str,
    headers: dict[str, str],
    body: bytes | None,
    text_refused: str | None = None,
) -> WorkerScript:
    """Load the script in a worker: globals from setup(), then ``init(args)`` (``text_refused``:
    see :class:`WorkerScript`). What the loading and ``init()`` print is held, in ``printed``, for
    the parent to print in wrk's order; printed at once when they fail."""
    held: list[str] = []
    try:
        wrk = Wrk(url, method, headers, body)
        with held_output(held):
            module = load_script(path, source, wrk)
        module.__dict__.update(thread_globals)
        thread = WorkerThread(index, addr, module.__dict__)
        wrk.thread = thread
        wrk.give_host()
        with held_output(held):
            _init(path, module, [url.text, *args])
        wrk.fix_request()
        thread.running = True
    except BaseException:
        sys.stdout.write("".join(held))
        raise
    script = WorkerScript(path, module, thread, text_refused)
    script.printed = (held[0], held[1])
    return script


def _init(path: str, module: types.ModuleType, args: list[str]) -> None:
    """The script's ``init(args)``, if it has one."""
    init = module.__dict__.get("init")
    if init is not None:
        with script_code(path, init):
            init(args)


class ScriptStats:
    """A distribution as wrk's ``done()`` sees it: min, max, mean, stdev, percentile(p),
    ``stats(i)`` for the i-th distinct value and its count, and ``len(stats)``."""

    def __init__(self, dist: Distribution) -> None:
        self._dist = dist
        self.min = dist.min
        self.max = dist.max
        self.mean = dist.mean
        self.stdev = dist.stdev

    def percentile(self, p: float) -> int:
        return self._dist.wrk_percentile(p)

    def __call__(self, i: int) -> tuple[int, int]:
        return self._dist.bins[i - 1] if 1 <= i <= len(self._dist.bins) else (0, 0)

    def __len__(self) -> int:
        return len(self._dist.bins)


def run_done(path: str, module: types.ModuleType, threads: Sequence[SetupThread], result: Result) -> None:
    """Call the script's ``done(summary, latency, requests)`` in the parent, after the report."""
    done = module.__dict__.get("done")
    if done is None:
        return
    for thread, exported in zip(threads, result.script_globals, strict=False):
        thread.received = dict(exported)
    errors = result.errors
    summary = {
        "duration": result.runtime_us,
        "requests": result.requests,
        "bytes": result.bytes,
        "errors": {
            "connect": errors.connect,
            "read": errors.read,
            "write": errors.write,
            "status": errors.status,
            "timeout": errors.timeout,
        },
    }
    # the report is out, the run's signals restored
    with parent_hook(path, "done()", done), interrupt_on_signals(), script_code(path, done):
        done(summary, ScriptStats(result.latency), ScriptStats(result.req_per_sec))


# the threads the script's code started in the parent, which the command waits for only so long (loadgen.__main__)
_STARTED_HERE: weakref.WeakSet[threading.Thread] = weakref.WeakSet()
LEFT_RUNNING_WAIT_S = SCRIPT_TIMEOUT_S


@contextmanager
def parent_hook(path: str, what: str, hook: object = None) -> Iterator[None]:
    """The script's code run in the parent (``what``: its top level, ``setup()``, ``done()``): a
    stop (Ctrl-C, SIGTERM, SIGHUP) that interrupts it is :class:`Interrupted`, naming it and its line.
    The threads it starts are kept for :func:`threads_left_running`."""
    before = set(threading.enumerate())
    try:
        with interruptible():
            yield
    except KeyboardInterrupt as exc:
        raise Interrupted(running=f"the script's {what} ran ({raised_at(path, exc, hook)})") from None
    finally:
        _STARTED_HERE.update(set(threading.enumerate()) - before)


def threads_left_running() -> list[threading.Thread]:
    """The threads the script started in the parent that still run, and that Python's exit would
    wait for (not daemon ones)."""
    return [thread for thread in _STARTED_HERE if thread.is_alive() and not thread.daemon]
