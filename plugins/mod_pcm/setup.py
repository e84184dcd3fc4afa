"""The optional C extension ``mod_pcm._g711`` (everything else is in pyproject.toml).

``optional=True``: where it cannot be compiled (no C compiler, no Python headers) setuptools
prints a warning and the install goes on without it; ``mod_pcm.g711`` then uses its numpy
code paths, bit-exact and slower.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("mod_pcm._g711", ["mod_pcm/_g711.c"], optional=True)])
