"""The package under a real systemd (docs/INSTALL.md "How this is tested").

package_test.py runs the unit's ExecStart line by hand, as systemd would; this one boots
Debian's systemd 252 as PID 1 of its own PID, mount, network, UTS and cgroup namespaces (a
container on the host's file system, as `systemd-nspawn` would make one without a separate
tree), with a private /run, /dev and cgroup2 hierarchy and journald keeping its journal in
that /run. `dpkg -i` then runs inside it, so the maintainer scripts take their systemd
branches (deb-systemd-helper, `daemon-reload`, deb-systemd-invoke start/restart/stop) and
systemd itself starts the unit: Type=notify, User=, the hardening, ExecReload, KillMode=mixed,
Restart=on-failure.

Its namespace has its own loopback, so the agent keeps DataKit's port 9529 and nothing of it
reaches the host's network. The host's file system is shared: like package_test.py it runs
only as root, only where pythond is not and was not installed, and leaves the package purged.
"""

import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import unittest

import package_test as pt
from harness import wait_for
from package_test import (DEB, LOGS, PROBE_SCRIPT, ROOT, SEED_SCRIPT, STATE, NeedsPackage,
                          dpkg_status, project_version, purge, query, repack, run)

SYSTEMD = "/lib/systemd/systemd"

# Run by `unshare` as the namespaces' first process; ends by exec'ing systemd as their PID 1.
#
# The file system is the host's, so systemd must not "boot" it: a unit's default dependencies
# pull in sysinit.target, whose units would clean /tmp (tmpfiles' `D /tmp`), apply sysctls,
# commit the machine ID... So systemd sees only the units named here ($SYSTEMD_UNIT_PATH
# without a trailing colon replaces the search path; no generators either): the boot targets
# as empty targets, journald, and pythond.service as a link to the file the package installs.
# /etc/systemd/system, where deb-systemd-helper enables and masks, is a tmpfs of its own, so
# the host's enabled services are not seen and the test's enablement stays in the namespace.
BOOT = r"""set -e
# systemd's runtime state, its private socket and the journal stay in the namespace.
mount -t tmpfs -o mode=755 tmpfs /run
# A /dev of its own (journald would put /dev/log on the host's), with the host's basic nodes.
mkdir /run/host-dev
mount --rbind /dev /run/host-dev
mount -t tmpfs -o mode=755 tmpfs /dev
for n in null zero full random urandom tty kmsg; do
  touch /dev/$n
  mount --bind /run/host-dev/$n /dev/$n
done
mkdir /dev/pts /dev/shm
mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts /dev/pts
ln -s pts/ptmx /dev/ptmx
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
ln -s /proc/self/fd /dev/fd
umount -l /run/host-dev
rmdir /run/host-dev
# A cgroup2 hierarchy for systemd to manage (the cgroup namespace roots it here).
umount -R /sys/fs/cgroup 2>/dev/null || umount -l /sys/fs/cgroup
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mkdir -p /etc/systemd/system
mount -t tmpfs -o mode=755 tmpfs /etc/systemd/system
# This machine image carries Docker's policy-rc.d ("exit 101": never start a service from a
# maintainer script). A Debian host has none; hide it, as if absent (not executable).
if [ -e /usr/sbin/policy-rc.d ]; then
  : >/run/no-policy-rc.d
  chmod 0644 /run/no-policy-rc.d
  mount --bind /run/no-policy-rc.d /usr/sbin/policy-rc.d
fi
units=/run/pythond-test/units
mkdir -p $units /run/pythond-test/generators /run/systemd/journald.conf.d
for t in sysinit basic shutdown sockets local-fs network network-pre network-online multi-user; do
  printf '[Unit]\nDescription=%s (empty: the pythond systemd test)\n' $t >$units/$t.target
done
printf '[Unit]\nDescription=the pythond systemd test\nWants=systemd-journald.service\nAfter=systemd-journald.service\n' \
  >$units/pythond-test.target
for u in systemd-journald.service systemd-journald.socket systemd-journald-dev-log.socket \
  systemd-journald-audit.socket; do
  ln -s /lib/systemd/system/$u $units/$u
done
ln -s /usr/lib/systemd/system/pythond.service $units/pythond.service
printf '[Journal]\nStorage=volatile\n' >/run/systemd/journald.conf.d/volatile.conf
export container=pythond-test
export SYSTEMD_UNIT_PATH=/etc/systemd/system:$units
export SYSTEMD_GENERATOR_PATH=/run/pythond-test/generators
export SYSTEMD_ENVIRONMENT_GENERATOR_PATH=/run/pythond-test/generators
exec @SYSTEMD@ --system --unit=pythond-test.target --log-target=journal-or-kmsg
""".replace("@SYSTEMD@", SYSTEMD)


def why_skip_systemd():
    reason = pt.why_skip()
    if not reason:
        missing = [c for c in (SYSTEMD, "/usr/bin/nsenter", "/usr/bin/deb-systemd-invoke")
                   if not os.path.exists(c)]
        if missing:
            reason = "needs " + ", ".join(missing) + " (scripts/setup.sh installs systemd)"
            if os.environ.get("CI"):
                raise AssertionError("CI must run the systemd tests: " + reason)
    return reason


class Systemd:
    """systemd as PID 1 of new namespaces; `sh()` runs a command inside them."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="pythond-systemd-")
        self.log_path = os.path.join(self.dir, "boot.log")
        self.unshare = None
        self.pid1 = None

    def boot(self):
        with open(self.log_path, "w") as log:
            self.unshare = subprocess.Popen(
                ["unshare", "--pid", "--fork", "--mount", "--net", "--uts", "--cgroup",
                 "--mount-proc", "--propagation", "private", "sh", "-c", BOOT],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)

        def pid1():
            if self.unshare.poll() is not None:
                raise AssertionError("the namespace's first process exited %d:\n%s" % (
                    self.unshare.returncode, self.boot_log()))
            try:
                with open("/proc/%d/task/%d/children" % (self.unshare.pid, self.unshare.pid)) as f:
                    children = f.read().split()
                if children and os.readlink("/proc/%s/exe" % children[0]) == os.path.realpath(SYSTEMD):
                    return int(children[0])
            except OSError:
                pass
            return None

        self.pid1 = wait_for(pid1, 20, "systemd to start in its namespaces")
        state = lambda: self.sh(["systemctl", "is-system-running"], check=False).stdout.strip()
        wait_for(lambda: state() in ("running", "degraded"), 60,
                 "systemd to finish booting (%s)" % self.log_path)
        # Before anything is started: this systemd sees BOOT's units, not the host's.
        description = self.show("Description", "sysinit.target")
        if "pythond systemd test" not in description:
            raise AssertionError("systemd ignored $SYSTEMD_UNIT_PATH (sysinit.target is %r): "
                                 "starting a unit would boot the host's file system" % description)

    def sh(self, args, check=True, timeout=120):
        return run(["nsenter", "-t", str(self.pid1), "-m", "-p", "-n", "-u", "--"] + args,
                   check=check, timeout=timeout)

    def show(self, prop, unit="pythond.service"):
        return self.sh(["systemctl", "show", "-p", prop, "--value", unit]).stdout.strip()

    def boot_log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def journal(self, unit="pythond.service"):
        return self.sh(["journalctl", "--no-pager", "-o", "cat", "-u", unit], check=False).stdout

    def stop(self):
        """SIGKILL to PID 1 ends every process of its PID namespace."""
        if self.unshare and self.unshare.poll() is None:
            if self.pid1:
                try:
                    os.kill(self.pid1, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                self.unshare.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.unshare.pid, signal.SIGKILL)
                self.unshare.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


def setUpModule():
    pt.setUpModule()


def tearDownModule():
    purge()
    pt.forget_user()


class SystemdTest(NeedsPackage):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        reason = why_skip_systemd()
        if reason:
            raise unittest.SkipTest(reason)

    def count(self, measurement):
        rows = query("SELECT count(*) AS n FROM points WHERE measurement = '%s'" % measurement)
        return rows[0]["n"] if rows else 0

    def test_the_package_under_systemd(self):
        sd = Systemd()
        self.addCleanup(purge)  # after sd.stop: on the host, nothing of the agent left running
        self.addCleanup(sd.stop)
        sd.boot()
        ok = lambda: sd.show("ActiveState") == "active"
        main_pid = lambda: int(sd.show("MainPID"))

        # Install: postinst enables and starts the unit; Type=notify waits for READY=1.
        p = sd.sh(["dpkg", "-i", DEB])
        self.assertNotIn("did not start", p.stdout)
        self.assertIn("install ok installed", dpkg_status())
        self.assertEqual(sd.sh(["systemctl", "is-enabled", "pythond"]).stdout.strip(), "enabled")
        self.assertTrue(ok(), sd.journal())
        self.assertEqual(sd.show("StatusText"), "listening on 127.0.0.1:9529, 0 input(s)")
        user = pwd.getpwnam("pythond")
        pid = main_pid()
        status = sd.sh(["cat", "/proc/%d/status" % pid]).stdout
        self.assertIn("Uid:\t%d\t%d" % (user.pw_uid, user.pw_uid), status)
        self.assertIn("NoNewPrivs:\t1", status)
        # The agent's stderr is in the journal too.
        wait_for(lambda: "starting: root /etc/pythond" in sd.journal(), 20, "the journal")

        # The seed's steps, then step 4 as `pythond service -R` (systemctl restart).
        shutil.copy(ROOT + "/conf.d/pythond/pythond.conf.sample",
                    ROOT + "/conf.d/pythond/pythond.conf")
        os.makedirs(ROOT + "/python.d/mytest/own")
        os.chown(ROOT + "/python.d/mytest/own", user.pw_uid, user.pw_gid)
        with open(ROOT + "/python.d/mytest/test.py", "w") as f:
            f.write(SEED_SCRIPT)
        with open(ROOT + "/python.d/mytest/probe.py", "w") as f:
            f.write(PROBE_SCRIPT)
        p = sd.sh(["pythond", "service", "-R"])
        self.assertIn("pythond.service restarted", p.stdout)
        self.assertNotEqual(main_pid(), pid)
        self.assertEqual(sd.show("StatusText"), "listening on 127.0.0.1:9529, 1 input(s)")
        wait_for(lambda: self.count("abc") > 0, 40, "the seed script's points (journal: %s)" %
                 sd.journal())
        probe = wait_for(lambda: query("SELECT fields FROM points WHERE measurement = 'probe' LIMIT 1"),
                         40, "the probe's point")
        # systemd's own hardening, not package_test's emulation of it.
        fields = json.loads(probe[0]["fields"])
        self.assertEqual((fields["uid"], fields["gid"]), (user.pw_uid, user.pw_gid), fields)
        self.assertEqual(fields["no_new_privs"], 1, fields)
        self.assertFalse(fields["writes_python_d"], fields)  # ProtectSystem=full: /etc
        self.assertFalse(fields["writes_usr"], fields)
        self.assertTrue(fields["writes_tmp"], fields)
        self.assertTrue(fields["writes_home"], fields)
        self.assertEqual(fields["pycache_prefix"], STATE + "/pycache")
        stats = lambda: json.loads(sd.sh(["curl", "-sf", "http://127.0.0.1:9529/v1/stats"]).stdout)
        self.assertEqual([i["name"] for i in stats()["inputs"]], ["some-python-inputs"])

        # `pythond service --reload` (systemctl reload → ExecReload → SIGHUP): same process.
        pid = main_pid()
        reloads = stats().get("reload", {}).get("reloads", 0)
        p = sd.sh(["pythond", "service", "--reload"])
        self.assertIn("pythond.service reloaded", p.stdout)
        self.assertEqual(main_pid(), pid)
        wait_for(lambda: stats().get("reload", {}).get("reloads", 0) > reloads, 20, "a reload")

        # A broken configuration: `pythond service -R` refuses and the agent keeps running.
        with open(ROOT + "/conf.d/pythond/broken.conf", "w") as f:
            f.write("[[inputs.pythond]]\nname = 'x'\ncmd = 3\n")
        p = sd.sh(["pythond", "service", "-R"], check=False)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn("conf.d/pythond/broken.conf:3", p.stdout)
        self.assertIn("nothing was restarted", p.stdout)
        self.assertEqual(main_pid(), pid)
        # --force restarts into it: the agent refuses to start, so does systemctl (Type=notify),
        # and the unit fails instead of pretending to run.
        p = sd.sh(["pythond", "service", "-R", "--force"], check=False)
        self.assertNotEqual(p.returncode, 0, p.stdout)
        self.assertIn("journalctl -u pythond.service", p.stdout)
        self.assertIn("conf.d/pythond/broken.conf:3", sd.journal())
        os.unlink(ROOT + "/conf.d/pythond/broken.conf")
        # Restart=on-failure brings it back (RestartSec=5s) once the file is gone.
        wait_for(ok, 30, "the unit to come back after its failed start (%s)" % sd.journal())

        # A crash of the agent itself: Restart=on-failure, and the points keep coming.
        restarts = int(sd.show("NRestarts"))
        pid = main_pid()
        before = self.count("abc")
        sd.sh(["kill", "-SEGV", str(pid)])
        wait_for(lambda: int(sd.show("NRestarts")) > restarts and ok(), 30,
                 "systemd to restart the crashed agent")
        self.assertNotEqual(main_pid(), pid)
        wait_for(lambda: self.count("abc") > before, 30, "points after the restart")

        # An upgrade restarts the running agent into the new binary; the user's files stay.
        pid = main_pid()
        rows = self.count("abc")
        sd.sh(["dpkg", "-i", repack(self, project_version() + "+test1")])
        self.assertTrue(ok(), sd.journal())
        self.assertNotEqual(main_pid(), pid)
        self.assertGreaterEqual(self.count("abc"), rows)
        self.assertTrue(os.path.exists(ROOT + "/conf.d/pythond/pythond.conf"))

        # systemctl stop: SIGTERM to the agent alone (KillMode=mixed); it stops its workers,
        # flushes and exits 0, and nothing of the unit is left running.
        sd.sh(["systemctl", "stop", "pythond"])
        self.assertEqual(sd.show("ActiveState"), "inactive")
        self.assertEqual(sd.show("Result"), "success")
        self.assertEqual(sd.show("ExecMainStatus"), "0")
        self.assertEqual(sd.sh(["pgrep", "-u", "pythond"], check=False).stdout, "")
        self.assertIn("stopped:", pt.read(LOGS + "/pythond.log"))
        p = sd.sh(["pythond", "service", "-T"])
        self.assertIn("pythond.service started", p.stdout)

        # dpkg -r: prerm stops it, postrm masks the unit; the user's files stay.
        sd.sh(["dpkg", "-r", "pythond"])
        self.assertIn("config-files", dpkg_status())
        self.assertEqual(sd.sh(["systemctl", "is-enabled", "pythond"], check=False).stdout.strip(),
                         "masked")
        self.assertEqual(sd.sh(["pgrep", "-u", "pythond"], check=False).stdout, "")
        for kept in (ROOT + "/python.d/mytest/test.py", STATE + "/data/pythond.db",
                     LOGS + "/pythond.log"):
            self.assertTrue(os.path.exists(kept), kept)

        # A reinstall unmasks it and, as it was enabled, starts it again with the kept data.
        sd.sh(["dpkg", "-i", DEB])
        self.assertTrue(ok(), sd.journal())
        self.assertEqual(sd.show("StatusText"), "listening on 127.0.0.1:9529, 1 input(s)")

        # dpkg --purge: stopped, the unit forgotten, the user's files deleted.
        sd.sh(["dpkg", "--purge", "pythond"])
        self.assertEqual(dpkg_status(), "")
        self.assertEqual(sd.show("LoadState"), "not-found")
        for gone in (ROOT, STATE, LOGS, "/etc/systemd/system/pythond.service",
                     "/etc/systemd/system/multi-user.target.wants/pythond.service"):
            self.assertFalse(os.path.lexists(gone), gone)


if __name__ == "__main__":
    unittest.main()
