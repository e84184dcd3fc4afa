"""``softswitch-cli``: the command line client for the Event Socket, with FreeSWITCH's fs_cli habits.

::

    softswitch-cli [-H host] [-P port] [-p password] [-u user@domain] [-x command]... [profile]

* ``-x CMD`` (repeatable) runs each command as ``api CMD`` with ``console_execute: true``, prints
  the reply body and exits: 0, or 1 with one line on stderr when the connection, the password or
  the reply (``-t``) fails.
* Without ``-x`` the client is interactive: a ``softswitch@<switchname>> `` prompt with readline
  history (``~/.softswitch_cli_history``); log lines (``log <level>`` is sent on connect unless
  ``-q``) and events are printed as they arrive, log lines coloured by level on a tty. Lines that
  start with ``/`` are the client's own commands (``/help``); ``/log``, ``/event``... are sent as
  Event Socket commands; anything else is an API command.
* Defaults come from ``~/.softswitch_cli_conf``, else ``~/.fs_cli_conf`` (then ``/etc``): INI
  sections are profiles (``[default]`` unless one is named on the command line), keys ``host``,
  ``port``, ``password``, ``user``, ``loglevel``, ``quiet``, ``debug``, ``log-uuid``, ``batchmode``,
  ``timeout``, ``connect-timeout``. Command line flags win.

Threads, not gevent: the main thread reads input and runs commands; a reader thread owns the
socket's reads and hands replies to the waiting command (:class:`Link`). The command logic
(:class:`Repl`) and message formatting (:class:`Display`) do no I/O of their own.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import unquote

from .client import AuthError, ESLClient, ESLError, ESLMessage

__all__ = ["main", "Profile", "Display", "Link", "Repl", "CliError", "read_config", "parse_config",
           "resolve_profile", "parse_args", "connect"]

PROG = "softswitch-cli"
HISTORY_FILE = "~/.softswitch_cli_history"
HISTORY_LENGTH = 800  # fs_cli's H_SETSIZE
#: Searched in order; the first file that can be read is the only one used (as fs_cli does).
CONFIG_FILES = ("~/.softswitch_cli_conf", "~/.fs_cli_conf", "/etc/softswitch_cli.conf",
                "/etc/fs_cli.conf")
RETRIES = 120  # fs_cli -r / -R: up to 120 more attempts, one second apart
EXIT_WORDS = ("exit", "quit", "bye", "...")

# FreeSWITCH's console colours by log level (esl.h ESL_SEQ_*): 0 default, 1-3 red, 4 magenta,
# 5 cyan, 6 green, 7 yellow.
RESET = "\033[m"
LEVEL_COLOURS = (RESET, "\033[31m", "\033[31m", "\033[31m", "\033[35m", "\033[36m", "\033[32m",
                 "\033[33m")

HELP = (
    "Command                     \tDescription\n"
    "-----------------------------------------------\n"
    "/help                       \tHelp\n"
    "/exit, /quit, /bye, ...     \tExit the program.\n"
    "/event, /noevents, /nixevent\tEvent commands.\n"
    "/log, /nolog                \tLog commands.\n"
    "/uuid                       \tFilter logs for a single call uuid\n"
    "/filter                     \tFilter commands.\n"
    "/logfilter                  \tFilter Log for a single string.\n"
    "/debug [0-7]                \tSet debug level.\n"
    "\n"
)

STOP_HINT = "\nType control-D or /exit or /quit or /bye to exit.\n\n"

# Config keys fs_cli knows that this client accepts without acting on them.
_IGNORED_KEYS = ("prompt-color", "input-text-color", "output-text-color")


class CliError(Exception):
    """A failure reported as one ``softswitch-cli: ...`` line on stderr, exit status 1.

    :param auth: the server refused the credentials (retrying will not help).
    """

    def __init__(self, message: str, auth: bool = False) -> None:
        super().__init__(message)
        self.auth = auth


class _Wakeup(Exception):
    """Raised in the main thread (by SIGUSR1) to leave a blocking read of stdin."""


class Abandoned(Exception):
    """Control-C while a command waited for its reply: the reply will be dropped when it comes."""


# ---------------------------------------------------------------------------------------------
# profiles: configuration file + command line
# ---------------------------------------------------------------------------------------------


@dataclass
class Profile:
    """Where to connect and how to behave; fs_cli's ``cli_profile_t``."""

    name: str = "internal"
    host: str = "127.0.0.1"
    port: int = 8021
    user: str = ""
    password: str = "ClueCon"
    debug: int = 6
    loglevel: str = ""
    log_uuid: bool = False
    quiet: bool = False
    batch: bool = False
    timeout_ms: int = 0
    connect_timeout_ms: int = 0
    source: str = ""  # the config file the profile came from, for messages
    warnings: list[str] = field(default_factory=list)


def _true(value: str) -> bool:
    """FreeSWITCH's ``switch_true``."""
    return value.strip().lower() in ("yes", "on", "true", "t", "enabled", "active", "allow", "1")


def parse_config(text: str, path: str = "<config>") -> tuple[dict[str, dict[str, str]], list[str]]:
    """Parse an fs_cli config file (esl_config syntax).

    ``[name]`` opens a profile; ``key = value`` or ``key => value``; lines starting with ``#`` or
    ``;`` are comments, ``;;`` starts a comment anywhere; ``__END__`` ends the file.

    :returns: ``({profile: {key: value}}, warnings)``; keys are lower-cased.
    """
    profiles: dict[str, dict[str, str]] = {}
    warnings: list[str] = []
    section: str | None = None
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("__END__"):
            break
        if line.startswith("["):
            end = line.find("]")
            if end < 0:
                warnings.append(f"{path}:{lineno}: unclosed section header {line!r}, line ignored")
                continue
            section = line[1:end].strip()
            profiles.setdefault(section, {})
            continue
        if ";;" in line:
            line = line[:line.index(";;")].rstrip()
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            warnings.append(f"{path}:{lineno}: expected 'name = value' or 'name => value', "
                            f"got {raw.strip()!r}; line ignored")
            continue
        if value.startswith(">"):
            value = value[1:]
        if section is None:
            warnings.append(f"{path}:{lineno}: {key.strip()!r} is outside a [profile] section; "
                            "line ignored")
            continue
        profiles[section][key.strip().lower()] = value.strip()
    return profiles, warnings


def read_config(paths: list[str] | tuple[str, ...] | None = None
                ) -> tuple[str | None, dict[str, dict[str, str]], list[str]]:
    """Read the first readable config file of ``paths`` (default :data:`CONFIG_FILES`).

    :returns: ``(path or None, profiles, warnings)``.
    """
    for candidate in paths if paths is not None else CONFIG_FILES:
        path = os.path.expanduser(candidate)
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
        except OSError:
            continue
        profiles, warnings = parse_config(text, path)
        return path, profiles, warnings
    return None, {}, []


def _apply_config(profile: Profile, values: dict[str, str], path: str) -> None:
    where = f"{path} [{profile.name}]"
    for key, value in values.items():
        if key == "host":
            profile.host = value or profile.host
        elif key == "port":
            port = _int(value)
            if port is not None and 0 < port < 65536:
                profile.port = port
            else:
                profile.warnings.append(f"{where}: port {value!r} is not 1-65535; using {profile.port}")
        elif key == "user":
            profile.user = value
        elif key == "password":
            profile.password = value
        elif key == "debug":
            level = _int(value)
            if level is not None and 0 <= level <= 7:
                profile.debug = level
            else:
                profile.warnings.append(f"{where}: debug {value!r} is not 0-7; ignored")
        elif key == "loglevel":
            profile.loglevel = value
        elif key == "log-uuid":
            profile.log_uuid = _true(value)
        elif key == "quiet":
            profile.quiet = _true(value)
        elif key == "batchmode":
            profile.batch = _true(value)
        elif key in ("timeout", "connect-timeout"):
            ms = _int(value)
            if ms is None or ms < 0:
                profile.warnings.append(f"{where}: {key} {value!r} is not a number of ms; ignored")
            elif key == "timeout":
                profile.timeout_ms = ms
            else:
                profile.connect_timeout_ms = ms
        elif key in _IGNORED_KEYS or key.startswith("key_f"):
            pass  # fs_cli's colours and function keys: accepted, not used here
        else:
            profile.warnings.append(f"{where}: unknown key {key!r} ignored")


def _int(value: str) -> int | None:
    try:
        return int(value.strip())
    except (ValueError, AttributeError):
        return None


def resolve_profile(args: argparse.Namespace, config_paths=None) -> Profile:
    """The profile to use: the config file's named profile (or ``[default]``, or the built-in
    one), then the command line flags on top.

    :raises CliError: a profile named on the command line does not exist.
    """
    path, profiles, warnings = read_config(args.config and [args.config] or config_paths)
    if args.config and path is None:
        raise CliError(f"cannot read config file {args.config}")
    profile = Profile()
    profile.warnings.extend(warnings)
    if args.profile:
        if args.profile not in profiles:
            if path is None:
                looked = ", ".join(args.config and [args.config] or config_paths or CONFIG_FILES)
                raise CliError(f"no profile [{args.profile}]: no config file found (looked for {looked})")
            names = ", ".join(f"[{n}]" for n in profiles) or "none"
            raise CliError(f"no profile [{args.profile}] in {path} (profiles: {names})")
        name = args.profile
    else:
        name = "default" if "default" in profiles else ""
    if name:
        profile.name = name
        profile.source = path or ""
        _apply_config(profile, profiles[name], path or "")
    if args.host is not None:
        profile.host = args.host
    if args.port is not None:
        profile.port = args.port
    if args.user is not None:
        profile.user = args.user
    if args.password is not None:
        profile.password = args.password
    if args.debug is not None:
        profile.debug = args.debug
    if args.loglevel is not None:
        profile.loglevel = args.loglevel
        profile.quiet = False  # as fs_cli: -l asks for logs
    if args.quiet:
        profile.quiet = True
    if args.log_uuid:
        profile.log_uuid = True
    if args.batchmode:
        profile.batch = True
    if args.timeout is not None:
        profile.timeout_ms = args.timeout
    if args.connect_timeout is not None:
        profile.connect_timeout_ms = args.connect_timeout
    return profile


def _port(text: str) -> int:
    port = _int(text)
    if port is None or not 0 < port < 65536:
        raise argparse.ArgumentTypeError("Port must be in range 1 - 65535")
    return port


def _debug_level(text: str) -> int:
    level = _int(text)
    if level is None or not 0 <= level <= 7:
        raise argparse.ArgumentTypeError("Debug level should be 0 - 7")
    return level


def _ms(text: str) -> int:
    ms = _int(text)
    if ms is None or ms < 0:
        raise argparse.ArgumentTypeError(f"expected a number of milliseconds, got {text!r}")
    return ms


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG, add_help=False,
        description="Command line client for softswitch's Event Socket (FreeSWITCH's fs_cli habits).",
        epilog="Profiles come from ~/.softswitch_cli_conf, else ~/.fs_cli_conf "
               "(then /etc/softswitch_cli.conf, /etc/fs_cli.conf). Type /help at the prompt.")
    p.add_argument("-h", "-?", "--help", action="help", help="usage information")
    p.add_argument("-H", "--host", help="host to connect to (default 127.0.0.1)")
    p.add_argument("-P", "--port", type=_port, help="port to connect to (1 - 65535, default 8021)")
    p.add_argument("-u", "--user", help="user@domain: authenticate with userauth")
    p.add_argument("-p", "--password", help="password (default ClueCon)")
    p.add_argument("-i", "--interrupt", action="store_true", help="allow Control-C to interrupt")
    p.add_argument("-x", "--execute", action="append", metavar="COMMAND",
                   help="execute an API command and exit (repeatable)")
    p.add_argument("-l", "--loglevel", help="log level to subscribe to (default debug)")
    p.add_argument("-U", "--log-uuid", action="store_true", help="include the call UUID in log output")
    p.add_argument("-s", "--set-log-uuid", metavar="UUID",
                   help="show only log lines of this call (and lines of no call), like /uuid")
    p.add_argument("-q", "--quiet", action="store_true", help="no logs and no banner")
    p.add_argument("-r", "--retry", action="store_true", help="retry the connection on failure")
    p.add_argument("-R", "--reconnect", action="store_true", help="reconnect if disconnected")
    p.add_argument("-d", "--debug", type=_debug_level, help="debug level of this client (0 - 7)")
    p.add_argument("-b", "--batchmode", action="store_true",
                   help="batch mode: no line editing, no colours")
    p.add_argument("-t", "--timeout", type=_ms, metavar="MS", help="timeout for API commands (ms)")
    p.add_argument("-T", "--connect-timeout", type=_ms, metavar="MS",
                   help="timeout for the socket connection (ms)")
    p.add_argument("-n", "--no-color", action="store_true", help="disable colour")
    p.add_argument("-S", dest="ignored_s", metavar="ARG", help=argparse.SUPPRESS)  # in fs_cli's getopt, unused
    p.add_argument("--config", metavar="FILE", help="read profiles from FILE only")
    p.add_argument("profile", nargs="?", help="profile name from the config file")
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


# ---------------------------------------------------------------------------------------------
# connecting
# ---------------------------------------------------------------------------------------------


def connect(profile: Profile) -> ESLClient:
    """Connect and authenticate (``auth`` or, with a user, ``userauth user@domain:password``).

    :raises CliError: with a one-line reason (``auth`` set when the credentials were refused).
    """
    where = f"{profile.host}:{profile.port}"
    timeout = profile.connect_timeout_ms / 1000.0 if profile.connect_timeout_ms else 10.0
    client = ESLClient(profile.host, profile.port, None if profile.user else profile.password,
                       timeout=timeout, connect=False)
    try:
        client.connect()
        if profile.user:
            reply = client.command(f"userauth {profile.user}:{profile.password}")
            if not reply.reply_text.lower().startswith("+ok accepted"):
                raise AuthError(f"authentication failed: {reply.reply_text or 'no reply'}")
    except AuthError as e:
        client.close()
        if "refused this client" in str(e):  # ACL: rude rejection
            raise CliError(str(e), auth=True) from e
        who = f"user {profile.user}" if profile.user else "the password"
        detail = str(e).removeprefix("authentication failed: ")
        raise CliError(f"{where} refused {who} ({detail}); check -p/--password"
                       + (" and -u/--user" if profile.user else "")
                       + (f" or the profile in {profile.source}" if profile.source else ""),
                       auth=True) from e
    except TimeoutError as e:
        client.close()
        raise CliError(f"cannot connect to {where}: no reply within {timeout:g} s "
                       "(is it an Event Socket?)") from e
    except ESLError as e:
        client.close()
        text = str(e)
        raise CliError(text if text.startswith("cannot connect") else f"cannot connect to {where}: {text}") from e
    except OSError as e:
        client.close()
        raise CliError(f"cannot connect to {where}: {e.strerror or e}") from e
    except ValueError as e:  # e.g. a Content-Length that is not a number: not an Event Socket
        client.close()
        raise CliError(f"cannot connect to {where}: unexpected data ({e}); is it an Event Socket?") from e
    return client


def connect_retrying(profile: Profile, retries: int, say: Callable[[str], None]) -> ESLClient:
    """:func:`connect`, trying ``retries`` more times one second apart (not on auth failures)."""
    attempt = 0
    while True:
        try:
            return connect(profile)
        except CliError as e:
            if attempt >= retries or e.auth:
                raise
            if attempt == 0:
                say(f"{e}; retrying every second ({retries} times)")
            attempt += 1
            time.sleep(1.0)  # retry interval, as fs_cli's -r


# ---------------------------------------------------------------------------------------------
# formatting (no I/O)
# ---------------------------------------------------------------------------------------------


def _plain_event_text(body: bytes) -> str:
    """A ``text/event-plain`` body as fs_cli prints it: decoded headers, then the event body."""
    head, _, rest = body.partition(b"\n\n")
    out = []
    for line in head.decode("utf-8", "replace").split("\n"):
        name, sep, value = line.partition(":")
        if not sep or name.lower() == "content-length":
            continue
        out.append(f"{name}: {unquote(value.lstrip(' '))}\n")
    if rest:
        text = rest.decode("utf-8", "replace")
        out.append(f"Content-Length: {len(rest)}\n\n{text}")
    else:
        out.append("\n")
    return "".join(out)


def api_output(reply: ESLMessage) -> str:
    """What fs_cli prints for an ``api`` reply: the body and a newline, or ``Error: ...!``."""
    if reply.content_type == "api/response":
        return reply.text + "\n"
    text = reply.reply_text
    if text[:4].lower() == "-err":
        return f"Error: {text[4:].strip()}!\n"
    return (text + "\n") if text else ""


class Display:
    """Turns log lines and events into text (``None``: filtered out).

    :param colour: colour log lines by level (FreeSWITCH's console colours).
    :param log_uuid: prefix log lines with their call UUID (``User-Data``).
    """

    def __init__(self, colour: bool = False, log_uuid: bool = False,
                 filter_uuid: str | None = None) -> None:
        self.colour = colour
        self.log_uuid = log_uuid
        self.filter_uuid = filter_uuid or None
        self.logfilter: str | None = None

    def render(self, msg: ESLMessage) -> str | None:
        ctype = msg.content_type.lower()
        if ctype == "log/data":
            return self.render_log(msg)
        if ctype == "text/event-plain":
            return "RECV EVENT\n" + _plain_event_text(msg.body) + "\n"
        if ctype in ("text/event-json", "text/event-xml"):
            text = msg.text
            return "RECV EVENT\n" + text + ("" if text.endswith("\n") else "\n") + "\n"
        if ctype in ("text/disconnect-notice", "command/reply", "api/response"):
            return None  # the link reports disconnects; stray replies are not output
        text = msg.text
        return f"INCOMING DATA [{msg.content_type}]\n{text}{'' if text.endswith(chr(10)) else chr(10)}"

    def render_log(self, msg: ESLMessage) -> str | None:
        user_data = msg.get("User-Data") or ""
        if user_data and self.filter_uuid and user_data.lower() != self.filter_uuid.lower():
            return None
        text = msg.text
        if self.logfilter and self.logfilter not in text:
            return None
        if self.log_uuid and user_data:
            text = f"{user_data} {text}"
        text = text.rstrip("\n")
        if self.colour:
            level = _int(msg.get("Log-Level") or "0") or 0
            colour = LEVEL_COLOURS[level] if 0 <= level < len(LEVEL_COLOURS) else RESET
            return f"{colour}{text}{RESET}\n"
        return text + "\n"


# ---------------------------------------------------------------------------------------------
# the socket side: a reader thread, one command at a time
# ---------------------------------------------------------------------------------------------

_LOST = object()
_INTERRUPT = object()
_REPLY_TYPES = ("command/reply", "api/response")
_ASYNC_SIGNALS = {getattr(signal, name) for name in (
    "SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGWINCH", "SIGALRM", "SIGTSTP")
    if hasattr(signal, name)}


class Link:
    """An authenticated :class:`ESLClient` whose reads belong to a reader thread.

    While no command waits, the reader passes events and log lines to ``on_message``. While a
    command waits (:meth:`exchange`), everything is queued for the waiting thread instead, which
    shows the events that precede the reply, handles the reply, then shows the ones that followed
    it: output keeps the wire order (a reply before the events it caused). A waiter that gives up
    (timeout, :meth:`interrupt`) leaves a count of replies to drop, so replies never shift onto
    later commands.

    :param on_message: called with each event / log message (reader or command thread).
    :param on_lost: called from the reader thread when the connection ends while idle.
    """

    def __init__(self, client: ESLClient, on_message: Callable[[ESLMessage], None],
                 on_lost: Callable[[str], None]) -> None:
        self.client = client
        self.on_message = on_message
        self.on_lost = on_lost
        self.lost: str | None = None
        self._lock = threading.Lock()
        self._one = threading.Lock()
        self._busy = False
        self._waiting = False
        self._late = 0
        self._closing = False
        # SimpleQueue: put() is reentrant, so the SIGINT handler may use it (see interrupt)
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="softswitch-cli-reader", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._closing = True
        sock = self.client.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
        self.client.close()

    # -- reader thread ----------------------------------------------------------------------------
    def _run(self) -> None:
        if hasattr(signal, "pthread_sigmask"):
            # Process signals (Control-C...) must reach the main thread: only a signal received
            # by the thread blocked in readline's select() interrupts it.
            signal.pthread_sigmask(signal.SIG_BLOCK, _ASYNC_SIGNALS)
        reason = "connection closed by the server"
        notice = None
        try:
            while self.client.events:  # messages that came with replies before the thread started
                self._route(self.client.events.popleft())
            while True:
                msg = self.client.recv(timeout=None)
                if msg.content_type == "text/disconnect-notice" and msg.body \
                        and msg.get("Content-Disposition") != "linger":
                    notice = msg.text.strip()
                self._route(msg)
        except ESLError as e:
            reason = notice or str(e)
        except OSError as e:
            reason = notice or f"connection error: {e}"
        except ValueError as e:  # a message the client cannot frame
            reason = f"unexpected data from the server ({e})"
        with self._lock:
            self.lost = reason
            busy = self._busy
            if busy:
                self._inbox.put(_LOST)
        if not busy and not self._closing:
            self.on_lost(reason)

    def _route(self, msg: ESLMessage) -> None:
        is_reply = msg.content_type in _REPLY_TYPES
        with self._lock:
            if is_reply and self._late:
                self._late -= 1  # the reply to a command whose waiter gave up
                return
            if self._busy:
                self._inbox.put(msg)
                return
        if not is_reply:
            self.on_message(msg)

    # -- command thread ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def exchange(self, cmd: str, headers: dict[str, str] | None = None,
                 timeout: float | None = None) -> Iterator[ESLMessage]:
        """Send a command and yield its reply; events that follow it are shown on exit.

        :raises TimeoutError: no reply within ``timeout`` seconds (its late reply is dropped).
        :raises ESLError: the connection is gone.
        """
        with self._one:
            with self._lock:
                if self.lost is not None:
                    raise ESLError(self.lost)
                self._busy = True
            try:
                try:
                    self.client.send(cmd, headers)
                except OSError as e:
                    raise ESLError(f"connection error: {e}") from e
                yield self._wait(timeout)
            finally:
                self._release()

    def interrupt(self) -> bool:
        """Make the command waiting for its reply give up (:class:`Abandoned`). Safe to call from
        a signal handler. Returns False when no command is waiting."""
        if not self._waiting:
            return False
        self._inbox.put(_INTERRUPT)
        return True

    def _wait(self, timeout: float | None) -> ESLMessage:
        deadline = None if timeout is None else time.monotonic() + timeout
        self._waiting = True
        try:
            while True:
                left = None if deadline is None else deadline - time.monotonic()
                try:
                    if left is not None and left <= 0:
                        raise queue.Empty
                    item = self._inbox.get(timeout=left)
                except queue.Empty:
                    with self._lock:
                        self._late += 1
                    raise TimeoutError(f"no reply within {timeout:g} s") from None
                if item is _INTERRUPT:
                    with self._lock:
                        self._late += 1
                    raise Abandoned()
                if item is _LOST:
                    raise ESLError(self.lost or "connection lost")
                if item.content_type in _REPLY_TYPES:
                    return item
                self.on_message(item)
        finally:
            self._waiting = False

    def _release(self) -> None:
        while True:
            with self._lock:
                try:
                    item = self._inbox.get_nowait()
                except queue.Empty:
                    self._busy = False
                    return
                if item is _LOST or item is _INTERRUPT:
                    continue  # a loss is in self.lost; an interrupt that came too late is moot
                if item.content_type in _REPLY_TYPES:
                    if self._late:
                        self._late -= 1
                    continue
            self.on_message(item)


# ---------------------------------------------------------------------------------------------
# the command logic (no I/O of its own)
# ---------------------------------------------------------------------------------------------


class Repl:
    """Runs one input line at a time, as fs_cli's ``process_command``.

    :param link: anything with :meth:`Link.exchange`.
    :param display: the :class:`Display` whose filters ``/uuid`` and ``/logfilter`` set.
    :param write: output for replies and local messages.
    :param timeout: seconds to wait for each reply (None: forever).
    """

    def __init__(self, link, display: Display, write: Callable[[str], object],
                 timeout: float | None = None, debug: int = 6) -> None:
        self.link = link
        self.display = display
        self.write = write
        self.timeout = timeout
        self.debug = debug

    def execute(self, line: str) -> bool:
        """Run one line. Returns False when the line asks to leave.

        :raises ESLError: the connection is gone.
        """
        cmd = line.strip()
        if not cmd:
            return True
        try:
            if cmd.startswith("/") or cmd[:3] == "...":
                return self._local(cmd[1:] if cmd.startswith("/") else cmd)
            if cmd.lower().startswith("console loglevel "):
                self._command("log " + cmd[17:].strip())
            with self.link.exchange(f"api {cmd}", {"console_execute": "true"}, self.timeout) as reply:
                self.write(api_output(reply))
        except TimeoutError:
            self.write("Request timed out.\n")
        except Abandoned:
            self.write("\nInterrupted: no longer waiting for the reply.\n")
        return True

    def _command(self, cmd: str) -> None:
        with self.link.exchange(cmd, None, self.timeout) as reply:
            self.write(reply.reply_text + "\n")

    def _local(self, cmd: str) -> bool:
        low = cmd.lower()
        if low == "help":
            self.write(HELP)
        elif low in EXIT_WORDS:
            return False
        elif low.startswith("logfilter"):
            self.display.logfilter = cmd[9:].strip() or None
            self.write(f"Logfilter {'enabled' if self.display.logfilter else 'disabled'}\n")
        elif low.startswith("uuid"):
            self.display.filter_uuid = cmd[4:].strip() or None
            self.write(f"UUID filtering {'enabled' if self.display.filter_uuid else 'disabled'}\n")
        elif low.startswith(("event", "noevent", "nixevent", "log", "nolog", "filter")):
            self._command(cmd)
        elif low.startswith("debug"):
            level = _int(cmd[5:]) if cmd[5:].strip() else None
            if level is not None and 0 <= level <= 7:
                self.debug = level
                self.write(f"{PROG} debug level set to {level}\n")
            else:
                self.write(f"{PROG} debug level must be 0 - 7\n")
        else:
            self.write(f"Unknown command [{cmd}]\n")
        return True


# ---------------------------------------------------------------------------------------------
# the terminal side
# ---------------------------------------------------------------------------------------------


def _use_colour(stream, profile: Profile, no_color: bool) -> bool:
    if no_color or profile.batch or "NO_COLOR" in os.environ or os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Console:
    """stdin/stdout of the interactive mode: prompt, readline and history, output from the
    reader thread that does not trample the line being typed."""

    def __init__(self, profile: Profile, stdin=None, stdout=None, stderr=None,
                 allow_interrupt: bool = False) -> None:
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.debug = profile.debug
        self.allow_interrupt = allow_interrupt
        self.prompt = ""
        self.lock = threading.Lock()
        self.in_input = False
        self.link: Link | None = None  # while connected: Control-C stops a wait for a reply
        self.warn_stop = False
        self.readline = None
        self._main = threading.main_thread().ident
        self._old_usr1 = None
        self._old_int = None
        self._left_input = threading.Event()
        if not profile.batch and self._isatty(self.stdin) and self._isatty(self.stdout):
            try:
                import readline
            except ImportError:  # pragma: no cover - platforms without readline
                readline = None
            self.readline = readline

    @staticmethod
    def _isatty(stream) -> bool:
        try:
            return stream.isatty()
        except (AttributeError, ValueError):
            return False

    # -- output ----------------------------------------------------------------------------------
    def write(self, text: str | None) -> None:
        if not text:
            return
        with self.lock:
            if self.readline is not None and self.in_input:
                # clear the prompt line, print, then draw the prompt and the typed text again
                buf = self.readline.get_line_buffer()
                self.stdout.write("\r\033[K" + text + self.prompt + buf)
            else:
                self.stdout.write(text)
            self.stdout.flush()

    def say(self, text: str, level: int = 3) -> None:
        """A message of this client on stderr, shown if ``level`` <= the debug level (errors: 3)."""
        if level > self.debug and level > 3:
            return
        with self.lock:
            if self.readline is not None and self.in_input:
                self.stdout.write("\r\033[K")
                self.stdout.flush()
            self.stderr.write(f"{PROG}: {text}\n")
            self.stderr.flush()
            if self.readline is not None and self.in_input:
                self.stdout.write(self.prompt + self.readline.get_line_buffer())
                self.stdout.flush()

    # -- input -----------------------------------------------------------------------------------
    def start(self) -> None:
        if self.readline is not None:
            with contextlib.suppress(OSError):
                self.readline.read_history_file(os.path.expanduser(HISTORY_FILE))
            self.readline.set_history_length(HISTORY_LENGTH)
        if threading.current_thread() is threading.main_thread():
            self._old_int = signal.signal(signal.SIGINT, self._on_sigint)
            if hasattr(signal, "pthread_kill"):
                self._old_usr1 = signal.signal(signal.SIGUSR1, self._on_usr1)

    def stop(self) -> None:
        self.save_history()
        if self._old_usr1 is not None:
            signal.signal(signal.SIGUSR1, self._old_usr1)
            self._old_usr1 = None
        if self._old_int is not None:
            signal.signal(signal.SIGINT, self._old_int)
            self._old_int = None

    def save_history(self) -> None:
        if self.readline is None:
            return
        path = os.path.expanduser(HISTORY_FILE)
        try:
            self.readline.write_history_file(path)
            os.chmod(path, 0o600)
        except OSError:
            pass

    def _on_usr1(self, signum, frame) -> None:
        if self.in_input:
            raise _Wakeup()

    def _on_sigint(self, signum, frame) -> None:
        """Control-C, as in fs_cli: leaves with ``-i`` or when not connected; otherwise it drops
        the line being typed, or stops waiting for a reply, or (elsewhere) only says how to
        leave. It never raises in the middle of the client's own bookkeeping."""
        if self.allow_interrupt or self.link is None or self.in_input:
            raise KeyboardInterrupt
        if not self.link.interrupt():
            self.warn_stop = True

    def wake(self) -> None:
        """Make the main thread leave its read of stdin (called from the reader thread).

        Repeated until it has left: a signal that arrives while readline is busy with a key
        (not blocked in select) is only acted upon at the next interrupted wait or key press.
        """
        if self._old_usr1 is None:
            return
        for _ in range(100):
            if not self.in_input:
                return
            with contextlib.suppress(OSError, ValueError):
                signal.pthread_kill(self._main, signal.SIGUSR1)
            if self._left_input.wait(0.1):
                return

    def read_line(self, prompt: str, stop: Callable[[], bool]) -> str | None:
        """One line (None at end of input), or raise :class:`_Wakeup` when ``stop()`` becomes
        true while waiting."""
        self.prompt = prompt
        if self.warn_stop:
            self.warn_stop = False
            self.write(STOP_HINT)
        self._left_input.clear()
        self.in_input = True
        try:
            if stop():
                raise _Wakeup()
            if self.readline is not None:
                try:
                    return input(prompt)
                except EOFError:
                    self.stdout.write("/exit\n")
                    return None
            with self.lock:
                self.stdout.write(prompt)
                self.stdout.flush()
            line = self.stdin.readline()
            return line if line else None
        finally:
            self.in_input = False
            self._left_input.set()


# ---------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------


def _err(text: str) -> None:
    sys.stderr.write(f"{PROG}: {text}\n")
    sys.stderr.flush()


def run_execute(profile: Profile, commands: list[str], retry: bool) -> int:
    """``-x``: run each command as ``api`` with ``console_execute: true`` and print the body."""
    client = connect_retrying(profile, RETRIES if retry else 0, _err)
    timeout = profile.timeout_ms / 1000.0 if profile.timeout_ms else None
    out = sys.stdout
    try:
        for cmd in commands:
            try:
                reply = client.command(f"api {cmd}", {"console_execute": "true"}, timeout=timeout)
            except TimeoutError:
                raise CliError(f"no reply to {cmd!r} within {profile.timeout_ms} ms "
                               f"from {profile.host}:{profile.port}") from None
            except ESLError as e:
                raise CliError(f"{profile.host}:{profile.port}: {e} (while running {cmd!r})") from e
            out.write(api_output(reply))
            out.flush()
    finally:
        client.close()
    return 0


def _switch_name(client: ESLClient, profile: Profile) -> str:
    for api in ("switchname", "hostname"):
        try:
            reply = client.command(f"api {api}", timeout=5.0)
        except (TimeoutError, ESLError):
            break
        text = reply.text.strip()
        if text and not text.startswith("-") and "\n" not in text:
            return text
    return profile.host


def _banner(name: str, profile: Profile) -> str:
    return (f"softswitch-cli connected to {profile.host}:{profile.port} (switch {name})\n"
            "Type /help <enter> to see a list of commands\n\n")


def run_interactive(profile: Profile, args: argparse.Namespace) -> int:
    console = Console(profile, allow_interrupt=args.interrupt)
    display = Display(colour=_use_colour(sys.stdout, profile, args.no_color),
                      log_uuid=profile.log_uuid, filter_uuid=args.set_log_uuid)
    client = connect_retrying(profile, RETRIES if args.retry else 0, console.say)
    name = _switch_name(client, profile)
    prompt = f"softswitch@{name}> "

    def open_link(client: ESLClient, first: bool) -> Link:
        reply_text = None
        if not profile.quiet:
            cmd = f"log {profile.loglevel}" if profile.loglevel else "log"
            try:
                reply_text = client.command(cmd, timeout=10.0).reply_text
            except (TimeoutError, ESLError) as e:
                reply_text = f"-ERR {cmd}: {e}"
        if first and not profile.quiet:
            console.write(_banner(name, profile))
        if reply_text is not None:
            console.write(reply_text + "\n")
        link = Link(client, lambda m: console.write(display.render(m)), lambda r: console.wake())
        link.start()
        console.link = link
        return link

    link = open_link(client, True)
    timeout = profile.timeout_ms / 1000.0 if profile.timeout_ms else None
    repl = Repl(link, display, console.write, timeout=timeout, debug=profile.debug)
    console.start()
    code = 0
    try:
        while True:
            try:
                line = console.read_line(prompt, lambda link=link: link.lost is not None)
                if line is None or not repl.execute(line):
                    break
            except (_Wakeup, ESLError):
                pass  # the connection is gone: see below
            except KeyboardInterrupt:
                if args.interrupt:
                    console.write("\nInterrupted.\n")
                    code = 1
                    break
                console.write(STOP_HINT)
            finally:
                console.debug = repl.debug
            if link.lost is None:
                continue
            if console.readline is not None:
                console.write("\n")
            console.say(f"disconnected from {profile.host}:{profile.port}: {link.lost}")
            console.link = None  # Control-C now leaves, as fs_cli does while not connected
            link.close()
            if not args.reconnect:
                code = 1
                break
            try:
                client = connect_retrying(profile, RETRIES, console.say)
            except CliError as e:
                console.say(str(e))
                code = 1
                break
            console.say(f"reconnected to {profile.host}:{profile.port}", level=4)
            link = repl.link = open_link(client, False)
    finally:
        console.link = None
        console.stop()
        link.close()
    if code == 0:
        console.say("Goodbye!", level=6)
    return code


def main(argv: list[str] | None = None) -> int:
    """The ``softswitch-cli`` console script."""
    args = parse_args(argv)
    try:
        profile = resolve_profile(args)
        for warning in profile.warnings:
            _err(warning)
        if profile.debug >= 7:
            _err(f"using profile {profile.name} [{profile.host}:{profile.port}]"
                 + (f" from {profile.source}" if profile.source else ""))
        if args.execute:
            return run_execute(profile, args.execute, args.retry)
        return run_interactive(profile, args)
    except CliError as e:
        _err(str(e))
        return 1
    except KeyboardInterrupt:
        _err("interrupted")
        return 1
    except BrokenPipeError:
        # output closed early (``| head``): leave quietly, without a second error at exit
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
