"""The kernel's build: its optional C extensions, and the default configuration tree.

Everything else is in pyproject.toml. Each extension is ``optional=True``: where it cannot be
compiled (no C compiler, no Python headers) setuptools prints a warning and the install goes
on without it; the kernel then runs the pure-Python code of that fast path (the same results,
more slowly; ``SOFTSWITCH_PURE_PYTHON=1`` forces it even when built, see softswitch.accel).
"""

import os
import shutil

from setuptools import Extension, setup
from setuptools.command.build_py import build_py

#: One line per kernel extension (keep the list easy to merge).
EXTENSIONS = [
    Extension("softswitch._wire", ["core/softswitch/_wire.c"], optional=True),
]

HERE = os.path.dirname(os.path.abspath(__file__))


class BuildPyWithConf(build_py):
    """Ship the default configuration tree (conf/ at the repository root, as in a FreeSWITCH
    source tree) inside the installed kernel as softswitch/conf, so that a plain
    ``pip install softswitch && softswitch`` runs with no flags."""

    def run(self):
        super().run()
        src = os.path.join(HERE, "conf")
        if os.path.isdir(src):
            dst = os.path.join(self.build_lib, "softswitch", "conf")
            shutil.rmtree(dst, ignore_errors=True)
            shutil.copytree(src, dst)


setup(ext_modules=EXTENSIONS, cmdclass={"build_py": BuildPyWithConf})
