"""The ``event_sink`` API: stateful, polled event listeners for a web front end.

FreeSWITCH registers ``event_sink`` in mod_event_socket for HTTP clients (through mod_xml_rpc):
the request's parameters arrive as the API stream's ``param_event`` (``http-host``,
``command``, ``format``, ``listen-id``, …). Without ``http-host`` it only answers
``This is a web application!``. Commands: ``create-listener`` (``events``, ``loglevel``),
``check-listener`` (drains queued events and log lines), ``destroy-listener``, ``filter``
(``action`` add|delete, ``header-name``, ``header-val``), ``stop-logging``, ``set-loglevel``,
``exec-fsapi`` (``fsapi-command``, ``fsapi-args``). A listener expires 60 s after its last
``check-listener``.

softswitch has no HTTP server yet; anything that builds such a stream (a web module) gets
FreeSWITCH's behaviour, byte for byte.
"""

from __future__ import annotations

import json
import time
from collections import deque
from typing import TYPE_CHECKING

from softswitch import Event, EventType, LogLine, Stream, parse_level, url_encode

from .subscriber import Subscriber, parse_event_list

if TYPE_CHECKING:
    from . import EventSocket

MAX_QUEUE_LEN = 100_000
TIMEOUT = 60


class SinkListener(Subscriber):
    """A listener without a socket: events and log lines wait until ``check-listener``."""

    stateful = True

    def __init__(self, ident: int) -> None:
        super().__init__()
        self.id = ident
        self.timeout = TIMEOUT
        self.last_flush = time.time()
        self.expired = False
        self.events: deque[Event] = deque()
        self.logs: deque[LogLine] = deque()

    def is_expired(self, now: float) -> bool:
        return self.expired or (self.timeout and now - self.last_flush > self.timeout)

    def offer_event(self, ev: Event) -> None:
        if self.dead or not self.events_on or not self.wants(ev):
            return
        if len(self.events) < MAX_QUEUE_LEN:
            self.events.append(ev)

    def offer_log(self, line: LogLine, data: bytes) -> None:
        if self.log_on and line.level <= self.log_level and len(self.logs) < MAX_QUEUE_LEN:
            self.logs.append(line)

    def xmlize(self, stream: Stream) -> None:
        stream.write(" <listener>\n")
        stream.write("  <listen-id>%d</listen-id>\n", self.id)
        stream.write("  <format>%s</format>\n", self.format)
        stream.write("  <timeout>%d</timeout>\n", self.timeout)
        stream.write(" </listener>\n")

    def json_listener(self) -> dict:
        return {"listen-id": self.id, "format": self.format, "timeout": self.timeout}


def cjson_print(value, depth: int = 0) -> str:
    """``cJSON_Print``'s formatted output (tabs, ``"key":\\tvalue``)."""
    if isinstance(value, dict):
        if not value:
            return "{\n" + "\t" * depth + "}"
        inner = ",\n".join("\t" * (depth + 1) + json.dumps(k, ensure_ascii=False) + ":\t"
                           + cjson_print(v, depth + 1) for k, v in value.items())
        return "{\n" + inner + "\n" + "\t" * depth + "}"
    if isinstance(value, list):
        return "[" + ", ".join(cjson_print(v, depth + 1) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def _event_obj(ev: Event) -> dict:
    out: dict = {}
    for name, value in ev.headers:
        out.setdefault(name, value if isinstance(value, str) else list(value))
    if ev.body is not None:
        out["Content-Length"] = str(len(ev.body.encode()))
        out["_body"] = ev.body
    return out


def _id(params: Event) -> int:
    text = params.get_header("listen-id") or ""
    digits = ""
    for c in text.strip():
        if not c.isdigit():
            break
        digits += c
    return int(digits or 0)


def event_sink(es: EventSocket, cmd: str, session, stream: Stream) -> None:
    params = stream.param_event
    http = params.get_header("http-host") if params is not None else None
    if not http:
        stream.write("This is a web application!\n")
        return
    wcmd = params.get_header("command")
    fmt = params.get_header("format") or "xml"
    is_json = "json" in fmt.lower()
    if is_json:
        stream.write("Content-Type: application/json\n\n")
    else:
        stream.write('Content-Type: text/xml\n\n<?xml version="1.0"?>\n<root>\n')
    try:
        _command(es, wcmd, fmt, is_json, params, stream)
    finally:
        if not is_json:
            stream.write("</root>\n\n")


def _command(es: EventSocket, wcmd, fmt: str, is_json: bool, params: Event, stream: Stream) -> None:
    if not wcmd:
        stream.write('<data><reply type="error">Missing command parameter!</reply></data>\n')
        return
    wcmd = wcmd.lower()
    if wcmd == "create-listener":
        _create(es, fmt, is_json, params, stream)
        return
    if wcmd == "exec-fsapi":
        _exec_fsapi(es, params, stream)
        return
    if wcmd not in ("filter", "stop-logging", "set-loglevel", "destroy-listener", "check-listener"):
        stream.write('<data><reply type="error">INVALID COMMAND!</reply></data\n')  # (sic)
        return
    listener = es.find_sink(_id(params))
    if listener is None:
        if wcmd == "destroy-listener" or wcmd == "check-listener":
            if wcmd == "check-listener" and is_json:
                stream.write('{"reply": "error", "reply_text":"Can\'t find listener"}')
            else:
                stream.write('<data><reply type="error">Can\'t find listener</reply></data>\n')
        else:
            stream.write('<data><reply type="error">Invalid Listen-ID</reply></data>\n')
        return
    if wcmd == "filter":
        _filter(listener, params, stream)
    elif wcmd == "stop-logging":
        if listener.log_on:
            listener.log_on = False
            es.reindex(listener)
            stream.write('<data><reply type="success">Not Logging</reply></data>\n')
        else:
            stream.write('<data><reply type="error">Not Logging</reply></data>\n')
    elif wcmd == "set-loglevel":
        level_text = params.get_header("loglevel")
        if level_text is None:
            stream.write('<data><reply type="error">Invalid Syntax</reply></data>\n')
            return
        level = parse_level(level_text)
        if level == 64:
            stream.write('<data><reply type="error">Invalid Level</reply></data>\n')
            return
        listener.log_level = level
        listener.log_on = True
        es.reindex(listener)
        stream.write('<data><reply type="success">Log Level %s</reply></data>\n', level_text)
    elif wcmd == "destroy-listener":
        stream.write('<data>\n <reply type="success">listener %d destroyed</reply>\n', listener.id)
        listener.xmlize(stream)
        stream.write("</data>\n")
        listener.expired = True
        es.remove_sink(listener)
    else:
        _check(listener, stream)


def _create(es: EventSocket, fmt: str, is_json: bool, params: Event, stream: Stream) -> None:
    events = params.get_header("events")
    loglevel = params.get_header("loglevel")
    if not events and not loglevel:
        if is_json:
            stream.write('{"reply": "error", "reply_text":"Missing parameter!"}')
        else:
            stream.write('<data><reply type="error">Missing parameter!</reply></data>\n')
        return
    listener = SinkListener(es.next_id())
    if loglevel:
        level = parse_level(loglevel)
        if level != 64:
            listener.log_level = level
            listener.log_on = True
    if events:
        low = fmt.lower()
        listener.format = "xml" if "xml" in low else "json" if "json" in low else "plain"
        if not parse_event_list(events, listener.event_list, listener.event_hash):
            if listener.format == "json":
                stream.write('{"reply": "error", "reply_text":"No keywords supplied"}')
            else:
                stream.write('<data><reply type="error">No keywords supplied</reply></data>\n')
            return
    listener.events_on = True
    es.add_sink(listener)
    if listener.format == "json":
        stream.write(cjson_print({"listener": listener.json_listener()}))
    else:
        stream.write('<data>\n <reply type="success">Listener %d Created</reply>\n', listener.id)
        listener.xmlize(stream)
        stream.write("</data>\n")


def _filter(listener: SinkListener, params: Event, stream: Stream) -> None:
    action = params.get_header("action")
    name = params.get_header("header-name")
    value = params.get_header("header-val")
    if not action:
        stream.write('<data><reply type="error">Invalid Syntax</reply></data>\n')
        return
    action = action.lower()
    if action == "delete":
        if not value:
            stream.write('<data><reply type="error">Invalid Syntax</reply></data>\n')
            return
        if value.lower() == "all":
            listener.filters = []
        else:  # FreeSWITCH deletes by header *name* here (the value parameter names it)
            listener.filters = [(n, v) for n, v in listener.filters if n.lower() != value.lower()]
        stream.write('<data>\n <reply type="success">filter deleted.</reply>\n<api-command>\n')
    elif action == "add":
        if not name or not value:
            stream.write('<data><reply type="error">Invalid Syntax</reply></data>\n')
            return
        listener.filters.append((name, value))
        stream.write('<data>\n <reply type="success">filter added.</reply>\n<api-command>\n')
    else:
        stream.write('<data><reply type="error">Invalid Syntax</reply></data>\n')


def _check(listener: SinkListener, stream: Stream) -> None:
    listener.last_flush = time.time()
    is_json = listener.format == "json"
    if not is_json:
        stream.write('<data>\n <reply type="success">Current Events Follow</reply>\n')
        listener.xmlize(stream)
    if listener.log_on:
        stream.write("<log_data>\n")
        while listener.logs:
            line = listener.logs.popleft()
            stream.write('<log log-level="%d" text-channel="%d" log-file="%s" log-func="%s" '
                         'log-line="%d" user-data="%s">%s</log>\n', line.level, line.channel,
                         line.file, line.func, line.line, line.user_data, url_encode(line.text))
        stream.write("</log_data>\n")
    events = []
    if not is_json:
        stream.write("<events>\n")
    while listener.events:
        ev = listener.events.popleft()
        if listener.format == "plain":
            stream.write('<event type="plain">\n%s</event>', ev.serialize("plain"))
        elif is_json:
            events.append(_event_obj(ev))
        else:
            stream.write("%s\n", ev.serialize("xml"))
    if is_json:
        stream.write(cjson_print({"listener": listener.json_listener(), "events": events}))
    else:
        stream.write(" </events>\n</data>\n")


def _exec_fsapi(es: EventSocket, params: Event, stream: Stream) -> None:
    command = params.get_header("fsapi-command")
    args = params.get_header("fsapi-args") or ""
    if not command:
        stream.write('<data><reply type="error">INVALID API COMMAND!</reply></data>\n')
        return
    stream.write('<data>\n <reply type="success">Execute API Command</reply>\n<api-command>\n')
    if command.lower() in ("unload", "reload") and args.lower() == "mod_event_socket":
        command, args = "bgapi", f"{command.lower()} mod_event_socket"
    inner = Stream(Event(EventType.REQUEST_PARAMS, stamp=False))
    es.core.api_execute(command, args, None, inner)
    stream.write(inner.getvalue())
    stream.write(" </api-command>\n</data>")
