"""Copy the checkout without build artefacts (tox env ``nocc``).

setuptools builds in the source tree (``build/``) and reuses what it finds there, so an
extension compiled by another env would end up in a "no compiler" install. This copies the
sources to DEST, leaving out ``build/``, ``*.so``, ``*.egg-info``, caches and virtualenvs.

Usage: ``python tests/tools/clean_copy.py DEST``.
"""

from __future__ import annotations

import pathlib
import shutil
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
IGNORE = shutil.ignore_patterns("build", "dist", "*.so", "*.egg-info", "__pycache__", ".tox",
                                ".venv", "venv", ".git", ".hypothesis", "*.pyc")


def main(dest: str) -> int:
    target = pathlib.Path(dest)
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(ROOT, target, ignore=IGNORE)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
