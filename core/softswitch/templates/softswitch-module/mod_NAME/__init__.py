"""mod_NAME: answers the ``NAME`` API with a greeting.

Configuration, ``autoload_configs/NAME.conf.xml`` (optional)::

    <configuration name="NAME.conf">
      <settings>
        <param name="greeting" value="Hello"/>
      </settings>
    </configuration>
"""

from __future__ import annotations

import logging

import softswitch
from softswitch import EventType, params

log = logging.getLogger(__name__)


@softswitch.hookimpl
def module_load(module, core):
    """Read the configuration and add the API. Keep state on ``module.state``."""
    settings = dict(params(module.config("NAME.conf")))
    module.state.greeting = settings.get("greeting", "Hello")
    module.state.count = 0

    @module.add_api("NAME", "Greet someone (mod_NAME)", "[name]")
    def greet(cmd, session, stream):
        module.state.count += 1
        stream.write(f"{module.state.greeting}, {cmd or 'world'}!\n")

    # Event callbacks run in the dispatcher: keep them quick and never block.
    module.bind_event(EventType.HEARTBEAT, lambda event: log.debug("heartbeat #%s", event["Event-Sequence"]))
    log.info("mod_NAME ready (greeting %r)", module.state.greeting)


@softswitch.hookimpl
def module_shutdown(module):
    """Release resources; binds, tasks and greenlets from ``module`` are removed by the kernel."""
    log.info("mod_NAME greeted %d times", module.state.count)
