"""The XML dialplan hunt (``mod_dialplan_xml.c``), as a function over a small channel view.

The hunt needs very little of a call: its variables, its caller-profile fields, ``${}``
expansion, a name for the log lines and a way to run an application inline. Those are the
:class:`ChannelView` protocol, so the whole engine can be tested without sessions, and the
module's glue (``mod_dialplan_xml/__init__.py``) adapts a live session to it.

Behaviour follows FreeSWITCH's ``parse_exten`` / ``dialplan_hunt`` line by line, quirks
included (spec dialplan-apps.md §1.2–1.8):

* one application list is shared by the whole hunt; actions added by a condition that passed
  stay even when a later condition fails;
* a failed condition with anti-actions makes the extension match;
* a passing ``field`` overrides a failed time check, and a passing time check keeps the actions
  of a condition whose field then failed;
* nested conditions run after their parent's actions; ``require-nested="false"`` on the parent
  forces a match;
* ``regex="all|any|xor"`` with ``<regex>`` children, ``DP_REGEX_MATCH_<n>`` arrays, ``$N`` from
  the last child with a group.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol
from xml.etree.ElementTree import Element

from .regex import match_groups, regex_perform, substitute
from .timematch import datetime_check

log = logging.getLogger(__name__)

__all__ = ["ChannelView", "Extension", "hunt", "parse_exten", "find_context", "MAX_RECUR"]

MAX_RECUR = 100
_RECUR_SPACE = 4


class ChannelView(Protocol):
    """What the hunt reads from and writes to a call."""

    #: the channel name the log lines show (``null/1000``)
    name: str

    def get_variable(self, name: str) -> str | None: ...

    def set_variable(self, name: str, value: str | None) -> None:
        """Set (``None``: delete) a channel variable."""

    def push_variable(self, name: str, value: str) -> None:
        """Append ``value`` to the array variable ``name`` (``ARRAY::a|:b``)."""

    def del_variable_prefix(self, prefix: str) -> None:
        """Delete every channel variable whose name starts with ``prefix``."""

    def caller_field(self, name: str) -> str | None:
        """A caller-profile field by name (``destination_number``), case-insensitive."""

    def expand(self, text: str) -> str:
        """``${}``-expand ``text`` against the channel."""

    def log(self, level: int, message: str) -> None:
        """Log a "clean" session line (message only) at a Python logging level."""


@dataclass
class Extension:
    """What a hunt found: ``switch_caller_extension_t``."""

    name: str
    number: str
    applications: list[tuple[str, str]] = field(default_factory=list)

    def add(self, app: str, data: str) -> None:
        self.applications.append((app, data))

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.applications)


#: runs an application during the hunt (``inline="true"``): ``exec_inline(app, data)``
InlineExec = Callable[[str, str], None]


def _true(value: str | None) -> bool:
    """``switch_true``."""
    if not value:
        return False
    v = value.strip().lower()
    if v in ("yes", "on", "true", "t", "enabled", "active", "allow"):
        return True
    return v.lstrip("+-").isdigit() and int(v) != 0


def _atoi(value: str | None) -> int:
    m = re.match(r"\s*[+-]?\d+", value or "")
    return int(m.group()) if m else 0


def _text_or(elem: Element, attr: str) -> str:
    """Element text wins over an attribute (``!zstr(x->txt) ? x->txt : attr``).

    Text that is only white space (an element written over several lines) counts as empty.
    """
    text = elem.text
    if text and text.strip():
        return text
    return elem.get(attr) or ""


def _tz(view: ChannelView) -> tuple[int | None, str | None]:
    off = view.get_variable("tod_tz_offset")
    offset = None
    if off and off.strip().lstrip("+-").isdigit():
        offset = int(off)
    return offset, view.get_variable("timezone") or None


def _field_data(view: ChannelView, fieldname: str) -> str:
    if "$" in fieldname:
        return view.expand(fieldname)
    value = view.caller_field(fieldname)
    return value if value is not None else ""


_BREAK = {"on-true": "on-true", "on-false": "on-false", "always": "always", "never": "never"}


def parse_exten(view: ChannelView, xexten: Element, ext: list[Extension | None], exten_name: str,
                destination: str, exec_inline: InlineExec, recur: int = 0,
                now: float | None = None) -> int:
    """One extension (or, when ``recur`` > 0, a condition's nested conditions).

    :param ext: a one-item list holding the hunt's shared :class:`Extension` (or None until the
        first action adds it).
    :returns: 1 when the extension matched, else 0.
    """
    proceed = 0
    req_nest = True
    orig_exten_name = exten_name or "_anon_"
    exten_name = orig_exten_name
    space = ""
    if recur:
        if recur > MAX_RECUR:
            view.log(logging.ERROR, "Recursion LIMIT!")
            return 0
        exten_name = f"{exten_name}_recur_{recur}"
        space = "|" + "-" * (recur * _RECUR_SPACE - 1) + " "
        req = xexten.get("require-nested")
        if req is not None:
            req_nest = _true(req)
        view.log(logging.DEBUG, f"{space}Dialplan: Processing recursive conditions level:{recur} "
                                f"[{exten_name}] require-nested={'TRUE' if req_nest else 'FALSE'}")
    else:
        exten_name = xexten.get("name") or exten_name
    chan = view.name

    for xcond in xexten.findall("condition"):
        offset, tzname = _tz(view)
        time_match = datetime_check(xcond.attrib, now, offset, tzname)
        fieldname = xcond.get("field")
        break_attr = xcond.get("break")
        do_break = _BREAK.get(break_attr.lower()) if break_attr is not None else None
        if do_break is None:
            break_attr = None
            do_break = "on-false"
        shown_break = break_attr if break_attr is not None else "on-false"
        anti_action = True
        match = None
        count = 0
        expression = None
        field_data = ""

        if time_match == 1:
            view.log(logging.DEBUG, f"{space}Dialplan: {chan} Date/Time Match (PASS) [{exten_name}] "
                                    f"break={shown_break}")
            anti_action = False
            proceed = 1
        elif time_match == 0:
            view.log(logging.DEBUG, f"{space}Dialplan: {chan} Date/TimeMatch (FAIL) [{exten_name}] "
                                    f"break={shown_break}")
            proceed = 0

        regex_rule = xcond.get("regex")
        if regex_rule is not None:
            all_ = regex_rule.lower() == "all"
            xor = regex_rule.lower() == "xor"
            mode = "all" if all_ else "any"
            passed = failed = total = 0
            saved = None
            broke = False
            expr = ""
            rfield = None
            view.del_variable_prefix("DP_REGEX_MATCH")
            for xregex in xcond.findall("regex"):
                offset, tzname = _tz(view)
                regex_time = datetime_check(xregex.attrib, now, offset, tzname)
                if regex_time == 1:
                    view.log(logging.DEBUG, f"{space}Dialplan: {chan} Date/Time Match (PASS) [{exten_name}]")
                elif regex_time == 0:
                    view.log(logging.DEBUG, f"{space}Dialplan: {chan} Date/TimeMatch (FAIL) [{exten_name}]")
                xexpr = xregex.find("expression")
                expr = (xexpr.text or "") if xexpr is not None else (xregex.get("expression") or "")
                expr = view.expand(expr)
                total += 1
                rfield = xregex.get("field")
                fieldname = rfield
                match = None
                if rfield is not None:
                    field_data = _field_data(view, rfield)
                    count, match = regex_perform(field_data, expr)
                    proceed = 1 if count else 0
                    verdict = "PASS" if count else "FAIL"
                    view.log(logging.DEBUG, f"{space}Dialplan: {chan} Regex ({verdict}) [{exten_name}] "
                                            f"{rfield}({field_data}) =~ /{expr}/ match={mode}")
                    if count:
                        passed += 1
                        if not all_ and not xor:
                            broke = True
                            break
                    else:
                        failed += 1
                        if all_ and not xor:
                            broke = True
                            break
                elif regex_time == -1:
                    view.log(logging.DEBUG, f"{space}Dialplan: {chan} Absolute Condition [{exten_name}] "
                                            f"match={mode}")
                    passed += 1
                    proceed = 1
                    if not all_ and not xor:
                        broke = True
                        break
                elif regex_time == 1:
                    passed += 1
                    proceed = 1
                    if not all_ and not xor:
                        broke = True
                        break
                else:
                    failed += 1
                    if all_:
                        broke = True
                        break
                if rfield is not None and "(" in expr:
                    var = f"DP_REGEX_MATCH_{total}"
                    view.set_variable(var, None)
                    for g in match_groups(match, count):
                        view.push_variable(var, g)
                    saved = (expr, field_data, match, count, proceed)
            if xor:
                if passed == 1:
                    anti_action = False
            elif (all_ and not failed) or (not all_ and passed):
                anti_action = False
            if saved is not None:
                expression, field_data, match, count, proceed = saved
                fieldname = field_data
            else:
                # FreeSWITCH frees each child's match at the end of its turn, except when the
                # loop broke out early: then the breaking child's groups serve ``$N``.
                expression = expr if total else None
                fieldname = rfield
                if not broke:
                    match, count = None, 0
        else:
            xexpr = xcond.find("expression")
            expression = (xexpr.text or "") if xexpr is not None else (xcond.get("expression") or "")
            expression = view.expand(expression)
            if fieldname is not None:
                field_data = _field_data(view, fieldname)
                count, match = regex_perform(field_data, expression)
                proceed = 1 if count else 0
                verdict = "PASS" if count else "FAIL"
                view.log(logging.DEBUG, f"{space}Dialplan: {chan} Regex ({verdict}) [{exten_name}] "
                                        f"{fieldname}({field_data}) =~ /{expression}/ break={shown_break}")
                if count:
                    anti_action = False
            elif time_match == -1:
                view.log(logging.DEBUG, f"{space}Dialplan: {chan} Absolute Condition [{exten_name}]")
                anti_action = False
                proceed = 1

        captures = fieldname is not None and expression is not None and "(" in expression
        if anti_action:
            for xaction in xcond.findall("anti-action"):
                app = xaction.get("application") or ""
                data = _text_or(xaction, "data")
                xinline = _true(xaction.get("inline"))
                if ext[0] is None:
                    ext[0] = Extension(exten_name, destination)
                loops = _atoi(xaction.get("loop")) if xaction.get("loop") is not None else 1
                for _ in range(loops):
                    view.log(logging.DEBUG, f"{space}Dialplan: {chan} ANTI-Action {app}({data}) "
                                            f"{'INLINE' if xinline else ''}")
                    if xinline:
                        exec_inline(app, data)
                    else:
                        ext[0].add(app, data)
                proceed = 1
        else:
            if captures:
                view.set_variable("DP_MATCH", None)
                for g in match_groups(match, count):
                    view.push_variable("DP_MATCH", g)
            for xaction in xcond.findall("action"):
                app = xaction.get("application") or ""
                data = _text_or(xaction, "data")
                xinline = _true(xaction.get("inline"))
                if captures:
                    # FreeSWITCH sizes the result buffer by ``proceed``: a condition whose time
                    # check passed but whose field failed substitutes into nothing.
                    app_data = substitute(match, data) if proceed else ""
                else:
                    app_data = data
                if ext[0] is None:
                    ext[0] = Extension(exten_name, destination)
                loops = _atoi(xaction.get("loop")) if xaction.get("loop") is not None else 1
                for _ in range(loops):
                    view.log(logging.DEBUG, f"{space}Dialplan: {chan} Action {app}({app_data}) "
                                            f"{'INLINE' if xinline else ''}")
                    if xinline:
                        exec_inline(app, app_data)
                    else:
                        ext[0].add(app, app_data)

        if ((not anti_action and do_break == "on-true") or (anti_action and do_break == "on-false")
                or do_break == "always"):
            break

        if proceed and xcond.find("condition") is not None:
            proceed = parse_exten(view, xcond, ext, orig_exten_name, destination, exec_inline,
                                  recur + 1, now)
            if not proceed:
                if do_break == "never":
                    continue
                break

    if not req_nest:
        proceed = 1
    return proceed


def find_context(cfg: Element, context: str) -> Element | None:
    """``<context name=…>`` (case-insensitive), else ``<context name="global">``."""
    lname = context.lower()
    for xcontext in cfg.findall("context"):
        if (xcontext.get("name") or "").lower() == lname:
            return xcontext
    for xcontext in cfg.findall("context"):
        if (xcontext.get("name") or "").lower() == "global":
            return xcontext
    return None


def hunt(view: ChannelView, cfg: Element, exec_inline: InlineExec, now: float | None = None
         ) -> Extension | None:
    """``dialplan_hunt`` from the context lookup on: the extension found, or None.

    :param cfg: the dialplan section (its ``<context>`` children).
    """
    context = view.caller_field("context") or "default"
    destination = view.caller_field("destination_number") or ""
    xcontext = find_context(cfg, context)
    if xcontext is None:
        view.log(logging.WARNING, f"Context {context} not found")
        return None
    extensions = xcontext.findall("extension")
    start = 0
    if _true(view.get_variable("auto_hunt")):
        for i, x in enumerate(extensions):
            if (x.get("name") or "").lower() == destination.lower():
                start = i
                break
    ext: list[Extension | None] = [None]
    for xexten in extensions[start:]:
        cont = xexten.get("continue")
        name = xexten.get("name") or "UNKNOWN"
        view.log(logging.DEBUG, f"Dialplan: {view.name} parsing [{context}->{name}] "
                                f"continue={cont if cont is not None else 'false'}")
        proceed = parse_exten(view, xexten, ext, name, destination, exec_inline, 0, now)
        if proceed and not _true(cont):
            break
    return ext[0]
