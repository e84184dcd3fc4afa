"""Run each plugin's tests against the oldest kernel it claims to support (tox env ``oldest``).

For every ``plugins/*/pyproject.toml`` (found by walking the directory: new plugins are covered),
read the lower bound of its ``softswitch>=X,<Y`` requirement. When that bound is older than the
kernel in this checkout, export that kernel release from git (``KERNEL_RELEASES`` below maps a
release to its commit), install it and the plugin into the running environment, and run the
plugin's tests. A plugin whose floor is this checkout's kernel is tested by its own tox env.

Usage: ``python tests/tools/oldest_kernel.py [plugin ...]`` (from tox; pip installs into the
running interpreter's environment).
"""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys
import tarfile
import tempfile
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[2]

#: Kernel releases: version -> the commit it was cut from. Add a line per release.
KERNEL_RELEASES = {
    "0.1": "665fc69",
}


def current_kernel() -> str:
    text = (ROOT / "core" / "softswitch" / "_version.py").read_text()
    return re.search(r'__version__ = "([^"]+)"', text).group(1)


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def floor_of(pyproject: pathlib.Path) -> str | None:
    deps = tomllib.loads(pyproject.read_text())["project"].get("dependencies", [])
    for dep in deps:
        m = re.match(r"softswitch\s*([^;]*)", dep)
        if m and not dep.startswith("softswitch-"):
            low = re.search(r">=\s*([0-9][0-9.]*)", m.group(1))
            return low.group(1) if low else None
    return None


def pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--force-reinstall", *args], check=True)


def main(argv: list[str]) -> int:
    current = _key(current_kernel())[:2]  # releases are major.minor
    failed = []
    for pyproject in sorted(ROOT.glob("plugins/*/pyproject.toml")):
        plugin = pyproject.parent
        if argv and plugin.name not in argv:
            continue
        floor = floor_of(pyproject)
        if floor is None:
            print(f"{plugin.name}: declares no softswitch>=X: say which kernel it needs")
            failed.append(plugin.name)
            continue
        if _key(floor)[:2] >= current:
            print(f"{plugin.name}: oldest kernel {floor} is this checkout's; its own env tests it")
            continue
        release = ".".join(floor.split(".")[:2])
        commit = KERNEL_RELEASES.get(release)
        if commit is None:
            print(f"{plugin.name}: claims softswitch>={floor}, a release not in KERNEL_RELEASES")
            failed.append(plugin.name)
            continue
        with tempfile.TemporaryDirectory() as tmp:
            archive = pathlib.Path(tmp) / "kernel.tar"
            with archive.open("wb") as f:
                subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", commit],
                               stdout=f, check=True)
            src = pathlib.Path(tmp) / "kernel"
            with tarfile.open(archive) as tar:
                tar.extractall(src, filter="data")
            print(f"{plugin.name}: tests against kernel {floor} ({commit})", flush=True)
            pip(str(src), str(plugin))
            rc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                 str(plugin / "tests")], cwd=str(plugin)).returncode
        if rc:
            failed.append(plugin.name)
    # leave the environment with this checkout's kernel
    pip(str(ROOT))
    if failed:
        print("failed against their oldest kernel: " + ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
