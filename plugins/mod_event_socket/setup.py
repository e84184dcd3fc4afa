"""The optional C extension ``mod_event_socket._speedups`` (everything else is in pyproject.toml).

``optional=True``: where it cannot be compiled (no C compiler, no Python headers) setuptools
prints a warning and the install goes on without it; ``framing.py`` and ``wire.py`` then use
their pure-Python code, which gives the same results, more slowly.
"""

from setuptools import Extension, setup

setup(ext_modules=[
    Extension("mod_event_socket._speedups", ["mod_event_socket/_speedups.c"], optional=True),
])
