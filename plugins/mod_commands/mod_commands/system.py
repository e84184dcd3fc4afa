"""The host and the network: ``acl``, ``gethost``, ``host_lookup``, ``file_exists``,
``event_channel_broadcast``.

Name lookups go through gevent's resolver, so they never block the hub.
"""

from __future__ import annotations

import json
import os

import gevent.socket

from ._api import CommandTable
from ._text import separate_string

commands = CommandTable()


@commands("acl", "Compare an ip to an acl list", "<ip> <list_name>")
def acl(module, cmd, session, stream):
    argv = separate_string(cmd, " ", 3) if cmd else []
    allowed = False
    if len(argv) >= 2:
        try:
            allowed = module.core.acl.check(argv[0], argv[1])
        except (LookupError, ValueError):  # unknown list, not an address: "false", as FreeSWITCH
            allowed = False
    stream.write("true" if allowed else "false")


@commands("gethost", "gethostbyname", "")
def gethost(module, cmd, session, stream):
    if cmd:
        try:
            stream.write(gevent.socket.gethostbyname(cmd))
            return
        except (OSError, UnicodeError, ValueError):
            pass
    stream.write("-ERR")


@commands("host_lookup", "Lookup host", "<hostname>")
def host_lookup(module, cmd, session, stream):
    if not cmd:
        stream.write("parameter missing\n")
        return
    try:
        infos = gevent.socket.getaddrinfo(cmd, None)
    except (OSError, UnicodeError, ValueError):
        infos = []
    stream.write(infos[0][4][0] if infos else "!err!")


@commands("file_exists", "Check if a file exists on server", "<file>")
def file_exists(module, cmd, session, stream):
    try:
        exists = bool(cmd) and os.path.exists(cmd)
    except (ValueError, OSError):
        exists = False
    stream.write("true" if exists else "false")


@commands("event_channel_broadcast", "Broadcast", "<channel> <json>")
def event_channel_broadcast(module, cmd, session, stream):
    """Send a JSON message (with an ``eventChannel`` key) to an event channel.

    softswitch has no event-channel subscribers yet (FreeSWITCH's are verto and friends), so a
    message is delivered to nobody, as in a FreeSWITCH with none of them loaded.
    """
    if not cmd:
        stream.write("-ERR parsing channel\n")
        return
    try:
        data = json.loads(cmd)
    except ValueError:
        stream.write("-ERR parsing json\n")
        return
    channel = data.get("eventChannel") if isinstance(data, dict) else None
    if not isinstance(channel, str):
        module.log.error("NO EVENT CHANNEL SPECIFIED")
        return
    module.log.debug("event channel %s: no subscribers", channel)
    stream.write("+OK message sent\n")
