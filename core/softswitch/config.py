"""XML configuration: global variables, the X-PRE-PROCESS pre-processor, the parsed tree.

The pipeline is FreeSWITCH's (``switch_xml.c``): the root file (``softswitch.xml``, or
``freeswitch.xml`` so that an existing FreeSWITCH conf dir works as it is) is pre-processed line
by line — ``$${var}`` expansion, ``X-PRE-PROCESS`` commands, includes — into one document, which
is parsed with :mod:`defusedxml` (no entity bombs, no external entities). Every line of the
document remembers the file and line it came from, so any error names the real file and line.

Modules read their part with :meth:`XmlConfig.open_cfg` (``open_cfg("event_socket.conf")``)
and :func:`params`.
"""

from __future__ import annotations

import glob
import logging
import os
import re
import subprocess
from collections.abc import Callable, Iterator
from xml.etree.ElementTree import Element, ParseError

import defusedxml
from defusedxml.ElementTree import DefusedXMLParser

log = logging.getLogger(__name__)

__all__ = [
    "ConfigError",
    "GlobalVars",
    "Preprocessor",
    "XmlConfig",
    "load_xml",
    "find_root_file",
    "switch_true",
    "params",
    "expand",
    "ROOT_FILES",
]

#: Root file names, in the order they are looked for in the conf dir.
ROOT_FILES = ("softswitch.xml", "freeswitch.xml")

_TRUE_WORDS = frozenset({"yes", "on", "true", "t", "enabled", "active", "allow"})


def switch_true(value: object) -> bool:
    """FreeSWITCH's ``switch_true``: yes/on/true/t/enabled/active/allow or a non-zero integer."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    text = str(value).strip()
    if text.lower() in _TRUE_WORDS:
        return True
    try:
        return int(text) != 0
    except ValueError:
        return False


class ConfigError(Exception):
    """A configuration problem that stops startup. ``str()`` is the one line the user sees."""

    def __init__(self, message: str, file: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line

    def __str__(self) -> str:
        if self.file and self.line:
            return f"{self.file}:{self.line}: {self.message}"
        if self.file:
            return f"{self.file}: {self.message}"
        return self.message


# --------------------------------------------------------------------------------------------
# Global variables
# --------------------------------------------------------------------------------------------

# The setter turns a "$" followed by "{" (optionally with "\" between) into "%", so a stored
# value can never be expanded again (switch_core_set_variable does this; users can see it).
_DOLLAR_BRACE = re.compile(r"\$(?=\\?\{)")


class GlobalVars:
    """Global variables: names are case-insensitive, setting replaces."""

    def __init__(self) -> None:
        self._vars: dict[str, tuple[str, str]] = {}

    def get(self, name: str, default: str | None = None) -> str | None:
        item = self._vars.get(name.lower())
        return item[1] if item else default

    def __getitem__(self, name: str) -> str:
        item = self._vars.get(name.lower())
        if item is None:
            raise KeyError(name)
        return item[1]

    def __contains__(self, name: str) -> bool:
        return name.lower() in self._vars

    def set(self, name: str, value: str | None) -> None:
        """Set ``name``; ``None`` or "" deletes it, as FreeSWITCH does."""
        if not name:
            return
        if value is None or value == "":
            self._vars.pop(name.lower(), None)
            return
        self._vars[name.lower()] = (name, _DOLLAR_BRACE.sub("%", str(value)))

    def delete(self, name: str) -> None:
        self._vars.pop(name.lower(), None)

    def items(self) -> Iterator[tuple[str, str]]:
        return iter(list(self._vars.values()))

    def __len__(self) -> int:
        return len(self._vars)


# --------------------------------------------------------------------------------------------
# Pre-processor
# --------------------------------------------------------------------------------------------

_XPP = re.compile(r"X-PRE-PROCESS", re.IGNORECASE)
_CMD = re.compile(r'cmd\s*=\s*"([^"]*)"', re.IGNORECASE)
_DATA = re.compile(r'data\s*=\s*"([^"]*)"', re.IGNORECASE)
_DIRECTIVE = re.compile(r'<!--#\s*([\w-]+)\s+"([^"]*)"')
_GLOB_CHARS = re.compile(r"[*?\[]")
_MAX_DEPTH = 100
# Pre-processor bombs: includes that fan out (each file including the next twice) or set
# chains that double a variable (a=$${a}$${a}) grow exponentially without any XML entity.
# Real trees read a few hundred files and have short lines; these bounds refuse the bombs.
_MAX_FILES = 10_000
_MAX_LINE = 1 << 20  # characters in one line after $${} expansion
_MAX_DOCUMENT = 64 << 20  # characters in the whole pre-processed document


class Preprocessor:
    """Turns the root file and its includes into one document, remembering where lines came from.

    :param variables: the global variables (``set`` writes them, ``$${x}`` reads them).
    :param conf_dir: top-level includes are relative to it.
    """

    def __init__(self, variables: GlobalVars, conf_dir: str) -> None:
        self.vars = variables
        self.conf_dir = conf_dir
        self.lines: list[str] = []
        self.origin: list[tuple[str, int]] = []  # (file, line) of each output line
        self.files: list[str] = []
        self._size = 0
        self._reads = 0

    def run(self, root: str) -> str:
        self._file(os.path.abspath(root), [], None)
        return "\n".join(self.lines) + "\n"

    # -- helpers --------------------------------------------------------------------------------
    def expand_line(self, line: str, file: str, lineno: int) -> str:
        """Replace each ``$${name}`` by the global variable's current value ("" when unset)."""
        if "$${" not in line:
            return line
        out = []
        i = 0
        while True:
            j = line.find("$${", i)
            if j < 0:
                out.append(line[i:])
                break
            out.append(line[i:j])
            depth = 0
            k = j + 2
            end = -1
            while k < len(line):
                c = line[k]
                if c == "{":
                    depth += 1
                elif c == "}":
                    depth -= 1
                    if depth == 0:
                        end = k
                        break
                k += 1
            if end < 0:
                log.error("Error [unterminated ${var}] in file %s line %d", file, lineno)
                out.append(line[j:])
                break
            name = line[j + 3 : end]
            if "$${" in name:
                name = self.expand_line(name, file, lineno)
            out.append(self.vars.get(name.strip(), "") or "")
            i = end + 1
        text = "".join(out)
        if len(text) > _MAX_LINE:
            raise ConfigError(
                f"line is longer than {_MAX_LINE} characters after $${{}} expansion "
                "(a variable that keeps doubling?)", file, lineno)
        return text

    def _file(self, path: str, stack: list[str], where: tuple[str, int] | None) -> None:
        if path in stack:
            chain = " -> ".join(os.path.relpath(p, self.conf_dir) for p in [*stack, path])
            raise ConfigError(f"include cycle: {chain}", *(where or (path, None)))
        if len(stack) >= _MAX_DEPTH:
            raise ConfigError(f"includes nested deeper than {_MAX_DEPTH} levels", *(where or (path, None)))
        self._reads += 1
        if self._reads > _MAX_FILES:
            raise ConfigError(f"more than {_MAX_FILES} files included (includes that fan out?)",
                              *(where or (path, None)))
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise ConfigError(f"cannot read: {e.strerror}", *(where or (path, None))) from e
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            # name the line: the one-line error must say where to look
            raise ConfigError(f"not valid UTF-8 ({e.reason} at byte {e.start})", path,
                              data.count(b"\n", 0, e.start) + 1) from None
        self.files.append(path)
        stack = [*stack, path]
        skipping = False
        for lineno, raw in enumerate(text.splitlines(), 1):
            if skipping:
                if "-->" in raw:
                    skipping = False
                continue
            line = self.expand_line(raw, path, lineno)
            if "<include>" in line or "</include>" in line or "<?" in line:
                continue
            m = _XPP.search(line)
            if m:
                if m.start() > 0 and line[m.start() - 1] == "<":
                    cmd = _CMD.search(line)
                    data = _DATA.search(line)
                    self._command(
                        cmd.group(1) if cmd else "", data.group(1) if data else "", path, lineno, stack
                    )
                # a disabled form such as <XX-PRE-PROCESS ...> drops the line, like FreeSWITCH
                continue
            d = line.find("<!--#")
            if d >= 0:
                before = line[:d]
                if before.strip():
                    self._emit(before, path, lineno)
                dm = _DIRECTIVE.match(line, d)
                if dm and dm.group(1).lower() != "env-set":
                    self._command(dm.group(1), dm.group(2), path, lineno, stack)
                if "-->" not in line[d:]:
                    skipping = True
                continue
            self._emit(line, path, lineno)

    def _emit(self, line: str, path: str, lineno: int) -> None:
        # A value with a line break ($${x} from exec-set) must not shift the line numbers of
        # everything after it: each physical line gets an origin.
        parts = line.splitlines() if ("\n" in line or "\r" in line) else (line,)
        for part in parts:
            self._size += len(part) + 1
            if self._size > _MAX_DOCUMENT:
                raise ConfigError(
                    f"pre-processed configuration is larger than {_MAX_DOCUMENT >> 20} MB "
                    "(includes or variables that multiply?)", path, lineno)
            self.lines.append(part)
            self.origin.append((path, lineno))

    def _command(self, cmd: str, data: str, path: str, lineno: int, stack: list[str]) -> None:
        cmd = cmd.lower()
        if cmd == "include":
            self._include(data, path, lineno, stack)
        elif cmd in ("set", "exec-set", "stun-set", "env-set"):
            name, sep, value = data.partition("=")
            if not sep:
                return
            name = name.strip()
            if cmd == "set":
                self.vars.set(name, value.strip())
            elif cmd == "exec-set":
                out = self._shell(value.strip(), path, lineno)
                if out:
                    self.vars.set(name, out.rstrip(" \r\n"))
            elif cmd == "env-set":
                if value.startswith("$") and value[1:] in os.environ:
                    self.vars.set(name, os.environ[value[1:]])
            else:  # stun-set: no network traffic; the local address stands in for the STUN answer
                local = self.vars.get("local_ip_v4", "127.0.0.1")
                log.info(
                    "stun-set %s=%s in %s line %d: STUN is not queried; using local address %s",
                    name, value.strip(), path, lineno, local,
                )
                self.vars.set(name, local)
        elif cmd == "exec":
            out = self._shell(data, path, lineno)
            for extra in out.splitlines():
                self._emit(extra, path, lineno)
        # "comment" and unknown commands do nothing, as in FreeSWITCH

    def _include(self, pattern: str, path: str, lineno: int, stack: list[str]) -> None:
        if not pattern:
            return
        base = os.path.dirname(path) if stack[:-1] else self.conf_dir
        full = pattern if os.path.isabs(pattern) else os.path.join(base, pattern)
        matches = sorted(glob.glob(full))
        if not matches:
            if _GLOB_CHARS.search(pattern):
                log.info("No files to include at %s", full)
                return
            # A plain file name that does not exist is a mistake, not an empty glob: say so.
            raise ConfigError(f'include "{pattern}": no such file ({full})', path, lineno)
        for match in matches:
            if os.path.isdir(match):
                continue
            self._file(os.path.abspath(match), stack, (path, lineno))

    def _shell(self, command: str, path: str, lineno: int) -> str:
        try:
            proc = subprocess.run(
                command, shell=True, capture_output=True, text=True, timeout=30, check=False
            )
        except (OSError, subprocess.SubprocessError) as e:
            log.error("exec of [%s] in %s line %d failed: %s", command, path, lineno, e)
            return ""
        if proc.returncode != 0:
            log.error(
                "exec of [%s] in %s line %d exited with %d", command, path, lineno, proc.returncode
            )
        return proc.stdout


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------


class _LineParser(DefusedXMLParser):
    """defusedxml's parser, recording the document line of each element."""

    def __init__(self) -> None:
        super().__init__(forbid_dtd=False, forbid_entities=True, forbid_external=True)
        self.element_lines: dict[int, int] = {}
        # expat never fetches an external DTD, so defusedxml lets <!DOCTYPE x SYSTEM "url">
        # through silently; refuse it like any other external reference. (Not "_doctype":
        # the pure-Python XMLParser uses that attribute itself.)
        self.parser.StartDoctypeDeclHandler = self._refuse_external_dtd

    @staticmethod
    def _refuse_external_dtd(name, sysid, pubid, has_internal_subset):
        if sysid or pubid:
            raise defusedxml.ExternalReferenceForbidden(None, None, sysid, pubid)

    def _start(self, tag, attr_list):  # pure-Python XMLParser hook
        elem = super()._start(tag, attr_list)
        self.element_lines[id(elem)] = self.parser.CurrentLineNumber
        return elem


class XmlConfig:
    """The parsed configuration document.

    Sections and ``name`` attributes match case-insensitively, element names case-sensitively,
    and the first match wins, as in FreeSWITCH.
    """

    def __init__(
        self,
        root: Element,
        origin: list[tuple[str, int]],
        element_lines: dict[int, int],
        files: list[str],
        root_file: str,
    ) -> None:
        self.root = root
        self.files = files
        self.root_file = root_file
        self._origin = origin
        self._element_lines = element_lines

    def where(self, elem: Element) -> str:
        """``file:line`` an element came from (for error messages)."""
        n = self._element_lines.get(id(elem))
        if n is None or not (0 < n <= len(self._origin)):
            return self.root_file
        file, line = self._origin[n - 1]
        return f"{file}:{line}"

    def section(self, name: str) -> Element | None:
        name = name.lower()
        for sec in self.root.iter("section"):
            if (sec.get("name") or "").lower() == name:
                return sec
        return None

    def open_cfg(self, name: str) -> Element | None:
        """The first ``<configuration name="name">`` of the configuration section, or None."""
        sec = self.section("configuration")
        if sec is None:
            return None
        lname = name.lower()
        for cfg in sec.iter("configuration"):
            if (cfg.get("name") or "").lower() == lname:
                return cfg
        return None


def params(cfg: Element | None, section: str = "settings") -> list[tuple[str, str]]:
    """``(name, value)`` of each ``<param>`` under ``<section>`` of a configuration element."""
    if cfg is None:
        return []
    out = []
    for sec in cfg.findall(section):
        for p in sec.findall("param"):
            out.append((p.get("name") or "", p.get("value") or ""))
    return out


def find_root_file(conf_dir: str, cfgname: str | None = None) -> str | None:
    names = (cfgname,) if cfgname else ROOT_FILES
    for name in names:
        path = os.path.join(conf_dir, name)
        if os.path.isfile(path):
            return path
    return None


def load_xml(
    conf_dir: str,
    variables: GlobalVars,
    cfgname: str | None = None,
    log_dir: str | None = None,
) -> XmlConfig:
    """Pre-process and parse the configuration tree under ``conf_dir``.

    :raises ConfigError: with the file and line of the problem.
    """
    root_file = find_root_file(conf_dir, cfgname)
    if root_file is None:
        wanted = cfgname or " or ".join(ROOT_FILES)
        raise ConfigError(
            f"no {wanted} in {conf_dir}; copy the default tree there with `softswitch -copyconf {conf_dir}`"
        )
    pp = Preprocessor(variables, conf_dir)
    text = pp.run(root_file)
    if log_dir:
        _write_fsxml(log_dir, os.path.basename(root_file), text)
    parser = _LineParser()

    def at(n: int | None) -> tuple[str, int | None]:
        if n and 0 < n <= len(pp.origin):
            return pp.origin[n - 1]
        return root_file, None

    try:
        parser.feed(text)
        root = parser.close()
    except ParseError as e:
        line, _col = getattr(e, "position", (None, None))
        msg = str(e).split(": line")[0]
        raise ConfigError(f"XML error: {msg}", *at(line)) from None
    except defusedxml.EntitiesForbidden as e:
        raise ConfigError(
            f"XML entity declaration <!ENTITY {e.name}> is not allowed (entities can expand into "
            "a memory bomb or read local files); remove it",
            *at(parser.parser.CurrentLineNumber),
        ) from None
    except defusedxml.ExternalReferenceForbidden as e:
        raise ConfigError(
            f"external XML reference {e.sysid or e.pubid!r} is not allowed; use "
            'X-PRE-PROCESS cmd="include" instead',
            *at(parser.parser.CurrentLineNumber),
        ) from None
    except defusedxml.DefusedXmlException as e:
        raise ConfigError(f"forbidden XML construct: {e}", *at(parser.parser.CurrentLineNumber)) from None
    return XmlConfig(root, pp.origin, parser.element_lines, pp.files, root_file)


def _write_fsxml(log_dir: str, basename: str, text: str) -> None:
    """Keep the pre-processed document as ``<log_dir>/<root>.fsxml``, like FreeSWITCH."""
    path = os.path.join(log_dir, basename + ".fsxml")
    try:
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(path + ".tmp", path)
    except OSError as e:
        log.debug("could not write %s: %s", path, e)


# --------------------------------------------------------------------------------------------
# Run-time expansion: ${var}, $${global}, ${api arg}
# --------------------------------------------------------------------------------------------

_MAX_EXPAND = 100


def expand(
    text: str,
    variables: GlobalVars,
    lookup: Callable[[str], str | None] | None = None,
    api: Callable[[str, str], str] | None = None,
    api_expansion: bool = True,
    _depth: int = 0,
) -> str:
    """Expand ``${name}``, ``$${name}``, ``${name:off:len}``, ``${api arg}`` and ``\\$`` escapes.

    :param lookup: channel/event variables (case-insensitive), consulted before globals.
    :param api: runs an API for ``${api arg}`` / ``${api(arg)}``; its output replaces the call.
    """
    if "$" not in text or _depth > _MAX_EXPAND:
        return text
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and text[i + 1] == "$":
            out.append("$")
            i += 2
            continue
        if c != "$":
            out.append(c)
            i += 1
            continue
        glob_only = text.startswith("$${", i)
        start = i + 2 if glob_only else i + 1
        if start >= n or text[start] != "{":
            out.append(c)
            i += 1
            continue
        depth = 0
        k = start
        while k < n:
            if text[k] == "{":
                depth += 1
            elif text[k] == "}":
                depth -= 1
                if depth == 0:
                    break
            k += 1
        if k >= n:  # unterminated: keep the rest as it is
            out.append(text[i:])
            break
        inner = expand(text[start + 1 : k], variables, lookup, api, api_expansion, _depth + 1)
        out.append(_resolve(inner, glob_only, variables, lookup, api, api_expansion))
        i = k + 1
    return "".join(out)


_SUBSTR = re.compile(r"^([^:\[\]]+):(-?\d+)(?::(-?\d+))?$")
_INDEX = re.compile(r"^([^\[\]]+)\[(\d+)\]$")


def _resolve(inner, glob_only, variables, lookup, api, api_expansion) -> str:
    if glob_only:
        return variables.get(inner, "") or ""
    if " " in inner or ("(" in inner and inner.endswith(")")):
        if "(" in inner and inner.endswith(")") and inner.find("(") < (inner.find(" ") % (len(inner) + 1)):
            cmd, _, arg = inner[:-1].partition("(")
        else:
            cmd, _, arg = inner.partition(" ")
        if not api_expansion:
            return "<API execute Permission Denied>"
        return api(cmd.strip(), arg.strip()) if api else ""
    name, off, length = inner, None, None
    m = _SUBSTR.match(inner)
    if m:
        name, off = m.group(1), int(m.group(2))
        length = int(m.group(3)) if m.group(3) is not None else None
    index = None
    m = _INDEX.match(name)
    if m:
        name, index = m.group(1), int(m.group(2))
    value = lookup(name) if lookup else None
    if value is None:
        value = variables.get(name, "") or ""
    if index is not None:
        parts = value[7:].split("|:") if value.startswith("ARRAY::") else [value]
        value = parts[index] if index < len(parts) else ""
    if off is not None:
        if off < 0:
            off = max(len(value) + off, 0)
        value = value[off:] if length is None else (
            value[off : off + length] if length >= 0 else value[off : len(value) + length]
        )
    return value
