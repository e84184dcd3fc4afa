"""Directories: FreeSWITCH's set (``SWITCH_GLOBAL_dirs``) with per-user defaults.

Resolution, for each directory:

1. its own flag (``-conf``, ``-log``, ``-db``, ``-run``, ``-mod``, …);
2. ``<base>/<sub>`` when ``-base`` is given (FreeSWITCH's layout: ``conf``, ``log``, ``db``,
   ``run``, ``mod``, ``scripts``, ``sounds``, …; ``cert`` singular);
3. per-user defaults, following the XDG base directories:

   ========== ===================================================================
   conf_dir   ``~/.config/softswitch`` if it holds a root file, else the default
              tree shipped inside the installed kernel (read-only; copy it out with
              ``softswitch -copyconf``)
   log_dir    ``$XDG_STATE_HOME/softswitch/log``  (``~/.local/state/softswitch/log``)
   db_dir     ``$XDG_STATE_HOME/softswitch/db``
   run_dir    ``$XDG_RUNTIME_DIR/softswitch`` if set, else ``~/.local/state/softswitch/run``
   base_dir   ``$XDG_DATA_HOME/softswitch`` (``~/.local/share/softswitch``); every
              other directory is a sub-directory of it
   temp_dir   the system temporary directory
   ========== ===================================================================

With ``-base`` but no ``<base>/conf`` tree, the shipped default tree is used (and said so).
``-log`` without ``-run`` puts the pid file in the log dir, as in FreeSWITCH. Unlike FreeSWITCH,
``-conf``, ``-log`` and ``-db`` need not be given together: the others keep their per-user
defaults.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, fields

__all__ = ["Directories", "DEFAULT_CONF", "SUBDIRS", "user_conf_dir"]

#: The default configuration tree shipped with the kernel.
DEFAULT_CONF = os.path.join(os.path.dirname(os.path.abspath(__file__)), "conf")
if not os.path.isdir(DEFAULT_CONF):  # running from a source checkout
    DEFAULT_CONF = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "conf"))

#: directory attribute -> sub-directory of the base dir (FreeSWITCH's layout)
SUBDIRS = {
    "mod_dir": "mod",
    "lib_dir": "lib",
    "conf_dir": "conf",
    "log_dir": "log",
    "run_dir": "run",
    "db_dir": "db",
    "script_dir": "scripts",
    "htdocs_dir": "htdocs",
    "grammar_dir": "grammar",
    "fonts_dir": "fonts",
    "images_dir": "images",
    "recordings_dir": "recordings",
    "sounds_dir": "sounds",
    "storage_dir": "storage",
    "cache_dir": "cache",
    "certs_dir": "cert",
}


def user_conf_dir(env: dict[str, str] | None = None) -> str:
    """The per-user configuration directory: ``$XDG_CONFIG_HOME/softswitch``
    (``~/.config/softswitch``). ``softswitch -copyconf`` copies the default tree there."""
    env = dict(os.environ) if env is None else env
    home = env.get("HOME") or os.path.expanduser("~")
    return os.path.join(env.get("XDG_CONFIG_HOME") or os.path.join(home, ".config"), "softswitch")


@dataclass
class Directories:
    base_dir: str = ""
    mod_dir: str = ""
    lib_dir: str = ""
    conf_dir: str = ""
    log_dir: str = ""
    run_dir: str = ""
    db_dir: str = ""
    script_dir: str = ""
    htdocs_dir: str = ""
    grammar_dir: str = ""
    fonts_dir: str = ""
    images_dir: str = ""
    recordings_dir: str = ""
    sounds_dir: str = ""
    storage_dir: str = ""
    cache_dir: str = ""
    certs_dir: str = ""
    data_dir: str = ""
    localstate_dir: str = ""
    temp_dir: str = ""
    #: True when conf_dir is the read-only tree shipped with the kernel
    conf_is_default: bool = False
    #: True when conf_dir was given explicitly (-conf): it must hold a root file
    conf_is_explicit: bool = False

    @classmethod
    def resolve(cls, given: dict[str, str] | None = None, base: str | None = None,
                env: dict[str, str] | None = None, root_files: tuple[str, ...] = ()) -> Directories:
        """Fill every directory from flags (``given``: attribute -> path), ``base`` and defaults."""
        env = dict(os.environ) if env is None else env
        given = {k: os.path.abspath(os.path.expanduser(v)) for k, v in (given or {}).items() if v}
        home = env.get("HOME") or os.path.expanduser("~")
        state = env.get("XDG_STATE_HOME") or os.path.join(home, ".local", "state")
        data = env.get("XDG_DATA_HOME") or os.path.join(home, ".local", "share")
        d = cls()
        if base:
            d.base_dir = os.path.abspath(os.path.expanduser(base))
            for attr, sub in SUBDIRS.items():
                setattr(d, attr, given.get(attr) or os.path.join(d.base_dir, sub))
        else:
            d.base_dir = os.path.join(data, "softswitch")
            for attr, sub in SUBDIRS.items():
                setattr(d, attr, given.get(attr) or os.path.join(d.base_dir, sub))
            user_state = os.path.join(state, "softswitch")
            d.log_dir = given.get("log_dir") or os.path.join(user_state, "log")
            d.db_dir = given.get("db_dir") or os.path.join(user_state, "db")
            runtime = env.get("XDG_RUNTIME_DIR")
            d.run_dir = given.get("run_dir") or (
                os.path.join(runtime, "softswitch") if runtime else os.path.join(user_state, "run"))
            d.conf_dir = given.get("conf_dir") or user_conf_dir(env)
        if "log_dir" in given and "run_dir" not in given:
            d.run_dir = d.log_dir  # FreeSWITCH: -log without -run puts the pid file there
        d.data_dir = d.localstate_dir = d.base_dir
        d.temp_dir = given.get("temp_dir") or tempfile.gettempdir()
        d.conf_is_explicit = "conf_dir" in given
        if not d.conf_is_explicit and not any(
                os.path.isfile(os.path.join(d.conf_dir, f)) for f in root_files):
            d.conf_dir = DEFAULT_CONF
            d.conf_is_default = True
        return d

    def as_variables(self) -> list[tuple[str, str]]:
        """The directory global variables, in FreeSWITCH's order (``sound_prefix`` included)."""
        return [
            ("base_dir", self.base_dir),
            ("recordings_dir", self.recordings_dir),
            ("sound_prefix", self.sounds_dir),
            ("sounds_dir", self.sounds_dir),
            ("conf_dir", self.conf_dir),
            ("log_dir", self.log_dir),
            ("run_dir", self.run_dir),
            ("db_dir", self.db_dir),
            ("mod_dir", self.mod_dir),
            ("htdocs_dir", self.htdocs_dir),
            ("script_dir", self.script_dir),
            ("temp_dir", self.temp_dir),
            ("grammar_dir", self.grammar_dir),
            ("fonts_dir", self.fonts_dir),
            ("images_dir", self.images_dir),
            ("certs_dir", self.certs_dir),
            ("storage_dir", self.storage_dir),
            ("cache_dir", self.cache_dir),
            ("data_dir", self.data_dir),
            ("localstate_dir", self.localstate_dir),
        ]

    def ensure(self) -> None:
        """Create the directories the core writes to (log, run, db) and the base dir."""
        for path in (self.base_dir, self.log_dir, self.run_dir, self.db_dir):
            os.makedirs(path, exist_ok=True)

    def describe(self) -> list[tuple[str, str]]:
        return [(f.name, getattr(self, f.name)) for f in fields(self) if f.name.endswith("_dir")]
