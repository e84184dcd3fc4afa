"""softswitch-cli: the command line client for the Event Socket (FreeSWITCH's fs_cli habits),
and the small blocking Event Socket client it is built on (:mod:`softswitch_cli.client`).

Not a softswitch module: it talks to a server (softswitch's or FreeSWITCH's) over TCP, needs
neither the kernel nor gevent, and runs where the switch does not.
"""

from .client import AuthError, ESLClient, ESLError, ESLMessage

__all__ = ["ESLClient", "ESLMessage", "ESLError", "AuthError"]
__version__ = "0.1.0"
