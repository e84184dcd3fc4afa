"""The optional C extension ``mod_softtimer._fastpath`` (everything else is in pyproject.toml).

``optional=True``: where it cannot be compiled (no C compiler, no Python headers) setuptools
prints a warning and the install goes on without it; ``mod_softtimer.engine`` then runs its
Python code, with the same semantics, at about twice the CPU per timer.
"""

from setuptools import Extension, setup

setup(ext_modules=[
    Extension("mod_softtimer._fastpath", ["mod_softtimer/_fastpath.c"], optional=True),
])
