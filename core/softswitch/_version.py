"""The softswitch version, and the FreeSWITCH version whose behaviour it follows on the wire."""

__version__ = "0.1.0"

#: The FreeSWITCH release whose Event Socket and API behaviour softswitch reproduces.
#: ``version short`` answers with it, so tools that gate features on FreeSWITCH's version work.
FREESWITCH_COMPAT = "1.10.12"
