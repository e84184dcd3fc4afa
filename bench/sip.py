"""mod_sofia under sipp (issue #19): calls/s, REGISTER/s, concurrent calls with RTP.

A real ``softswitch -nc -nf`` with mod_sofia (profile ``internal`` on a free port, auth-calls
off), the XML dialplan, dptools and tone_stream; sipp (Debian ``sip-tester``) on loopback:

* ``uac``: ``sipp -sn uac`` to an extension that answers and parks (sipp sends BYE at once),
  rate stepped up; the highest rate with < 1 % failed calls, and the server's CPU ms per call;
* ``register``: REGISTER with digest auth (401 then 200; tests/integration/sipp/register.xml),
  rate stepped up; the highest rate with 0 failures;
* ``rtp``: N concurrent ``uac_pcap`` calls (PCMA 20 ms plus an RFC 2833 digit, ~8 s each) to the
  echo extension: failed calls, server CPU % while they run, RSS per call.

FreeSWITCH 1.11 + mod_sofia on the same kind of machine (the issue's table): 250 calls/s,
≈ 380 REGISTER/s, 500 RTP calls at 111 % CPU and ≈ 350 KB per call. Targets: ≥ 250 calls/s,
≥ 570 REGISTER/s, 500 RTP calls with 0 failed, ≤ 111 % CPU, ≤ 100 KB per call.

    python bench/sip.py [--quick] [--loglevel info] [--rates 50,100,...] [--concurrent 500]
"""

from __future__ import annotations

import argparse
import os
import pathlib
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from _common import Targets, emit, environment, series, vm_status

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCEN = ROOT / "tests" / "integration" / "sipp"
TICK = os.sysconf("SC_CLK_TCK")

EXTENSIONS = r"""
    <extension name="bench_answer">
      <condition field="destination_number" expression="^bench$">
        <action application="answer"/>
        <action application="park"/>
      </condition>
    </extension>

  </context>"""


def free_port(kind=socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


class Server:
    def __init__(self, loglevel: str) -> None:
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="bench-sip-"))
        conf = self.dir / "conf"
        subprocess.run([sys.executable, "-m", "softswitch", "-copyconf", str(conf)], check=True,
                       capture_output=True)
        self.esl_port = free_port(socket.SOCK_STREAM)
        v = conf / "vars.xml"
        v.write_text(v.read_text().replace("event_socket_port=8021", f"event_socket_port={self.esl_port}")
                     .replace("internal_sip_port=5060", "internal_sip_port=0"))
        m = conf / "autoload_configs" / "modules.conf.xml"
        loads = "".join(f'    <load module="{x}"/>\n' for x in
                        ("mod_dptools", "mod_dialplan_xml", "mod_tone_stream", "mod_sofia"))
        m.write_text(m.read_text().replace("  </modules>", loads + "  </modules>"))
        s = conf / "autoload_configs" / "sofia.conf.xml"
        s.write_text(s.read_text().replace('name="auth-calls" value="true"', 'name="auth-calls" value="false"'))
        sw = conf / "autoload_configs" / "switch.conf.xml"
        text = sw.read_text()
        text = re.sub(r'name="loglevel" value="[a-z]+"', f'name="loglevel" value="{loglevel}"', text)
        text = re.sub(r'name="max-sessions" value="\d+"', 'name="max-sessions" value="5000"', text)
        text = re.sub(r'name="sessions-per-second" value="\d+"', 'name="sessions-per-second" value="2000"', text)
        sw.write_text(text)
        dp = conf / "dialplan" / "default.xml"
        dp.write_text(dp.read_text().replace("  </context>", EXTENSIONS, 1))
        self.log = self.dir / "log" / "softswitch.log"
        self.proc = subprocess.Popen([sys.executable, "-m", "softswitch", "-nc", "-nf", "-conf", str(conf),
                                      "-log", str(self.dir / "log"), "-db", str(self.dir / "db"),
                                      "-run", str(self.dir / "run")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        self.sip_port = 0
        while time.monotonic() < deadline:
            text = self.log.read_text(errors="replace") if self.log.exists() else ""
            m = re.search(r"profile internal listening on UDP 127\.0\.0\.1:(\d+)", text)
            if m and "Event Socket listening" in text:
                self.sip_port = int(m.group(1))
                break
            time.sleep(0.1)
        if not self.sip_port:
            raise SystemExit("softswitch did not start with mod_sofia: see " + str(self.log))
        self.work = self.dir / "sipp"
        self.work.mkdir()
        if pathlib.Path("/usr/share/sip-tester").is_dir():
            (self.work / "pcap").symlink_to("/usr/share/sip-tester")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def sipp(server: Server, args: list[str], timeout: float) -> tuple[int, int, str]:
    """Run sipp; ``(successful, failed, output)`` from its final statistics screen (its
    cumulative ``Call Rate`` is the rate achieved: sipp's ``-r`` is only what it aims at)."""
    cmd = ["sipp", *args, "-i", "127.0.0.1", "-p", str(free_port()), "-nostdin", "-timeout",
           f"{int(timeout)}s", "-max_recv_loops", "10000", "-max_sched_loops", "10000",
           f"127.0.0.1:{server.sip_port}"]
    r = subprocess.run(cmd, cwd=server.work, capture_output=True, text=True, timeout=timeout + 30)
    out = r.stdout
    ok = re.findall(r"Successful call\s+\|\s+\d+\s+\|\s+(\d+)", out)
    bad = re.findall(r"Failed call\s+\|\s+\d+\s+\|\s+(\d+)", out)
    return (int(ok[-1]) if ok else 0), (int(bad[-1]) if bad else 0), out


def step(server: Server, rates: list[int], seconds: float, args: list[str], max_fail: float):
    """Each rate for ``seconds``; the highest passing rate, and per-rate details."""
    best, rows = 0, []
    for rate in rates:
        n = max(1, int(rate * seconds))
        c0 = cpu_seconds(server.proc.pid)
        t0 = time.monotonic()
        ok, bad, out = sipp(server, [*args, "-r", str(rate), "-m", str(n), "-l", str(max(200, rate * 4))],
                          seconds * 4 + 20)
        wall = time.monotonic() - t0
        cpu = cpu_seconds(server.proc.pid) - c0
        total = ok + bad
        fail_pct = 100.0 * (n - ok) / n if n else 100.0
        achieved = re.findall(r"Call Rate\s+\|\s+[\d.]+ cps\s+\|\s+([\d.]+) cps", out)
        got = float(achieved[-1]) if achieved else ok / wall
        rows.append({"rate": rate, "achieved": round(got, 1), "calls": n, "ok": ok, "failed": bad,
                     "missing": n - total, "fail_pct": round(fail_pct, 2),
                     "cpu_ms_per_call": round(1000 * cpu / max(ok, 1), 2),
                     "server_cpu_pct": round(100 * cpu / wall, 1)})
        if fail_pct > max_fail:
            break
        best = max(best, got)
        if got < 0.9 * rate:
            break  # saturated: asking for more only queues
        time.sleep(1.0)  # let the parked/ended legs finish before the next step
    return best, rows


def rtp_run(server: Server, concurrent: int) -> dict:
    rss0 = vm_status(server.proc.pid).get("VmRSS")
    c0 = cpu_seconds(server.proc.pid)
    t0 = time.monotonic()
    cmd = ["sipp", "-sn", "uac_pcap", "-s", "9196", "-i", "127.0.0.1", "-p", str(free_port()), "-nostdin",
           "-m", str(concurrent), "-l", str(concurrent), "-r", str(min(concurrent, 100)), "-timeout", "120s",
           "-max_recv_loops", "10000", "-mp", str(free_port() & ~1), f"127.0.0.1:{server.sip_port}"]
    proc = subprocess.Popen(cmd, cwd=server.work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak_rss, peak_calls = rss0, 0
    while proc.poll() is None:
        time.sleep(0.5)
        rss = vm_status(server.proc.pid).get("VmRSS")
        if rss and rss > (peak_rss or 0):
            peak_rss = rss
    out, _ = proc.communicate()
    wall = time.monotonic() - t0
    cpu = cpu_seconds(server.proc.pid) - c0
    ok = re.findall(r"Successful call\s+\|\s+\d+\s+\|\s+(\d+)", out)
    bad = re.findall(r"Failed call\s+\|\s+\d+\s+\|\s+(\d+)", out)
    peak_calls = concurrent
    return {"calls": concurrent, "ok": int(ok[-1]) if ok else 0, "failed": int(bad[-1]) if bad else 0,
            "server_cpu_pct": round(100 * cpu / wall, 1), "rss_start_mb": rss0, "rss_peak_mb": peak_rss,
            "kb_per_call": round(1024 * ((peak_rss or 0) - (rss0 or 0)) / peak_calls, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--loglevel", default="info")
    ap.add_argument("--rates", default="")
    ap.add_argument("--reg-rates", default="")
    ap.add_argument("--seconds", type=float, default=0)
    ap.add_argument("--concurrent", type=int, default=0)
    ap.add_argument("--runs", type=int, default=0)
    ap.add_argument("--skip-rtp", action="store_true")
    a = ap.parse_args()
    if shutil.which("sipp") is None:
        raise SystemExit("sipp is not installed: apt-get install sip-tester")
    seconds = a.seconds or (3 if a.quick else 6)
    rates = [int(x) for x in a.rates.split(",")] if a.rates else \
        ([25, 50, 100, 150, 200] if a.quick else [25, 50, 100, 150, 200, 250, 300, 400, 500])
    reg_rates = [int(x) for x in a.reg_rates.split(",")] if a.reg_rates else \
        ([50, 100, 200, 300] if a.quick else [50, 100, 200, 300, 400, 500, 600, 800])
    concurrent = a.concurrent or (50 if a.quick else 500)
    runs = a.runs or (1 if a.quick else 3)
    report = {"bench": "sip", "env": environment(), "loglevel": a.loglevel, "seconds_per_step": seconds}
    uac_best, reg_best, uac_rows, reg_rows, cpu_per_call, rtp = [], [], [], [], [], []
    for _ in range(runs):
        server = Server(a.loglevel)
        try:
            best, rows = step(server, rates, seconds, ["-sn", "uac", "-s", "bench", "-d", "0"], 1.0)
            uac_best.append(best)
            uac_rows.append(rows)
            cpu_per_call.extend(r["cpu_ms_per_call"] for r in rows if r["achieved"] == round(best, 1))
            best, rows = step(server, reg_rates, seconds,
                              ["-sf", str(SCEN / "register.xml"), "-s", "1000", "-au", "1000", "-ap", "1234",
                               "-key", "expires", "3600"], 0.0)
            reg_best.append(best)
            reg_rows.append(rows)
        finally:
            server.stop()
        if not a.skip_rtp:
            server = Server(a.loglevel)   # a fresh server: RSS per call not hidden by earlier runs
            try:
                rtp.append(rtp_run(server, concurrent))
            finally:
                server.stop()
    report["uac_calls_per_s"] = series(uac_best)
    report["uac_cpu_ms_per_call_at_best"] = series(cpu_per_call, 2)
    report["register_per_s"] = series(reg_best)
    report["uac_steps"] = uac_rows
    report["register_steps"] = reg_rows
    report["rtp"] = rtp
    t = Targets()
    t.check("uac calls/s with < 1 % failed", report["uac_calls_per_s"]["median"], ">=", 250, "calls/s")
    t.check("REGISTER/s with 0 failures", report["register_per_s"]["median"], ">=", 570, "/s")
    if rtp:
        t.check(f"{concurrent} RTP calls: failed", max(r["failed"] + (r["calls"] - r["ok"] - r["failed"]) for r in rtp),
                "<=", 0)
        t.check(f"{concurrent} RTP calls: server CPU %", series([r["server_cpu_pct"] for r in rtp])["median"], "<=", 111, "%")
        t.check(f"{concurrent} RTP calls: KB per call", series([r["kb_per_call"] for r in rtp])["median"], "<=", 100, "KB")
    report["targets"] = t.as_dict()
    summary = [f"sip bench ({runs} run(s), {seconds:g} s per step, loglevel {a.loglevel}):",
               f"  uac: {report['uac_calls_per_s']} calls/s (< 1 % failed); CPU ms/call at that rate "
               f"{report['uac_cpu_ms_per_call_at_best']}",
               f"  REGISTER (digest): {report['register_per_s']} /s with 0 failures"]
    for r in rtp:
        summary.append(f"  rtp: {r}")
    summary += t.lines()
    emit(report, summary)


if __name__ == "__main__":
    main()
