"""``softswitch new-module NAME [DIR]``: write a working module distribution to start from.

The skeleton (``softswitch/templates/softswitch-module``) is a complete distribution: pyproject
with the ``softswitch.modules`` entry point, the module with ``module_load``/``module_shutdown``,
an API and a configuration file, tests that start the kernel in-process, a tox.ini, README and
CHANGELOG. Its own tests pass as written.
"""

from __future__ import annotations

import os
import re
import sys

TEMPLATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates", "softswitch-module")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


USAGE = """\
Usage: softswitch new-module NAME [DIR]

Write a new module distribution to start from: a working module mod_NAME (an API, a
configuration file, load and shutdown hooks), its tests, pyproject.toml, tox.ini, README,
CHANGELOG and .gitignore. Its tests pass as written.

  NAME  the module's name: lower-case letters, digits and '_'; "weather" or "mod_weather"
        both give the module mod_weather (distribution softswitch-mod-weather)
  DIR   the directory to create (it must not exist, or be empty); default:
        ./softswitch-mod-NAME in the current directory

Then: cd DIR && pip install -e '.[test]' && pytest
Writing modules: docs/writing-modules.md in softswitch's source tree.
"""


def main(argv: list[str]) -> int:
    """``softswitch new-module ...`` (``argv`` without ``new-module``)."""
    if any(a in ("-h", "--help", "-help", "help") for a in argv):
        sys.stdout.write(USAGE)
        return 0
    if len(argv) not in (1, 2):
        sys.stderr.write(USAGE)
        return 1
    return new_module(*argv)


def new_module(name: str, dest: str | None = None) -> int:
    short = name[4:] if name.startswith("mod_") else name
    if not _NAME.match(short):
        sys.stderr.write(f"softswitch new-module: {name!r} is not a valid module name: use lower-case "
                         "letters, digits and '_' (e.g. 'hello' for mod_hello)\n")
        return 1
    dashed = short.replace("_", "-")
    dest = os.path.abspath(dest or f"softswitch-mod-{dashed}")
    if os.path.exists(dest) and os.listdir(dest):
        sys.stderr.write(f"softswitch new-module: {dest} exists and is not empty; choose another directory\n")
        return 1

    def fill(text: str) -> str:
        return text.replace("NAME_DASHED", dashed).replace("NAME", short)

    for root, dirs, files in os.walk(TEMPLATE):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        rel = os.path.relpath(root, TEMPLATE)
        out_dir = os.path.join(dest, fill(rel)) if rel != "." else dest
        os.makedirs(out_dir, exist_ok=True)
        for fname in files:
            if fname.endswith(".pyc"):
                continue
            with open(os.path.join(root, fname), encoding="utf-8") as f:
                text = f.read()
            with open(os.path.join(out_dir, fill(fname)), "w", encoding="utf-8") as f:
                f.write(fill(text))
    print(f"Wrote mod_{short} to {dest}\n"
          f"  cd {os.path.relpath(dest)} && pip install -e '.[test]' && pytest\n"
          f"Then add <load module=\"mod_{short}\"/> to modules.conf.xml, or: "
          f"softswitch-cli -x \"load mod_{short}\"")
    return 0
