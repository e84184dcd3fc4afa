"""The ``softswitch`` command: flags, directories, the pid file, signals, -stop, daemonizing.

Everything that is a process's behaviour is tested on a real process (see conftest.py).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from softswitch import cli
from softswitch.cli import Options, PidFile, UsageError, parse_args
from softswitch.dirs import DEFAULT_CONF, SUBDIRS, Directories, user_conf_dir

# ----------------------------------------------------------------------------------------------
# parse_args
# ----------------------------------------------------------------------------------------------

DIR_FLAGS = {
    "-conf": "conf_dir", "-log": "log_dir", "-run": "run_dir", "-db": "db_dir",
    "-mod": "mod_dir", "-htdocs": "htdocs_dir", "-scripts": "script_dir", "-temp": "temp_dir",
    "-grammar": "grammar_dir", "-certs": "certs_dir", "-recordings": "recordings_dir",
    "-storage": "storage_dir", "-cache": "cache_dir", "-sounds": "sounds_dir",
}
BOOL_FLAGS = ["-nc", "-ncwait", "-nf", "-c", "-stop", "-nonat", "-nonatmap", "-nosql", "-nocal",
              "-nort", "-version", "-help", "-h", "-?", "-rp", "-hp", "-lp", "-np", "-vg",
              "-core", "-heavy-timer", "-reincarnate", "-reincarnate-reexec", "-elegant-term",
              "-waste", "-no-auto-stack"]


@pytest.mark.parametrize("flag,attr", sorted(DIR_FLAGS.items()))
def test_dir_flags(flag, attr):
    opts = parse_args([flag, "/some/where", "-nf"])
    assert opts.dirs == {attr: "/some/where"} and opts.flags == {"-nf"}


def test_base_and_cfgname():
    opts = parse_args(["-base", "/b", "-cfgname", "freeswitch.xml"])
    assert opts.base == "/b" and opts.cfgname == "freeswitch.xml" and opts.dirs == {}


@pytest.mark.parametrize("flag", BOOL_FLAGS)
def test_bool_flags(flag):
    assert parse_args([flag]).has(flag)


def test_flags_any_order_and_combined():
    opts = parse_args(["-nf", "-conf", "c", "-nc", "-log", "l", "-nonat", "-db", "d", "-run", "r"])
    assert opts.flags == {"-nf", "-nc", "-nonat"}
    assert opts.dirs == {"conf_dir": "c", "log_dir": "l", "db_dir": "d", "run_dir": "r"}


@pytest.mark.parametrize("argv,console", [
    ([], None), (["-nf"], None), (["-c"], True), (["-nc"], False), (["-ncwait"], False),
    (["-nc", "-c"], True), (["-c", "-ncwait"], True)])
def test_console_choice(argv, console):
    opts = parse_args(argv)
    assert opts.console is console
    if console:
        assert not opts.flags & {"-nc", "-ncwait"}  # -c cancels -nc


@pytest.mark.parametrize("bad", ["-bogus", "--help", "-NC", "nc", "-conf=x", "-"])
def test_unknown_option(bad, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["/usr/bin/softswitch"])
    with pytest.raises(UsageError) as ei:
        parse_args(["-nf", bad])
    assert ei.value.code == 1
    assert str(ei.value) == (f"Unknown option '{bad}', see 'softswitch -help' for a list of "
                             "valid options")


def test_unknown_option_names_program_under_python_m(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["/x/site-packages/softswitch/__main__.py"])
    with pytest.raises(UsageError, match="see 'softswitch -help'"):
        parse_args(["-x"])


@pytest.mark.parametrize("argv,flag", [
    (["-conf"], "-conf"), (["-log", "-nf"], "-log"), (["-db", "-c"], "-db"),
    (["-run"], "-run"), (["-base", "-nc"], "-base"), (["-sounds"], "-sounds"),
])
def test_missing_directory(argv, flag):
    with pytest.raises(UsageError) as ei:
        parse_args(argv)
    assert ei.value.code == 255
    assert str(ei.value) == f"When using {flag} you must specify a directory"


def test_missing_cfgname():
    with pytest.raises(UsageError, match="When using -cfgname you must specify a file name") as ei:
        parse_args(["-cfgname"])
    assert ei.value.code == 255


@pytest.mark.parametrize("flag", ["-u", "-g"])
def test_user_group(flag):
    with pytest.raises(UsageError) as ei:
        parse_args([flag])
    assert ei.value.code == 1 and str(ei.value) == f"Option '{flag}' requires an argument!"
    with pytest.raises(UsageError) as ei:
        parse_args([flag, "nobody"])
    assert ei.value.code == 1 and "not supported" in str(ei.value)


def test_copyconf_parse():
    assert parse_args(["-copyconf"]).copyconf == ""
    assert parse_args(["-copyconf", "-nf"]).copyconf == ""
    assert parse_args(["-copyconf", "/x"]).copyconf == "/x"
    assert parse_args([]).copyconf is None


def test_options_defaults():
    o = Options()
    assert o.flags == set() and o.dirs == {} and o.base is None and o.console is None


# ----------------------------------------------------------------------------------------------
# Directories
# ----------------------------------------------------------------------------------------------


def _env(tmp_path, runtime=True):
    env = {"HOME": str(tmp_path / "h"), "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
           "XDG_STATE_HOME": str(tmp_path / "state"), "XDG_DATA_HOME": str(tmp_path / "data")}
    if runtime:
        env["XDG_RUNTIME_DIR"] = str(tmp_path / "rt")
    return env


def test_dirs_from_base(tmp_path):
    d = Directories.resolve({}, str(tmp_path / "b"), env=_env(tmp_path))
    b = str(tmp_path / "b")
    for attr, sub in SUBDIRS.items():
        if attr != "conf_dir":
            assert getattr(d, attr) == os.path.join(b, sub), attr
    assert d.certs_dir.endswith("/cert") and d.script_dir.endswith("/scripts")
    assert d.data_dir == d.localstate_dir == d.base_dir == b
    assert not d.temp_dir.startswith(b)
    # no <base>/conf tree: the shipped one
    assert d.conf_dir == DEFAULT_CONF and d.conf_is_default and not d.conf_is_explicit


def test_dirs_base_conf_used_when_it_has_a_root(tmp_path, kt):
    kt.small_conf(tmp_path / "b" / "conf")
    d = Directories.resolve({}, str(tmp_path / "b"), env=_env(tmp_path),
                            root_files=("softswitch.xml", "freeswitch.xml"))
    assert d.conf_dir == str(tmp_path / "b" / "conf") and not d.conf_is_default


def test_dirs_per_user_defaults(tmp_path):
    d = Directories.resolve({}, None, env=_env(tmp_path), root_files=("softswitch.xml",))
    assert d.base_dir == str(tmp_path / "data" / "softswitch")
    assert d.log_dir == str(tmp_path / "state" / "softswitch" / "log")
    assert d.db_dir == str(tmp_path / "state" / "softswitch" / "db")
    assert d.run_dir == str(tmp_path / "rt" / "softswitch")
    assert d.mod_dir == str(tmp_path / "data" / "softswitch" / "mod")
    assert d.conf_dir == DEFAULT_CONF and d.conf_is_default
    d2 = Directories.resolve({}, None, env=_env(tmp_path, runtime=False))
    assert d2.run_dir == str(tmp_path / "state" / "softswitch" / "run")


def test_dirs_per_user_defaults_without_xdg(tmp_path):
    d = Directories.resolve({}, None, env={"HOME": str(tmp_path)})
    assert d.log_dir == str(tmp_path / ".local" / "state" / "softswitch" / "log")
    assert d.base_dir == str(tmp_path / ".local" / "share" / "softswitch")
    assert user_conf_dir({"HOME": str(tmp_path)}) == str(tmp_path / ".config" / "softswitch")


@pytest.mark.parametrize("root", ["softswitch.xml", "freeswitch.xml"])
def test_dirs_user_conf_dir_used_when_it_has_a_root(tmp_path, root):
    conf = tmp_path / "cfg" / "softswitch"
    conf.mkdir(parents=True)
    (conf / root).write_text("<document/>")
    d = Directories.resolve({}, None, env=_env(tmp_path),
                            root_files=("softswitch.xml", "freeswitch.xml"))
    assert d.conf_dir == str(conf) and not d.conf_is_default


def test_dirs_explicit_flags_win_and_are_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    d = Directories.resolve({"conf_dir": "c", "db_dir": "~/db", "run_dir": "r"},
                            str(tmp_path / "b"), env=_env(tmp_path))
    assert d.conf_dir == str(tmp_path / "c") and d.conf_is_explicit and not d.conf_is_default
    assert d.db_dir == os.path.expanduser("~/db")
    assert d.run_dir == str(tmp_path / "r")
    assert d.log_dir == str(tmp_path / "b" / "log")


@pytest.mark.parametrize("base", [None, "b"])
def test_dirs_log_without_run_puts_pid_file_in_log_dir(tmp_path, base):
    d = Directories.resolve({"log_dir": str(tmp_path / "l")}, base and str(tmp_path / base),
                            env=_env(tmp_path))
    assert d.run_dir == str(tmp_path / "l")
    d = Directories.resolve({"log_dir": str(tmp_path / "l"), "run_dir": str(tmp_path / "r")},
                            base, env=_env(tmp_path))
    assert d.run_dir == str(tmp_path / "r")


def test_dirs_as_variables_and_ensure(tmp_path):
    d = Directories.resolve({}, str(tmp_path / "b"), env=_env(tmp_path))
    names = [n for n, _ in d.as_variables()]
    for n in ("base_dir", "conf_dir", "log_dir", "run_dir", "db_dir", "mod_dir", "sound_prefix",
              "temp_dir", "certs_dir", "storage_dir", "cache_dir", "data_dir", "localstate_dir"):
        assert n in names
    d.ensure()
    for p in (d.base_dir, d.log_dir, d.run_dir, d.db_dir):
        assert os.path.isdir(p)
    assert ("conf_dir", d.conf_dir) in d.describe()


# ----------------------------------------------------------------------------------------------
# pid file (in-process units)
# ----------------------------------------------------------------------------------------------


def test_pid_file_lock(tmp_path):
    a = PidFile(str(tmp_path / "run"))
    a.acquire()
    assert PidFile.read(a.path) == os.getpid()
    b = PidFile(str(tmp_path / "run"))
    with pytest.raises(UsageError) as ei:
        b.check_free()
    assert ei.value.code == 255 and f"pid {os.getpid()}" in str(ei.value)
    a.release()
    assert not os.path.exists(a.path)
    b.check_free()  # free again
    a.release()  # idempotent


def test_pid_file_read_garbage(tmp_path):
    p = tmp_path / "x.pid"
    p.write_text("not a pid")
    assert PidFile.read(str(p)) is None
    assert PidFile.read(str(tmp_path / "missing")) is None


# ----------------------------------------------------------------------------------------------
# real processes: help, version, usage errors
# ----------------------------------------------------------------------------------------------


def test_help(kernels):
    for flag in ("-help", "-h", "-?"):
        r = kernels.run(flag)
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("Usage: softswitch [OPTIONS]")
    for word in ("-nc", "-nf", "-c ", "-conf", "-log", "-db", "-run", "-base", "-nonat", "-stop",
                 "-version", "-help", "-copyconf", "~/.config/softswitch"):
        assert word in r.stdout, word


def test_version(kernels):
    r = kernels.run("-version")
    assert r.returncode == 0, r.stderr
    assert re.fullmatch(r"softswitch version: \d+\.\d+\.\d+-softswitch-\S+ \(softswitch .*\)\n",
                        r.stdout), r.stdout
    assert r.stderr == ""


def test_unknown_flag_exit_1(kernels, kt):
    r = kernels.run("-nc", "-nf", "-frobnicate")
    assert r.returncode == 1
    assert kt.one_line(r.stderr) == ("Unknown option '-frobnicate', see 'softswitch -help' "
                                     "for a list of valid options")
    assert r.stdout == ""


def test_missing_value_exit_255(kernels, kt):
    r = kernels.run("-nc", "-nf", "-conf")
    assert r.returncode == 255
    assert kt.one_line(r.stderr) == "When using -conf you must specify a directory"


def test_options_from_environment(kernels, kt):
    env = kt.user_env(kernels.tmp_path, {"SOFTSWITCH_OPTS": "-version"})
    r = kernels.run(env=env)
    assert r.returncode == 0 and r.stdout.startswith("softswitch version:")


# ----------------------------------------------------------------------------------------------
# real processes: run, pid file, signals
# ----------------------------------------------------------------------------------------------


def test_start_pid_file_sigterm(tmp_path, kernels, kt):
    conf = kt.small_conf(tmp_path / "conf")
    root = tmp_path / "k"
    k = kernels.start("-nonat", *kernels.dirs(root, conf))
    k.wait_ready()
    pid_file = root / "run" / "softswitch.pid"
    assert pid_file.read_text() == f"{k.pid}\n"
    assert (root / "log" / "softswitch.log").exists()
    assert (root / "db").is_dir()
    k.terminate_and_check()
    assert not pid_file.exists()
    assert "Shutting down (SIGTERM)" in k.stdout and "softswitch stopped" in k.stdout
    assert "Traceback" not in k.stdout + k.stderr
    assert k.stderr == "", k.describe()


def test_sigint_graceful(tmp_path, kernels, kt):
    conf = kt.small_conf(tmp_path / "conf")
    k = kernels.start(*kernels.dirs(tmp_path / "k", conf))
    k.wait_ready()
    k.signal(signal.SIGINT)
    assert k.wait_exit() == 0, k.describe()
    assert "Shutting down (SIGINT)" in k.stdout
    assert not (tmp_path / "k" / "run" / "softswitch.pid").exists()
    assert "Traceback" not in k.stdout + k.stderr


def test_stop(tmp_path, kernels, kt):
    conf = kt.small_conf(tmp_path / "conf")
    dirs = kernels.dirs(tmp_path / "k", conf)
    k = kernels.start(*dirs)
    k.wait_ready()
    r = kernels.run("-stop", *dirs)
    assert r.returncode == 0, r.stderr
    assert kt.one_line(r.stderr) == f"Killing: {k.pid}"
    assert k.wait_exit() == 0, k.describe()
    assert not (tmp_path / "k" / "run" / "softswitch.pid").exists()


def test_stop_with_base(tmp_path, kernels, kt):
    base = tmp_path / "base"
    kt.small_conf(base / "conf")
    kernels.watch_pid_file(base / "run" / "softswitch.pid")
    k = kernels.start("-base", str(base))
    k.wait_ready()
    r = kernels.run("-base", str(base), "-stop")
    assert r.returncode == 0 and f"Killing: {k.pid}" in r.stderr
    assert k.wait_exit() == 0


def test_stop_nothing_running(tmp_path, kernels, kt):
    r = kernels.run("-stop", "-run", str(tmp_path / "nothing"))
    assert r.returncode == 255
    line = kt.one_line(r.stderr)
    assert "Cannot open pid file" in line and str(tmp_path / "nothing") in line


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_stop_stale_pid_file(tmp_path, kernels, kt):
    run = tmp_path / "run"
    run.mkdir()
    dead = _dead_pid()
    (run / "softswitch.pid").write_text(f"{dead}\n")
    r = kernels.run("-stop", "-run", str(run))
    assert r.returncode == 255
    line = kt.one_line(r.stderr)
    assert line.startswith(f"Stale pid file {run / 'softswitch.pid'} (pid {dead})")
    assert not (run / "softswitch.pid").exists()


def test_stop_never_signals_a_reused_pid(tmp_path, kernels, kt):
    """A stale pid file naming a live, unrelated process (pid reuse): -stop must not kill it."""
    run = tmp_path / "run"
    run.mkdir()
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (run / "softswitch.pid").write_text(f"{bystander.pid}\n")
        r = kernels.run("-stop", "-run", str(run))
        assert r.returncode == 255 and "Stale pid file" in r.stderr
        assert "Killing" not in r.stderr
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


def test_second_instance_refused(tmp_path, kernels, kt):
    conf = kt.small_conf(tmp_path / "conf")
    dirs = kernels.dirs(tmp_path / "k", conf)
    first = kernels.start(*dirs)
    first.wait_ready()
    # same run dir, everything else different
    other = ["-conf", str(conf), "-log", str(tmp_path / "o" / "log"), "-db",
             str(tmp_path / "o" / "db"), "-run", str(tmp_path / "k" / "run")]
    r = kernels.run("-nc", "-nf", *other)
    assert r.returncode == 255, r.stdout + r.stderr
    line = kt.one_line(r.stderr)
    pid_file = tmp_path / "k" / "run" / "softswitch.pid"
    assert line.startswith(f"Cannot lock pid file {pid_file}")
    assert f"pid {first.pid}" in line and "-stop" in line
    assert first.proc.poll() is None
    assert pid_file.read_text() == f"{first.pid}\n"  # untouched
    first.terminate_and_check()


def test_stale_pid_file_is_replaced(tmp_path, kernels, kt):
    conf = kt.small_conf(tmp_path / "conf")
    pid_file = tmp_path / "k" / "run" / "softswitch.pid"
    pid_file.parent.mkdir(parents=True)
    dead = _dead_pid()
    pid_file.write_text(f"{dead}\n")
    k = kernels.start(*kernels.dirs(tmp_path / "k", conf))
    k.wait_ready()
    assert pid_file.read_text() == f"{k.pid}\n"
    assert f"removing stale pid file {pid_file} (pid {dead} is gone)" in k.stderr
    k.terminate_and_check()
    assert not pid_file.exists()


def test_unwritable_run_dir(tmp_path, kernels, kt):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    conf = kt.small_conf(tmp_path / "conf")
    r = kernels.run("-nc", "-nf", "-conf", str(conf), "-log", str(tmp_path / "log"), "-db",
                    str(tmp_path / "db"), "-run", str(blocker / "run"))
    assert r.returncode == 255
    assert "Traceback" not in r.stderr
    assert str(blocker) in kt.one_line(r.stderr)


def test_unwritable_log_dir(tmp_path, kernels, kt):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    conf = kt.small_conf(tmp_path / "conf")
    r = kernels.run("-nc", "-nf", "-conf", str(conf), "-log", str(blocker / "log"), "-db",
                    str(tmp_path / "db"), "-run", str(tmp_path / "run"))
    assert r.returncode == 255, r.stdout + r.stderr
    line = kt.one_line(r.stderr)
    assert line.startswith("softswitch: cannot start:") and str(blocker) in line
    assert "Traceback" not in r.stdout + r.stderr
    assert not (tmp_path / "run" / "softswitch.pid").exists()


def test_per_user_defaults(tmp_path, kernels, kt):
    """No directory flags: config from $XDG_CONFIG_HOME/softswitch, pid file in
    $XDG_RUNTIME_DIR/softswitch, log and db under $XDG_STATE_HOME/softswitch."""
    env = kernels.env
    kt.small_conf(tmp_path / "home" / ".config" / "softswitch")
    pid_file = tmp_path / "xdg-runtime" / "softswitch" / "softswitch.pid"
    kernels.watch_pid_file(pid_file)
    k = kernels.start()
    k.wait_ready()
    assert pid_file.read_text() == f"{k.pid}\n"
    state = tmp_path / "home" / ".local" / "state" / "softswitch"
    assert kt.READY_RE.search((state / "log" / "softswitch.log").read_text())
    assert (state / "db" / "core.db").exists()
    assert (tmp_path / "home" / ".local" / "share" / "softswitch").is_dir()
    assert "using the default configuration" not in k.stdout
    r = kernels.run("-stop", env=env)
    assert r.returncode == 0 and f"Killing: {k.pid}" in r.stderr
    assert k.wait_exit() == 0, k.describe()


def test_runs_with_no_flags_using_the_shipped_conf(tmp_path, kernels, kt):
    """After pip install, ``softswitch`` (here with -nc -nf only) runs with the default tree.
    Modules it lists that are not installed are logged, and it keeps running."""
    k = kernels.start()
    kernels.watch_pid_file(tmp_path / "xdg-runtime" / "softswitch" / "softswitch.pid")
    k.wait_ready()
    assert "using the default configuration shipped with softswitch" in k.stdout
    assert DEFAULT_CONF in k.stdout
    k.terminate_and_check()
    assert "Traceback" not in k.stdout + k.stderr
    assert not list((tmp_path / "home").rglob("softswitch.serial"))
    assert not os.path.exists(os.path.join(DEFAULT_CONF, "softswitch.serial"))


def test_copyconf_to_dir_then_start(tmp_path, kernels, kt):
    dest = tmp_path / "myconf"
    r = kernels.run("-copyconf", str(dest))
    assert r.returncode == 0, r.stderr
    assert f"-conf {dest}" in r.stdout
    for rel in ("softswitch.xml", "vars.xml", "autoload_configs/modules.conf.xml",
                "autoload_configs/switch.conf.xml", "autoload_configs/event_socket.conf.xml"):
        assert (dest / rel).read_bytes() == open(os.path.join(DEFAULT_CONF, rel), "rb").read()
    # edit the copy: no modules, a switchname; a later start uses it
    (dest / "autoload_configs" / "modules.conf.xml").write_text(kt.modules_conf(kt.ABSENT_MODULE))
    (dest / "autoload_configs" / "switch.conf.xml").write_text(kt.switch_conf(switchname="copied"))
    k = kernels.start(*kernels.dirs(tmp_path / "k", dest))
    k.wait_ready()
    assert "using the default configuration" not in k.stdout
    k.terminate_and_check()
    # not twice
    r = kernels.run("-copyconf", str(dest))
    assert r.returncode == 1 and "not overwriting" in r.stderr


def test_copyconf_default_destination_is_used_by_default(tmp_path, kernels, kt):
    r = kernels.run("-copyconf")
    dest = tmp_path / "home" / ".config" / "softswitch"  # $XDG_CONFIG_HOME/softswitch
    assert r.returncode == 0, r.stderr
    assert (dest / "softswitch.xml").exists() and str(dest) in r.stdout
    (dest / "autoload_configs" / "modules.conf.xml").write_text(kt.modules_conf(kt.ABSENT_MODULE))
    kernels.watch_pid_file(tmp_path / "xdg-runtime" / "softswitch" / "softswitch.pid")
    k = kernels.start()
    k.wait_ready()
    assert "using the default configuration" not in k.stdout
    k.terminate_and_check()


def test_copyconf_with_base(tmp_path, kernels):
    r = kernels.run("-base", str(tmp_path / "b"), "-copyconf")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "b" / "conf" / "softswitch.xml").exists()


def test_log_dir_without_run_dir_holds_pid_file(tmp_path, kernels, kt):
    conf = kt.small_conf(tmp_path / "conf")
    kernels.watch_pid_file(tmp_path / "log" / "softswitch.pid")
    k = kernels.start("-conf", str(conf), "-log", str(tmp_path / "log"), "-db", str(tmp_path / "db"))
    k.wait_ready()
    assert (tmp_path / "log" / "softswitch.pid").read_text() == f"{k.pid}\n"
    k.terminate_and_check()


# ----------------------------------------------------------------------------------------------
# real processes: daemonizing
# ----------------------------------------------------------------------------------------------


def _wait_gone(kt, pid: int, timeout: float = 20.0) -> None:
    kt.wait_until(lambda: not kt.pid_alive(pid), timeout, f"pid {pid} to exit")


def test_nc_daemonizes(tmp_path, kernels, kt):
    base = tmp_path / "base"
    kt.small_conf(base / "conf")
    pid_file = base / "run" / "softswitch.pid"
    kernels.watch_pid_file(pid_file)
    t0 = time.monotonic()
    r = kernels.run("-nc", "-base", str(base), timeout=30)
    assert r.returncode == 0, r.stderr
    assert time.monotonic() - t0 < 15  # the parent does not wait for readiness
    kt.wait_until(lambda: PidFile.read(str(pid_file)), 30, "the daemon's pid file")
    log_file = base / "log" / "softswitch.log"
    kt.wait_until(lambda: log_file.exists() and kt.READY_RE.search(log_file.read_text()), 30,
                  "the daemon's ready line in its log file")
    daemon = int(pid_file.read_text())
    assert kt.pid_alive(daemon)
    # detached: a new session (double fork: not its leader, so it never gets a terminal)
    assert os.getsid(daemon) != os.getsid(0) and os.getsid(daemon) != daemon
    r = kernels.run("-stop", "-base", str(base))
    assert r.returncode == 0 and f"Killing: {daemon}" in r.stderr
    _wait_gone(kt, daemon)
    kt.wait_until(lambda: not pid_file.exists(), 10, "the pid file to go")
    assert "softswitch stopped" in log_file.read_text()


def test_ncwait_waits_until_ready(tmp_path, kernels, kt):
    base = tmp_path / "base"
    kt.small_conf(base / "conf")
    pid_file = base / "run" / "softswitch.pid"
    kernels.watch_pid_file(pid_file)
    r = kernels.run("-ncwait", "-base", str(base), timeout=60)
    assert r.returncode == 0, r.stderr
    # when the parent returns the daemon is ready: no waiting needed here
    daemon = int(pid_file.read_text())
    assert kt.pid_alive(daemon)
    assert kt.READY_RE.search((base / "log" / "softswitch.log").read_text())
    # a second daemon with the same run dir is refused where the user can see it
    r2 = kernels.run("-nc", "-base", str(base), timeout=30)
    assert r2.returncode == 255
    assert kt.one_line(r2.stderr).startswith(f"Cannot lock pid file {pid_file}")
    r = kernels.run("-stop", "-base", str(base))
    assert r.returncode == 0
    _wait_gone(kt, daemon)


def test_ncwait_broken_conf_reports_the_error(tmp_path, kernels, kt):
    base = tmp_path / "base"
    kt.small_conf(base / "conf", {"vars.xml": "<include>\n<broken\n"})
    kernels.watch_pid_file(base / "run" / "softswitch.pid")
    r = kernels.run("-ncwait", "-base", str(base), timeout=60)
    assert r.returncode != 0
    line = kt.one_line(r.stderr)
    assert line.startswith("softswitch: cannot start:") and "XML error" in line
    assert "Traceback" not in r.stderr
    # and the daemon left it in its log file too
    assert "cannot start" in (base / "log" / "softswitch.log").read_text()


def test_sighup_fires_trap_event(kernel_factory, wait_for):
    from softswitch.event import EventType

    core = kernel_factory()
    got = []
    core.events.bind("test", EventType.TRAP, None, got.append)
    cli.on_sighup(core)
    wait_for(lambda: got, timeout=10)
    assert got[0].get_header("Trapped-Signal") == "HUP"


def test_cfgname_selects_the_root_file(tmp_path, kernels, kt):
    conf = kt.small_conf(tmp_path / "conf")
    (conf / "softswitch.xml").rename(conf / "alt-root.xml")
    k = kernels.start("-cfgname", "alt-root.xml", *kernels.dirs(tmp_path / "k", conf))
    k.wait_ready()
    assert (tmp_path / "k" / "log" / "alt-root.xml.fsxml").exists()
    k.terminate_and_check()
    r = kernels.run("-nc", "-nf", "-cfgname", "nope.xml", *kernels.dirs(tmp_path / "k2", conf))
    assert r.returncode == 255 and "no nope.xml in" in kt.one_line(r.stderr)
