"""Helpers shared by the benchmarks: figures and targets (every script), and a real softswitch
process with a minimal blocking ESL client (bench/calls.py, bench/media.py).

Benchmarks are standalone scripts, not tests: each prints ONE JSON line (every figure, the
targets and pass/fail per target), then a short human summary.
"""

from __future__ import annotations

import json
import os
import pathlib
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

__all__ = ["median", "series", "Targets", "environment", "vm_status", "emit", "PASSWORD",
           "Client", "free_port", "Server", "channel_count", "wait_count"]


def median(values):
    """Median of the non-None values (None when there are none)."""
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _round(v: float | None, nd: int = 1):
    if v is None:
        return None
    return round(v, nd) if abs(v) < 1000 else round(v)


def series(values, nd: int = 1) -> dict:
    """``{"median", "min", "max", "runs"}`` for a list of per-run figures."""
    values = [v for v in values if v is not None]
    if not values:
        return {"median": None, "min": None, "max": None, "runs": []}
    return {"median": _round(statistics.median(values), nd), "min": _round(min(values), nd),
            "max": _round(max(values), nd), "runs": [_round(v, nd) for v in values]}


class Targets:
    """Targets of an issue and whether the measured medians meet them."""

    def __init__(self) -> None:
        self.items: dict[str, dict] = {}

    def check(self, name: str, value, op: str, limit, unit: str = "") -> bool | None:
        """Record ``value op limit`` (``op`` is ``">="`` or ``"<="``); None when not measured."""
        if value is None:
            ok = None
        elif op == ">=":
            ok = value >= limit
        elif op == "<=":
            ok = value <= limit
        else:  # pragma: no cover
            raise ValueError(op)
        self.items[name] = {"value": value, "target": f"{op} {limit}{(' ' + unit) if unit else ''}",
                            "pass": ok}
        return ok

    def as_dict(self) -> dict:
        return self.items

    @property
    def all_pass(self) -> bool:
        return all(t["pass"] for t in self.items.values())

    def lines(self) -> list[str]:
        out = []
        for name, t in self.items.items():
            verdict = {True: "pass", False: "MISS", None: "not measured"}[t["pass"]]
            out.append(f"  {verdict:5} {name}: {t['value']} (target {t['target']})")
        return out


def environment() -> dict:
    """What a reader needs to judge the figures: Python, cores, load average."""
    try:
        load = os.getloadavg()
    except OSError:  # pragma: no cover
        load = (None, None, None)
    return {"python": platform.python_version(), "implementation": platform.python_implementation(),
            "machine": platform.machine(), "cpus": os.cpu_count(),
            "loadavg_1m_at_start": load[0], "time": time.strftime("%Y-%m-%dT%H:%M:%S")}


def vm_status(pid: int | str = "self") -> dict[str, float]:
    """VmRSS / VmHWM of ``pid`` in MB (empty when the process is gone)."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for row in f:
                key, _, rest = row.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    out[key] = round(int(rest.split()[0]) / 1024, 1)
    except (OSError, ValueError):
        pass
    return out


def emit(report: dict, summary: list[str]) -> None:
    """The JSON line, then the human summary."""
    try:
        report.setdefault("env", {})["loadavg_1m_at_end"] = os.getloadavg()[0]
    except OSError:  # pragma: no cover
        pass
    sys.stdout.write(json.dumps(report, sort_keys=False) + "\n")
    sys.stdout.write("\n".join(summary) + "\n")
    sys.stdout.flush()



# ---------------------------------------------------------------------------------------------
# a softswitch process and a minimal ESL client (bench/calls.py, bench/media.py)
# ---------------------------------------------------------------------------------------------

PASSWORD = "ClueCon"


class Framed:
    """ESL messages read off a blocking socket: header block, then a Content-Length body."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def read_message(self) -> tuple[bytes, bytes]:
        while b"\n\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self.buf += chunk
        head, _, rest = self.buf.partition(b"\n\n")
        m = re.search(rb"Content-Length: (\d+)", head)
        n = int(m.group(1)) if m else 0
        while len(rest) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            rest += chunk
        self.buf = rest[n:]
        return head, rest[:n]


class Client(Framed):
    """A minimal blocking ESL client (stdlib socket; replies framed by Content-Length), cheap
    enough to run many of in worker processes."""

    def __init__(self, port: int, timeout: float = 60.0) -> None:
        super().__init__(socket.create_connection(("127.0.0.1", port), timeout=timeout))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.read_message()  # auth/request
        self.sock.sendall(f"auth {PASSWORD}\n\n".encode())
        head, _ = self.read_message()
        if b"+OK accepted" not in head:
            raise RuntimeError(f"auth refused: {head!r}")

    def api(self, cmd: str) -> str:
        self.sock.sendall(f"api {cmd}\n\n".encode())
        return self.read_message()[1].decode()

    def close(self) -> None:
        try:
            self.sock.sendall(b"exit\n\n")
        except OSError:
            pass
        self.sock.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``softswitch -nc -nf`` on the default conf (``softswitch -copyconf``) in a temporary
    directory, its Event Socket on a free port, with ``loads`` added to modules.conf (and the
    ``extra_loads`` XML lines), at ``loglevel`` (None: the conf's). Returns once it answers
    on the Event Socket."""

    def __init__(self, prefix: str, loads, loglevel: str | None = None, extra_loads: str = "",
                 stop_timeout: float = 30.0) -> None:
        self.root = pathlib.Path(tempfile.mkdtemp(prefix=prefix))
        self.port = free_port()
        self.stop_timeout = stop_timeout
        env = dict(os.environ, HOME=str(self.root))
        subprocess.run([sys.executable, "-m", "softswitch", "-copyconf", str(self.root / "conf")],
                       check=True, capture_output=True, env=env)
        conf = self.root / "conf"
        vars_xml = conf / "vars.xml"
        vars_xml.write_text(vars_xml.read_text().replace("event_socket_port=8021",
                                                         f"event_socket_port={self.port}"))
        mods = conf / "autoload_configs" / "modules.conf.xml"
        text = mods.read_text()
        extra = "".join(f'    <load module="{m}"/>\n' for m in loads if f'"{m}"' not in text)
        mods.write_text(text.replace("  </modules>", extra + extra_loads + "  </modules>", 1))
        if loglevel:
            sw = conf / "autoload_configs" / "switch.conf.xml"
            sw.write_text(re.sub(r'(name="loglevel" value=")[^"]*', rf"\g<1>{loglevel}", sw.read_text()))
        self.out = open(self.root / "stdout.txt", "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "softswitch", "-nc", "-nf", "-conf", str(conf),
             "-log", str(self.root / "log"), "-db", str(self.root / "db"), "-run", str(self.root / "run")],
            stdout=self.out, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 60
        while True:
            try:
                Client(self.port).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("softswitch did not start:\n"
                                       + (self.root / "stdout.txt").read_text()[-3000:]) from None
                time.sleep(0.1)  # polling the port until the process listens

    def cpu(self) -> float:
        """CPU seconds (user + system) of the server so far."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def schedstat(self) -> tuple[float, float]:
        """``(seconds on a CPU, seconds waiting in the run queue)`` of the server's main thread
        so far (``/proc/<pid>/schedstat``): on a shared machine, lateness that is not the
        server's."""
        try:
            with open(f"/proc/{self.proc.pid}/schedstat") as f:
                on, wait, _ = f.read().split()
            return int(on) / 1e9, int(wait) / 1e9
        except (OSError, ValueError):
            return 0.0, 0.0

    def runqueue_wait_s(self) -> float:
        return self.schedstat()[1]

    def rss_mb(self) -> float | None:
        return vm_status(self.proc.pid).get("VmRSS")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.out.close()


def channel_count(c: Client) -> int:
    out = c.api("show channels count")
    m = re.search(r"(\d+) total", out)
    if not m:
        raise RuntimeError(f"show channels count answered {out!r}")
    return int(m.group(1))


def wait_count(c: Client, n: int, timeout: float = 60.0, poll: float = 0.05) -> bool:
    """Wait until the server has ``n`` channels; False after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while channel_count(c) != n:
        if time.monotonic() > deadline:
            return False
        time.sleep(poll)
    return True
