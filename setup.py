"""The kernel's optional C extensions (everything else is in pyproject.toml).

``optional=True``: where one cannot be compiled (no C compiler, no Python headers) setuptools
prints a warning and the install goes on without it; the kernel then runs the Python code of
that hot path (see softswitch.accel; ``SOFTSWITCH_PURE_PYTHON=1`` forces it even when built). One line per extension: add yours to the list.
"""

from setuptools import Extension, setup

EXTENSIONS = [
    # timer pacing (softswitch.pacing): timer.next and a tick's delivery
    Extension("softswitch._pacing", ["core/softswitch/_pacing.c"], optional=True),
    # event wire serialization (softswitch.event): plain events
    Extension("softswitch._wire", ["core/softswitch/_wire.c"], optional=True),
]

setup(ext_modules=EXTENSIONS)
