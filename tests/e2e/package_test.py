"""The Debian package and the service layout (docs/INSTALL.md), on this machine, as root.

Its own ctest entry (`package`, not in the e2e suite's discovery): it changes the machine, runs
with its own timeout, and never at the same time as the e2e suite (both may want port 9529).

`make test` builds build/pythond_<version>_<arch>.deb first (`make package`). These tests read
it, install it with dpkg, run the unit's ExecStart line as the unit's user with the unit's
hardening (no systemd here: `unshare` makes /usr, /boot and /etc read-only as
ProtectSystem=full does, `setpriv` sets the user and no_new_privs), check that a script's data
arrives, upgrade, remove and purge it, and run the README's "Install as a service" section as
written. They change the machine (a package, a system user, /etc/pythond), so they run only as
root, and only when pythond is not installed already; every path leaves the package purged.
"""

import json
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.request

from harness import REPO, wait_for

DEB = os.environ.get("PYTHOND_DEB", "")
ROOT = "/etc/pythond"
STATE = "/var/lib/pythond"
LOGS = "/var/log/pythond"
UNIT = "/usr/lib/systemd/system/pythond.service"
# systemd's PATH for services (systemd.exec(5), "Environment variables in spawned processes").
SYSTEMD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def project_version():
    with open(os.path.join(REPO, "CMakeLists.txt")) as f:
        return re.search(r"project\(pythond VERSION ([0-9.]+)", f.read()).group(1)


def run(args, check=True, **kw):
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=kw.pop("timeout", 120), **kw)
    if check and p.returncode != 0:
        raise AssertionError("%s exited %d:\n%s" % (" ".join(args), p.returncode, p.stdout))
    return p


def dpkg_status():
    p = run(["dpkg-query", "-W", "-f=${Status}", "pythond"], check=False)
    return p.stdout.strip() if p.returncode == 0 else ""


def why_skip():
    if not DEB:
        return "no package in this build (the sanitizer build makes none)"
    reason = ""
    if os.geteuid() != 0:
        reason = "needs root (dpkg -i, a system user)"
    elif not shutil.which("dpkg") or not shutil.which("unshare") or not shutil.which("setpriv"):
        reason = "needs dpkg, unshare and setpriv"
    elif not os.path.exists(DEB):
        reason = DEB + " is missing: run `make package` (make test does)"
    elif dpkg_status() or any(os.path.lexists(p) for p in (ROOT, STATE, LOGS)):
        # Installed, removed but not purged, or `make install PREFIX=/usr`: the test's purge
        # would delete someone's configuration, scripts and data.
        reason = "pythond is (or was) installed here (%s): the test would purge it" % (
            dpkg_status() or ", ".join(p for p in (ROOT, STATE, LOGS) if os.path.lexists(p)))
    if reason and os.environ.get("CI"):
        raise AssertionError("CI must run the package tests: " + reason)
    return reason


def read(path):
    with open(path, errors="replace") as f:
        return f.read()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_unit(path=UNIT):
    """{key: [values]} of the unit's [Service] section."""
    out, section = {}, None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("["):
                section = line
                continue
            if section == "[Service]":
                k, v = line.split("=", 1)
                out.setdefault(k, []).append(v)
    return out


class Service:
    """The unit's ExecStart, run as systemd would run it, minus systemd: the unit's User and
    Group, its Environment, a clean environment with systemd's PATH, no_new_privs, and
    ProtectSystem=full's read-only /usr, /boot and /etc in a private mount namespace."""

    def __init__(self, test):
        unit = parse_unit()
        test.assertEqual(unit["Type"], ["notify"])
        test.assertEqual(unit["User"], ["pythond"])
        test.assertEqual(unit["NoNewPrivileges"], ["yes"])
        test.assertEqual(unit["ProtectSystem"], ["full"])
        self.user = pwd.getpwnam(unit["User"][0])
        self.exec_start = shlex.split(unit["ExecStart"][0])
        self.exec_reload = unit["ExecReload"][0]
        self.env = {"PATH": SYSTEMD_PATH, "HOME": self.user.pw_dir, "USER": self.user.pw_name,
                    "LOGNAME": self.user.pw_name, "SHELL": self.user.pw_shell, "LANG": "C.UTF-8"}
        for e in unit.get("Environment", []):
            k, v = e.split("=", 1)
            self.env[k] = v
        self.proc = None
        self.dir = tempfile.mkdtemp(prefix="pythond-svc-")
        os.chmod(self.dir, 0o755)
        self.output = os.path.join(self.dir, "stdout.log")
        self.notify = None

    def command(self):
        mounts = "; ".join("if [ -d %s ]; then mount --bind -o ro %s %s || exit 97; fi" % (d, d, d)
                           for d in ("/usr", "/boot", "/etc"))
        inner = "%s; exec setpriv --reuid=%s --regid=%s --init-groups --no-new-privs -- %s" % (
            mounts, self.user.pw_name, self.user.pw_name, shlex.join(self.exec_start))
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", inner]

    def start(self):
        # systemd's side of Type=notify: a datagram socket in $NOTIFY_SOCKET the agent (as its
        # user) may write to.
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        path = os.path.join(self.dir, "notify")
        self.notify.bind(path)
        os.chmod(path, 0o777)
        self.log = open(self.output, "a")
        self.proc = subprocess.Popen(self.command(), env=dict(self.env, NOTIFY_SOCKET=path),
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        return self.proc.pid

    def notified(self, timeout=30):
        """The next sd_notify datagram, as {KEY: VALUE}."""
        self.notify.settimeout(timeout)
        data = self.notify.recv(4096).decode()
        return dict(line.split("=", 1) for line in data.splitlines() if "=" in line)

    def reload(self):
        cmd = self.exec_reload.replace("$MAINPID", str(self.proc.pid))
        run(shlex.split(cmd))

    def stop(self, timeout=30):
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
            raise AssertionError("the agent did not stop within %ss of SIGTERM" % timeout)
        finally:
            self.log.close()

    def text(self):
        with open(self.output, errors="replace") as f:
            return f.read()


def query(sql):
    """`pythond query` as root with no --root: the installed binary's default root."""
    p = run(["/usr/bin/pythond", "query", "--format", "json", sql], check=False)
    if p.returncode != 0:
        return None
    return json.loads(p.stdout)


def purge():
    if dpkg_status():
        run(["dpkg", "--purge", "pythond"])


USER_EXISTED = None  # whether a pythond user was there before the tests made one


def user_exists():
    try:
        pwd.getpwnam("pythond")
        return True
    except KeyError:
        return False


def forget_user():
    """Removes the pythond user and group the package created, if the tests made them."""
    if USER_EXISTED is False and user_exists():
        run(["deluser", "--system", "--quiet", "pythond"], check=False)
        run(["delgroup", "--system", "--quiet", "pythond"], check=False)


def setUpModule():
    global USER_EXISTED
    USER_EXISTED = user_exists()


def tearDownModule():
    purge()
    forget_user()


def tree(*tops):
    """Every path under `tops` (files, links, folders), sorted."""
    out = []
    for top in tops:
        if not os.path.lexists(top):
            continue
        out.append(top)
        for d, dirs, files in os.walk(top):
            out += [os.path.join(d, n) for n in dirs + files]
    return sorted(out)


SEED_SCRIPT = """from datakit_framework import DataKitFramework

class MyTest(DataKitFramework):
    name = 'MyTest'
    interval = 1

    def run(self):
        print("MyTest")
        data = [{"measurement": "abc", "tags": {"t1": "b", "t2": "d"},
                 "fields": {"f1": 123, "f2": 3.4, "f3": "strval"}}]
        return self.report({'M': data, 'input': "datakitpy"})
"""

# What the service lets a script do: who it runs as, and where it may write.
PROBE_SCRIPT = """import os, tempfile
from datakit_framework import DataKitFramework

def writable(folder):
    try:
        fd, path = tempfile.mkstemp(dir=folder)
        os.close(fd)
        os.unlink(path)
        return True
    except OSError:
        return False

class Probe(DataKitFramework):
    name = 'probe'
    interval = 1

    def run(self):
        with open('/proc/self/status') as f:
            status = dict(line.split(':', 1) for line in f if ':' in line)
        fields = {'uid': os.getuid(), 'gid': os.getgid(),
                  'no_new_privs': int(status['NoNewPrivs'].strip()),
                  'writes_python_d': writable(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'own')),
                  'writes_usr': writable('/usr/local'), 'writes_tmp': writable('/tmp'),
                  'writes_home': writable(os.path.expanduser('~')),
                  'pycache_prefix': os.environ.get('PYTHONPYCACHEPREFIX', '')}
        return self.report({'M': [{'measurement': 'probe', 'tags': {}, 'fields': fields}]})
"""


def repack(test, version):
    """The package as another version (for upgrades), in a folder removed after `test`."""
    work = tempfile.mkdtemp(prefix="pythond-repack-")
    test.addCleanup(shutil.rmtree, work, True)
    run(["dpkg-deb", "-R", DEB, work + "/pkg"])
    control = work + "/pkg/DEBIAN/control"
    with open(control) as f:
        text = f.read()
    with open(control, "w") as f:
        f.write(re.sub(r"(?m)^Version: .*$", "Version: " + version, text))
    out = work + "/pythond_%s.deb" % version
    run(["dpkg-deb", "--root-owner-group", "-b", work + "/pkg", out])
    return out


class NeedsPackage(unittest.TestCase):
    """Asks why_skip() when the class's tests are about to run, not when the module is
    imported: the README test's `--start-service` helper imports this file while the package
    is installed, where why_skip() would (rightly) refuse to run the tests."""

    @classmethod
    def setUpClass(cls):
        reason = why_skip()
        if reason:
            raise unittest.SkipTest(reason)


class PackageTest(NeedsPackage):
    def test_contents_and_maintainer_scripts(self):
        version = project_version()
        arch = run(["dpkg", "--print-architecture"]).stdout.strip()
        self.assertEqual(os.path.basename(DEB), "pythond_%s_%s.deb" % (version, arch))
        field = lambda f: run(["dpkg-deb", "-f", DEB, f]).stdout.strip()
        self.assertEqual(field("Package"), "pythond")
        self.assertEqual(field("Version"), version)
        self.assertEqual(field("Architecture"), arch)
        depends = field("Depends")
        for dep in ("python3 (>= 3.7)", "adduser", "libc6", "libgit2-1.5", "librdkafka1",
                    "libsqlite3-0", "libssl3", "libzstd1", "zlib1g", "libstdc++6", "libjemalloc2"):
            self.assertIn(dep, depends)

        listing = run(["dpkg-deb", "-c", DEB]).stdout.splitlines()
        paths = {}
        for line in listing:
            parts = line.split(None, 5)
            name = parts[5].split(" -> ")[0].rstrip("/")[1:] or "/"
            paths[name] = (parts[0], parts[1], parts[5])
        for p, (mode, owner, _) in paths.items():
            self.assertEqual(owner, "root/root", p)
            self.assertFalse(p.startswith(("/work", "/home", "/root", "/tmp")), p)
        expected_files = [
            "/usr/bin/pythond", "/usr/share/pythond/python/pythond_worker.py",
            "/usr/share/pythond/python/datakit_framework.py", "/usr/lib/systemd/system/pythond.service",
            ROOT + "/conf.d/agent.conf", ROOT + "/conf.d/agent.conf.sample",
            ROOT + "/conf.d/pythond/pythond.conf.sample", "/usr/share/doc/pythond/copyright",
            "/usr/share/doc/pythond/changelog.gz", "/usr/share/man/man1/pythond.1.gz",
            "/usr/share/doc/pythond/INSTALL.md", "/usr/share/doc/pythond/README.md",
            "/usr/lib/pythond/pythond.so"]
        for p in expected_files:
            self.assertIn(p, paths)
            self.assertTrue(paths[p][0].startswith("-"), p)
        self.assertTrue(paths["/usr/bin/pythond"][0].startswith("-rwxr-xr-x"))
        sdk = paths[ROOT + "/python.d/core/datakit_framework.py"]
        self.assertTrue(sdk[0].startswith("l"), sdk)
        self.assertTrue(sdk[2].endswith("-> /usr/share/pythond/python/datakit_framework.py"), sdk)
        for d in (STATE, LOGS, ROOT + "/python.d"):
            self.assertTrue(paths[d][0].startswith("d"), d)
        # Debian's own checker: no error or warning (info-level notes aside); overrides are in
        # packaging/lintian-overrides, with their reasons.
        if shutil.which("lintian"):
            p = run(["lintian", "--tag-display-limit", "0", DEB], check=False)
            tags = [l for l in p.stdout.splitlines() if re.match(r"[EW]: ", l)]
            self.assertEqual(tags, [], p.stdout)
        elif os.environ.get("CI"):
            self.fail("lintian is missing (scripts/setup.sh installs it)")
        # The binary is stripped (CPACK_STRIP_FILES): no debug sections.
        extract = tempfile.mkdtemp(prefix="pythond-deb-")
        self.addCleanup(shutil.rmtree, extract, True)
        run(["dpkg-deb", "-R", DEB, extract])
        self.assertNotIn(".debug_info", run(["readelf", "-S", extract + "/usr/bin/pythond"]).stdout)
        with open(extract + "/usr/lib/systemd/system/pythond.service") as f:
            unit = f.read()
        for line in ("Type=notify", "User=pythond", "ExecStart=/usr/bin/pythond run --root /etc/pythond",
                     "ExecReload=/bin/kill -HUP $MAINPID", "Restart=on-failure",
                     "NoNewPrivileges=yes", "ProtectSystem=full",
                     "ReadWritePaths=-/var/lib/pythond -/var/log/pythond", "KillMode=mixed"):
            self.assertIn(line + "\n", unit)
        with open(extract + ROOT + "/conf.d/agent.conf") as f:
            conf = f.read()
        self.assertIn('state_dir = "/var/lib/pythond"', conf)
        self.assertIn('file = "/var/log/pythond/pythond.log"', conf)
        self.assertIn('seed_log_dir = "/var/log/pythond"', conf)

        # Every file under /etc is a conffile (kept on remove, asked about on upgrade).
        with open(extract + "/DEBIAN/conffiles") as f:
            conffiles = f.read().split()
        etc_files = sorted(p for p, (m, _, _) in paths.items()
                           if p.startswith("/etc/") and m.startswith("-"))
        self.assertEqual(sorted(conffiles), etc_files)
        # The maintainer scripts: executable, valid sh, and they do what docs/INSTALL.md says.
        scripts = {}
        for name in ("postinst", "prerm", "postrm"):
            path = extract + "/DEBIAN/" + name
            self.assertTrue(os.access(path, os.X_OK), name)
            run(["sh", "-n", path])
            with open(path) as f:
                scripts[name] = f.read()
            self.assertTrue(scripts[name].startswith("#!/bin/sh\n"))
            self.assertIn("set -e", scripts[name])
        self.assertIn("adduser --system", scripts["postinst"])
        self.assertIn('install -d -o pythond -g pythond -m 0750 "$STATE" "$LOGS"', scripts["postinst"])
        self.assertIn('deb-systemd-helper enable "$UNIT"', scripts["postinst"])
        self.assertIn('if [ -n "$2" ]; then action=restart; else action=start; fi', scripts["postinst"])
        self.assertIn('deb-systemd-invoke "$action" "$UNIT"', scripts["postinst"])
        self.assertIn('deb-systemd-invoke stop "$UNIT"', scripts["prerm"])
        self.assertIn('rm -rf "$STATE" "$LOGS" "$ROOT"', scripts["postrm"])
        purge_branch = scripts["postrm"].split("purge)")[1].split(";;")[0]
        remove_branch = scripts["postrm"].split("remove)")[1].split(";;")[0]
        self.assertIn("rm -rf", purge_branch)
        self.assertNotIn("rm ", remove_branch)  # remove keeps config, scripts, data and logs

    def test_install_run_upgrade_remove_purge(self):
        self.addCleanup(purge)
        run(["dpkg", "-i", DEB])
        self.assertIn("install ok installed", dpkg_status())

        # The user and its folders.
        user = pwd.getpwnam("pythond")
        self.assertLess(user.pw_uid, 1000)
        self.assertEqual(user.pw_dir, STATE)
        self.assertEqual(user.pw_shell, "/usr/sbin/nologin")
        for d in (STATE, LOGS):
            st = os.stat(d)
            self.assertEqual((st.st_uid, st.st_gid, st.st_mode & 0o777),
                             (user.pw_uid, user.pw_gid, 0o750), d)
        st = os.stat(ROOT + "/conf.d")
        self.assertEqual((st.st_uid, st.st_gid, st.st_mode & 0o777), (0, user.pw_gid, 0o750))
        self.assertEqual(os.path.realpath(ROOT + "/python.d/core/datakit_framework.py"),
                         "/usr/share/pythond/python/datakit_framework.py")
        # Enabled for the next boot (systemctl enable works without a running systemd).
        self.assertTrue(os.path.islink("/etc/systemd/system/multi-user.target.wants/pythond.service"))
        if shutil.which("systemd-analyze"):
            p = run(["systemd-analyze", "verify", UNIT], check=False)
            self.assertEqual(p.returncode, 0, p.stdout)
            self.assertNotIn("pythond.service", p.stdout)

        # The installed binary knows its layout: no --root needed.
        p = run(["/usr/bin/pythond", "check"])
        self.assertIn("root /etc/pythond: 0 input(s)", p.stdout)
        self.assertEqual(run(["/usr/bin/pythond", "version", "--python-dir"]).stdout.strip(),
                         "/usr/share/pythond/python")

        # The seed's steps: the sample copied to pythond.conf, its script in python.d/mytest,
        # and a probe of what the service allows. A free port instead of 9529.
        shutil.copy(ROOT + "/conf.d/pythond/pythond.conf.sample", ROOT + "/conf.d/pythond/pythond.conf")
        os.makedirs(ROOT + "/python.d/mytest")
        with open(ROOT + "/python.d/mytest/test.py", "w") as f:
            f.write(SEED_SCRIPT)
        with open(ROOT + "/python.d/mytest/probe.py", "w") as f:
            f.write(PROBE_SCRIPT)
        # A folder the pythond user owns under /etc: writable but for ProtectSystem=full.
        os.makedirs(ROOT + "/python.d/mytest/own")
        os.chown(ROOT + "/python.d/mytest/own", user.pw_uid, user.pw_gid)
        port = free_port()
        with open(ROOT + "/conf.d/agent.conf") as f:
            conf = f.read()
        self.assertIn('listen = "127.0.0.1:9529"', conf)
        with open(ROOT + "/conf.d/agent.conf", "w") as f:
            f.write(conf.replace('listen = "127.0.0.1:9529"', 'listen = "127.0.0.1:%d"' % port))
        p = run(["/usr/bin/pythond", "check"])
        self.assertIn("plugin  MyTest", p.stdout)
        self.assertIn("plugin  probe", p.stdout)

        # `pythond service -R` checks the configuration first; a broken one is refused.
        with open(ROOT + "/conf.d/pythond/broken.conf", "w") as f:
            f.write("[[inputs.pythond]]\nname = 'x'\ncmd = 3\n")
        p = run(["/usr/bin/pythond", "service", "-R"], check=False)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn("conf.d/pythond/broken.conf:3", p.stdout)
        self.assertIn("nothing was restarted", p.stdout)
        os.unlink(ROOT + "/conf.d/pythond/broken.conf")
        if not os.path.isdir("/run/systemd/system"):
            p = run(["/usr/bin/pythond", "service", "-R"], check=False)
            self.assertEqual(p.returncode, 1, p.stdout)
            self.assertIn("OK (1 input(s))", p.stdout)
            self.assertIn("systemd is not running on this machine", p.stdout)
            self.assertIn("/usr/bin/pythond run --root /etc/pythond", p.stdout)

        svc = Service(self)
        svc.start()
        self.addCleanup(svc.notify.close)
        self.addCleanup(svc.stop)
        # Type=notify: READY=1 once the API is bound, before any script ran.
        ready = svc.notified()
        self.assertEqual(ready.get("READY"), "1", ready)
        self.assertIn("listening on 127.0.0.1:%d, 1 input(s)" % port, ready.get("STATUS", ""))
        wait_for(lambda: (query("SELECT count(*) AS n FROM points WHERE measurement = 'abc'") or
                          [{"n": 0}])[0]["n"] > 0, 40,
                 "the seed script's points in the store (service output: %s)" % svc.output)
        probe = wait_for(lambda: query("SELECT fields FROM points WHERE measurement = 'probe' LIMIT 1"),
                         40, "the probe's point")
        fields = json.loads(probe[0]["fields"])
        # Users' own tools read the store through the packaged SQLite extension (docs/STORE.md).
        shell = run(["sqlite3", "-readonly", "-cmd", ".load /usr/lib/pythond/pythond",
                     STATE + "/data/pythond.db",
                     "SELECT count(*) FROM points WHERE measurement = 'probe'"], check=False)
        self.assertEqual(shell.returncode, 0, shell.stdout)
        self.assertGreater(int(shell.stdout.strip()), 0, shell.stdout)
        self.assertEqual(fields["uid"], user.pw_uid, fields)
        self.assertEqual(fields["gid"], user.pw_gid, fields)
        self.assertEqual(fields["no_new_privs"], 1, fields)
        self.assertFalse(fields["writes_python_d"], fields)  # /etc is read-only to the service
        self.assertFalse(fields["writes_usr"], fields)
        self.assertTrue(fields["writes_tmp"], fields)
        self.assertTrue(fields["writes_home"], fields)  # its home is the state folder
        self.assertEqual(fields["pycache_prefix"], STATE + "/pycache")

        # Where everything went: data under /var/lib/pythond, logs under /var/log/pythond.
        self.assertTrue(os.path.exists(STATE + "/data/pythond.db"))
        self.assertTrue(os.path.exists(STATE + "/data/run.json"))
        self.assertFalse(os.path.exists(ROOT + "/data"))
        for name in ("pythond.log", "_datakit_pythond_cli.log",
                     "_datakit_pythond_framework_some-python-inputs_.log"):
            path = LOGS + "/" + name
            self.assertTrue(os.path.exists(path), path)
            self.assertEqual(os.stat(path).st_uid, user.pw_uid, path)
        wait_for(lambda: "MyTest" in read(LOGS + "/_datakit_pythond_cli.log"), 20,
                 "MyTest's runs in the cli log")
        with open(LOGS + "/pythond.log") as f:
            self.assertIn("starting: root /etc/pythond", f.read())

        # ExecReload: SIGHUP reloads.
        stats = lambda: json.load(urllib.request.urlopen("http://127.0.0.1:%d/v1/stats" % port, timeout=5))
        before = stats().get("reload", {}).get("reloads", 0)
        svc.reload()
        self.assertEqual(svc.notified(), {"RELOADING": "1"})
        self.assertEqual(svc.notified(), {"READY": "1"})
        wait_for(lambda: stats().get("reload", {}).get("reloads", 0) > before, 20, "a reload")
        # `pythond monitor` finds the agent through run.json in the state folder.
        p = run(["/usr/bin/pythond", "monitor", "--once"], check=False)
        self.assertEqual(p.returncode, 0, p.stdout)
        self.assertIn("MyTest", p.stdout)

        notify = svc.notify
        self.assertEqual(svc.stop(), 0, svc.text())
        notify.settimeout(0)
        self.assertEqual(notify.recv(4096), b"STOPPING=1")
        self.assertIn("stopped:", svc.text())
        rows = query("SELECT count(*) AS n FROM points")[0]["n"]
        self.assertGreater(rows, 0)

        # An upgrade (the same package as a later version) keeps conf.d, python.d and data.
        new = repack(self, project_version() + "+test1")
        run(["dpkg", "-i", new])
        self.assertIn("install ok installed", dpkg_status())
        self.assertEqual(run(["dpkg-query", "-W", "-f=${Version}", "pythond"]).stdout,
                         project_version() + "+test1")
        with open(ROOT + "/conf.d/agent.conf") as f:
            self.assertIn('listen = "127.0.0.1:%d"' % port, f.read())  # the user's edit
        for p in ("/conf.d/pythond/pythond.conf", "/python.d/mytest/test.py",
                  "/python.d/mytest/probe.py"):
            self.assertTrue(os.path.exists(ROOT + p), p)
        self.assertEqual(query("SELECT count(*) AS n FROM points")[0]["n"], rows)

        # Remove: the program goes, the user's files stay.
        run(["dpkg", "-r", "pythond"])
        self.assertIn("config-files", dpkg_status())
        for gone in ("/usr/bin/pythond", "/usr/share/pythond", UNIT, "/usr/share/doc/pythond",
                     "/usr/share/man/man1/pythond.1.gz", ROOT + "/python.d/core"):
            self.assertFalse(os.path.lexists(gone), gone)
        # As dh_installsystemd does: the unit is masked, its enablement kept for a reinstall.
        self.assertEqual(os.readlink("/etc/systemd/system/pythond.service"), "/dev/null")
        left = [p for p in tree(ROOT, STATE, LOGS) if "__pycache__" not in p]
        expected = [ROOT, ROOT + "/conf.d", ROOT + "/conf.d/agent.conf",
                    ROOT + "/conf.d/agent.conf.sample", ROOT + "/conf.d/pythond",
                    ROOT + "/conf.d/pythond/pythond.conf",
                    ROOT + "/conf.d/pythond/pythond.conf.sample", ROOT + "/python.d",
                    ROOT + "/python.d/mytest", ROOT + "/python.d/mytest/own",
                    ROOT + "/python.d/mytest/probe.py",
                    ROOT + "/python.d/mytest/test.py"]
        self.assertEqual([p for p in left if p.startswith(ROOT)], expected)
        self.assertIn(STATE + "/data/pythond.db", left)
        self.assertIn(LOGS + "/_datakit_pythond_cli.log", left)

        # Purge (asked for): configuration, scripts, data and logs go.
        run(["dpkg", "--purge", "pythond"])
        self.assertEqual(dpkg_status(), "")
        self.assertEqual(tree(ROOT, STATE, LOGS), [])
        systemd_left = [p for p in tree("/etc/systemd/system", "/var/lib/systemd/deb-systemd-helper-enabled",
                                        "/var/lib/systemd/deb-systemd-helper-masked")
                        if "pythond" in p]
        self.assertEqual(systemd_left, [])

    def test_destdir_install_matches_the_package(self):
        # `cmake --install` with DESTDIR (what `make install DESTDIR=...` runs) stages the same
        # tree the package holds.
        build = os.environ.get("PYTHOND_BUILD_DIR", os.path.join(REPO, "build"))
        stage = tempfile.mkdtemp(prefix="pythond-stage-")
        self.addCleanup(shutil.rmtree, stage, True)
        run(["cmake", "--install", build, "--strip"], env=dict(os.environ, DESTDIR=stage))
        staged = sorted("/" + os.path.relpath(p, stage) for p in tree(stage) if p != stage)
        packaged = sorted(line.split(None, 5)[5].split(" -> ")[0].rstrip("/")[1:]
                          for line in run(["dpkg-deb", "-c", DEB]).stdout.splitlines())
        packaged = [p for p in packaged if p not in ("", "/")]
        self.assertEqual(staged, packaged)
        # The paths are fixed at configure time: another --prefix is refused, not scattered.
        p = run(["cmake", "--install", build, "--prefix", stage + "/elsewhere"], check=False,
                env=dict(os.environ, DESTDIR=stage))
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("this build was configured for the prefix /usr, not %s/elsewhere" % stage,
                      " ".join(p.stdout.split()))
        self.assertFalse(os.path.exists(stage + stage + "/elsewhere"), "installed before refusing")
        # A second install keeps an agent.conf the user changed.
        conf = stage + ROOT + "/conf.d/agent.conf"
        with open(conf, "a") as f:
            f.write("# mine\n")
        p = run(["cmake", "--install", build], env=dict(os.environ, DESTDIR=stage))
        self.assertIn("Kept: " + conf, p.stdout)
        with open(conf) as f:
            self.assertTrue(f.read().endswith("# mine\n"))


README_SECTION = re.compile(r"^## Install as a service\n(.*?)^## ", re.S | re.M)
SH_BLOCK = re.compile(r"^```sh\n(.*?)^```", re.S | re.M)


class ReadmeInstallTest(NeedsPackage):
    """README.md's "Install as a service", as written, as root. Two stand-ins: `make package`
    is not run again (make test just built the package it names), and `sudo pythond service
    -R`, after the real command has checked the configuration and found no systemd, starts the
    unit's ExecStart line as the Service class above does."""

    def test_the_readme_section_works_as_written(self):
        with open(os.path.join(REPO, "README.md")) as f:
            section = README_SECTION.search(f.read()).group(1)
        blocks = SH_BLOCK.findall(section)
        self.assertEqual(len(blocks), 3, blocks)
        install, steps, verify = blocks
        self.assertIn("make package", install)
        self.assertIn("./build/" + os.path.basename(DEB), install)
        self.assertIn("sudo pythond service -R", steps)
        with socket.socket() as s:  # the README keeps DataKit's port
            self.assertNotEqual(s.connect_ex(("127.0.0.1", 9529)), 0, "port 9529 is in use")

        self.addCleanup(purge)
        work = tempfile.mkdtemp(prefix="pythond-readme-")
        self.addCleanup(shutil.rmtree, work, True)
        os.symlink(os.path.dirname(DEB), work + "/build")
        pidfile = work + "/service.pid"
        svc_log = work + "/service.log"
        self.addCleanup(self.stop_pid, pidfile)
        shim = """set -e
sudo() {
  if [ "$1 $2" = "pythond service" ]; then
    "$@" || echo "(pythond service exited $?)"
    python3 %s --start-service %s %s
  else
    "$@"
  fi
}
""" % (shlex.quote(os.path.abspath(__file__)), shlex.quote(svc_log), shlex.quote(pidfile))

        install = "\n".join(l for l in install.splitlines() if not l.startswith("make package"))
        p = run(["bash", "-c", shim + install], cwd=work, timeout=300)
        self.assertIn("install ok installed", dpkg_status())
        p = run(["bash", "-c", shim + steps], cwd=work)
        self.assertIn("OK: 1 input(s), 1 plugin(s), 0 error(s)", p.stdout)
        self.assertTrue(os.path.exists(pidfile), p.stdout)

        def verified():
            out = run(["bash", "-c", shim + verify], cwd=work, check=False).stdout
            return out if "abc\t" in out and "MyTest" in out else None
        out = wait_for(verified, 60, "the README's verify block to show abc and MyTest's runs",
                       interval=1)
        self.assertIn('"f1":123', out)

    @staticmethod
    def stop_pid(pidfile):
        if not os.path.exists(pidfile):
            return
        pid = int(read(pidfile))
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)


if __name__ == "__main__":
    import sys
    if sys.argv[1:2] == ["--start-service"]:
        # For the README test's `sudo pythond service -R`: start the installed unit's
        # ExecStart (detached, in its own session), write its PID, return.
        class _Check(unittest.TestCase):
            def runTest(self):
                pass
        svc = Service(_Check())
        svc.output = sys.argv[2]
        with open(sys.argv[3], "w") as f:
            f.write(str(svc.start()))
    else:
        unittest.main()
