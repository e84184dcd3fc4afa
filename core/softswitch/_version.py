"""The softswitch version, and the FreeSWITCH version whose behaviour it follows on the wire."""

__version__ = "0.2.0"

#: The module API's version, ``(major, minor)``: what ``softswitch/__init__.py`` exports and the
#: services a module's hooks get (softswitch.services). A minor version only adds (and may
#: deprecate); before 1.0 a minor may also remove what the previous minor deprecated.
#: 0.1: the first API. 0.2: the services facade (core.admin, core.timers, …), new_pacing,
#: pure_python, new_uuid, url_encode, version_full, separate_string.
API_VERSION = (0, 2)

#: The FreeSWITCH release whose Event Socket and API behaviour softswitch reproduces.
#: ``version short`` answers with it, so tools that gate features on FreeSWITCH's version work.
FREESWITCH_COMPAT = "1.10.12"
