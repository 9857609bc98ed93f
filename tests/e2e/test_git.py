"""Scripts and configs from git repositories ([git_repos], docs/GIT.md), with real git and no
network: bare repositories over file://, `git daemon` for git://, and git's smart HTTP with
basic auth, all on 127.0.0.1. The agent pulls with libgit2 every second here.

Scenarios: first clone; a pushed script change picked up within an interval, restarting only
its input while a local input keeps every slot; a pushed broken config rejected while the old
checkout keeps running (and a fix applied after it); local edits discarded; wrong credentials
reported without leaking the password, then fixed by a reload; an unreachable remote and an
unknown branch reported and retried; a branch switch; two repositories with the same folder
(order decides); a repository without conf.d/ or python.d/.
"""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import unittest

from gitservers import GitDaemon, GitHttpServer, GitRemote, GitSshServer, git_available, sshd_usable
from harness import AGENT_CONF, BIN, Agent, input_conf, python_cmd, wait_for
from servers import free_port

PLUGIN = '''from datakit_framework import DataKitFramework

class {cls}(DataKitFramework):
    name = "{name}"
    interval = 1

    def run(self):
        return self.feed_metric(measurement="{measurement}", fields={{"v": {value}}})
'''


def plugin(name, measurement=None, value=1):
    return PLUGIN.format(cls=name.capitalize(), name=name, measurement=measurement or name,
                         value=value)


def git_conf(repos, interval="1s"):
    """agent.conf with [git_repos]: `repos` is a list of dicts of [[git_repos.repo]] keys."""
    text = AGENT_CONF + '\n[git_repos]\npull_interval = "%s"\n' % interval
    for repo in repos:
        text += "\n[[git_repos.repo]]\n"
        for key, value in repo.items():
            text += "%s = %s\n" % (key, json.dumps(value))
    return text


def repo_files(input_name, folder, plugin_text):
    return {
        "conf.d/%s.conf" % input_name: input_conf(input_name, [folder]),
        "python.d/%s/%s.py" % (folder, folder): plugin_text,
    }


@unittest.skipUnless(git_available(), "needs git and git-http-backend")
class GitTestBase(unittest.TestCase):
    def setUp(self):
        self.base = tempfile.mkdtemp(prefix="pythond-git-")
        self.addCleanup(shutil.rmtree, self.base, True)

    def remote(self, name):
        return GitRemote(os.path.join(self.base, "remotes"), name)

    def start(self, repos, files=None):
        self.agent = Agent(files or {}, agent_conf=git_conf(repos))
        self.addCleanup(self.agent.cleanup)
        self.agent.start()
        return self.agent

    def repo_status(self, name):
        for r in self.agent.stats().get("git_repos", []):
            if r["name"] == name:
                return r
        return None

    def wait_repo(self, name, condition, what, timeout=20):
        return wait_for(lambda: (lambda r: r if r and condition(r) else None)(
            self.repo_status(name)), timeout, what)

    def wait_value(self, measurement, value, timeout=20):
        return wait_for(lambda: self.agent.count(
            "measurement = '%s' AND json_extract(fields, '$.v') = %d" % (measurement, value)),
            timeout, "a %s point with v=%d" % (measurement, value))

    def reconfigure(self, repos):
        self.agent.write("conf.d/agent.conf", git_conf(repos))
        self.agent.proc.send_signal(signal.SIGHUP)


class GitFileTest(GitTestBase):
    def test_clone_then_a_pushed_change_restarts_only_its_input(self):
        remote = self.remote("conf")
        first = remote.commit(repo_files("gitdemo", "gitdemo", plugin("demo", value=1)), "first")
        self.start([{"enable": True, "url": remote.url}],
                   files={"conf.d/steady.conf": input_conf("steady", ["steady"]),
                          "python.d/steady/steady.py": plugin("steady")})
        a = self.agent
        status = self.wait_repo("conf", lambda r: r["head"] == first, "the first clone")
        self.assertTrue(status["last_ok"])
        self.assertEqual(status["branch"], "master")
        self.wait_value("demo", 1)
        demo = wait_for(lambda: a.plugin("gitdemo", "demo"), 10, "plugin demo")
        self.assertEqual(demo["repo"], "conf")
        self.assertIn(os.path.join("gitrepos", "conf", "python.d", "gitdemo"), demo["file"])
        inputs = {i["name"]: i for i in a.stats()["inputs"]}
        self.assertEqual(inputs["gitdemo"]["repo"], "conf")
        self.assertEqual(inputs["steady"]["repo"], "")
        # `pythond check` names the repository of the input, its dirs and its plugin.
        check = subprocess.run([BIN, "check", "--root", a.root], capture_output=True, text=True,
                               timeout=60)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        self.assertIn("git repo 'conf' (%s, branch master): gitrepos/conf at %s (first)"
                      % (remote.url, first[:7]), check.stdout)
        self.assertIn("input 'gitdemo' (gitrepos/conf/conf.d/gitdemo.conf:1, git repo 'conf')",
                      check.stdout)
        self.assertIn("'gitdemo' → gitrepos/conf/python.d/gitdemo (1 module(s), git repo 'conf')",
                      check.stdout)
        wait_for(lambda: a.plugin("steady", "steady")["runs"] >= 2, 10, "steady runs")
        steady_pid = a.workers("steady")[0]["pid"]
        demo_pid = a.workers("gitdemo")[0]["pid"]

        second = remote.commit({"python.d/gitdemo/gitdemo.py": plugin("demo", value=2)}, "v2")
        self.wait_value("demo", 2, timeout=15)
        status = self.wait_repo("conf", lambda r: r["head"] == second, "the pull of v2")
        self.assertEqual(status["head_summary"], "v2")
        self.assertGreaterEqual(status["changes"], 2)
        # Only the changed input restarted; the local one kept its worker and every slot.
        self.assertNotEqual(a.workers("gitdemo")[0]["pid"], demo_pid)
        self.assertEqual(a.workers("steady")[0]["pid"], steady_pid)
        steady = a.plugin("steady", "steady")
        self.assertEqual(steady["skipped"], 0)
        self.assertEqual(steady["failures"], 0)
        self.assertIn("reload (git conf:", a.log())

    def test_broken_config_is_rejected_and_the_old_checkout_keeps_running(self):
        remote = self.remote("conf")
        good = remote.commit(repo_files("gitdemo", "gitdemo", plugin("demo")), "good")
        self.start([{"enable": True, "url": remote.url}])
        a = self.agent
        self.wait_repo("conf", lambda r: r["head"] == good, "the first clone")
        wait_for(lambda: a.plugin("gitdemo", "demo") and a.plugin("gitdemo", "demo")["runs"] >= 1,
                 15, "demo runs")
        pid = a.workers("gitdemo")[0]["pid"]
        conf_path = os.path.join(a.root, "gitrepos", "conf", "conf.d", "gitdemo.conf")
        with open(conf_path) as f:
            good_conf = f.read()

        bad = remote.commit({"conf.d/gitdemo.conf": "[[inputs.pythond]]\nname = 'gitdemo'\n"
                                                    "cmd = \n",
                             "python.d/gitdemo/gitdemo.py": plugin("demo", value=5)}, "broken")
        status = self.wait_repo("conf", lambda r: r["rejected_commit"] == bad,
                                "the broken commit rejected")
        self.assertFalse(status["last_ok"])
        self.assertEqual(status["head"], good)
        self.assertIn("rejected; keeping " + good[:7], status["last_error"])
        self.assertIn("gitdemo.conf:3", status["last_error"])
        # The checkout on disk and the running worker are the good ones.
        with open(conf_path) as f:
            self.assertEqual(f.read(), good_conf)
        runs = a.plugin("gitdemo", "demo")["runs"]
        wait_for(lambda: a.plugin("gitdemo", "demo")["runs"] >= runs + 2, 10, "runs go on")
        self.assertEqual(a.workers("gitdemo")[0]["pid"], pid)
        self.assertEqual(a.count("measurement = 'demo' AND json_extract(fields, '$.v') = 5"), 0)
        # Retried at each pull without a new log line per pull; a fix is applied.
        failures = self.repo_status("conf")["failures"]
        wait_for(lambda: self.repo_status("conf")["failures"] >= failures + 2, 10, "retries")
        self.assertEqual(a.log().count("warning git repo 'conf': commit %s (broken) rejected" % bad[:7]), 1)
        fixed = remote.commit({"conf.d/gitdemo.conf": input_conf("gitdemo", ["gitdemo"])}, "fix")
        self.wait_repo("conf", lambda r: r["head"] == fixed and r["last_ok"], "the fix")
        self.wait_value("demo", 5)

    def test_local_edits_are_discarded(self):
        remote = self.remote("conf")
        remote.commit(repo_files("gitdemo", "gitdemo", plugin("demo", value=1)), "first")
        self.start([{"enable": True, "url": remote.url}])
        a = self.agent
        script = os.path.join(a.root, "gitrepos", "conf", "python.d", "gitdemo", "gitdemo.py")
        wait_for(lambda: os.path.exists(script), 15, "the clone")
        with open(script, "w") as f:
            f.write(plugin("demo", value=99))
        stray = os.path.join(a.root, "gitrepos", "conf", "python.d", "gitdemo", "stray.py")
        with open(stray, "w") as f:
            f.write("x = 1\n")
        def restored():
            with open(script) as f:
                return '{"v": 1}' in f.read() and not os.path.exists(stray)

        wait_for(restored, 15, "the checkout restored")
        wait_for(lambda: "discarding local edits" in a.log(), 5, "the log line")
        self.assertIn("python.d/gitdemo/gitdemo.py", a.log())

    def test_unknown_branch_and_missing_folders_are_reported(self):
        remote = self.remote("conf")
        remote.commit({"README": "nothing here\n"}, "no folders")
        other = self.remote("other")
        other.commit(repo_files("o", "o", plugin("o")), "first")
        self.start([{"enable": True, "url": remote.url},
                    {"enable": True, "url": other.url, "branch": "nope"}])
        status = self.wait_repo("conf", lambda r: r["failures"] >= 1, "a failure")
        self.assertIn("neither conf.d/ nor python.d/", status["last_error"])
        status = self.wait_repo("other", lambda r: r["failures"] >= 2, "retries")
        self.assertIn("branch 'nope' not found", status["last_error"])
        self.assertEqual(status["head"], "")
        self.assertFalse(os.path.exists(os.path.join(self.agent.root, "gitrepos", "other")))
        self.assertEqual(self.agent.http("GET", "/v1/ping")[0], 200)

    def test_branch_switch(self):
        remote = self.remote("conf")
        remote.commit(repo_files("gitdemo", "gitdemo", plugin("demo", value=1)), "master")
        dev = remote.commit({"python.d/gitdemo/gitdemo.py": plugin("demo", value=3)}, "dev",
                            branch="dev")
        self.start([{"enable": True, "url": remote.url}])
        self.wait_value("demo", 1)
        self.reconfigure([{"enable": True, "url": remote.url, "branch": "dev"}])
        status = self.wait_repo("conf", lambda r: r["head"] == dev, "the dev branch")
        self.assertEqual(status["branch"], "dev")
        self.wait_value("demo", 3)

    def test_two_repositories_with_the_same_folder_order_decides(self):
        a_repo = self.remote("alpha")
        a_repo.commit({"python.d/shared/shared.py": plugin("shared", measurement="from_alpha")}, "a")
        b_repo = self.remote("beta")
        b_repo.commit({"python.d/shared/shared.py": plugin("shared", measurement="from_beta")}, "b")
        local = {"conf.d/shared.conf": input_conf("shared", ["shared"])}
        self.start([{"enable": True, "url": a_repo.url}, {"enable": True, "url": b_repo.url}],
                   files=local)
        a = self.agent
        wait_for(lambda: a.count("measurement = 'from_alpha'"), 20, "alpha's script")
        p = a.plugin("shared", "shared")
        self.assertEqual(p["repo"], "alpha")
        self.assertEqual(a.count("measurement = 'from_beta'"), 0)
        # The other order: beta's folder wins, and only that input restarts.
        self.reconfigure([{"enable": True, "url": b_repo.url}, {"enable": True, "url": a_repo.url}])
        wait_for(lambda: a.count("measurement = 'from_beta'"), 20, "beta's script")
        self.assertEqual(a.plugin("shared", "shared")["repo"], "beta")


class GitServersTest(GitTestBase):
    def test_git_daemon(self):
        remote = self.remote("conf")
        head = remote.commit(repo_files("gitdemo", "gitdemo", plugin("demo", value=7)), "first")
        daemon = GitDaemon(os.path.join(self.base, "remotes"))
        self.addCleanup(daemon.stop)
        self.start([{"enable": True, "url": daemon.url("conf")}])
        self.wait_repo("conf", lambda r: r["head"] == head, "the clone over git://")
        self.wait_value("demo", 7)

    def test_http_basic_auth_failure_then_fixed_without_leaking_the_password(self):
        remote = self.remote("conf")
        head = remote.commit(repo_files("gitdemo", "gitdemo", plugin("demo", value=4)), "first")
        server = GitHttpServer(os.path.join(self.base, "remotes"), "deploy", "s3cret-Pw")
        self.addCleanup(server.stop)
        # The right password reaches the agent through its environment ($VAR in the URL).
        os.environ["PYTHOND_TEST_GIT_PASSWORD"] = "s3cret-Pw"
        self.addCleanup(os.environ.pop, "PYTHOND_TEST_GIT_PASSWORD", None)
        self.start([{"enable": True, "url": server.url("conf", "deploy", "wrong-Pa55")}])
        status = self.wait_repo("conf", lambda r: r["failures"] >= 2, "auth failures")
        self.assertIn("authentication", status["last_error"].lower())
        self.assertEqual(status["url"], server.url("conf", "deploy", "***"))
        self.assertEqual(status["head"], "")
        self.assertGreater(server.refused, 0)
        self.assertNotIn("wrong-Pa55", json.dumps(self.agent.stats()))
        self.assertNotIn("wrong-Pa55", self.agent.log())
        # Fixed by a reload: the repository is cloned and its input runs.
        self.reconfigure([{"enable": True, "url": server.url(
            "conf", "deploy", "${PYTHOND_TEST_GIT_PASSWORD}")}])
        self.wait_repo("conf", lambda r: r["head"] == head and r["last_ok"], "the clone")
        self.wait_value("demo", 4)
        self.assertNotIn("s3cret-Pw", json.dumps(self.agent.stats()))
        self.assertNotIn("s3cret-Pw", self.agent.log())

    def test_unreachable_remote_is_retried(self):
        port = free_port()  # nothing listens there
        self.start([{"enable": True, "url": "http://127.0.0.1:%d/conf.git" % port}])
        status = self.wait_repo("conf", lambda r: r["failures"] >= 3, "three failed pulls")
        self.assertFalse(status["last_ok"])
        self.assertIn("127.0.0.1:%d" % port, status["last_error"])
        self.assertEqual(self.agent.http("GET", "/v1/ping")[0], 200)


@unittest.skipUnless(sshd_usable(), "needs OpenSSH's sshd (openssh-server)")
class GitSshTest(GitTestBase):
    """ssh:// with a key that has a passphrase, and host keys checked against known_hosts."""

    def setUp(self):
        super().setUp()
        self.remote_repo = self.remote("conf")
        self.head = self.remote_repo.commit(
            repo_files("gitdemo", "gitdemo", plugin("demo", value=6)), "first")
        self.sshd = GitSshServer(self.base, "a pass phrase")
        self.addCleanup(self.sshd.stop)
        self.home = os.path.join(self.base, "home")
        os.makedirs(os.path.join(self.home, ".ssh"))

    def start_ssh(self, passphrase, known_hosts=None, hashed=False):
        if known_hosts is not None:
            path = os.path.join(self.home, ".ssh", "known_hosts")
            with open(path, "w") as f:
                f.write(known_hosts)
            if hashed:  # as ssh does with HashKnownHosts: |1|salt|hmac entries
                subprocess.run(["ssh-keygen", "-q", "-H", "-f", path], check=True, timeout=30,
                               capture_output=True)
                with open(path) as f:
                    self.assertTrue(f.read().startswith("|1|"))
        repo = {"enable": True, "url": self.sshd.url(self.remote_repo.bare),
                "ssh_private_key_path": self.sshd.client_key,
                "ssh_private_key_password": passphrase}
        self.agent = Agent({}, agent_conf=git_conf([repo]))
        self.addCleanup(self.agent.cleanup)
        self.agent.start(env=dict(os.environ, HOME=self.home))

    def test_key_with_passphrase_and_a_known_host(self):
        self.start_ssh("a pass phrase", known_hosts=self.sshd.known_hosts_line(), hashed=True)
        self.wait_repo("conf", lambda r: r["head"] == self.head, "the clone over ssh")
        self.wait_value("demo", 6)
        self.assertNotIn("not in known_hosts", self.agent.log())
        self.assertNotIn("a pass phrase", self.agent.log())

    def test_unknown_host_is_accepted_with_a_warning(self):
        self.start_ssh("a pass phrase")
        self.wait_repo("conf", lambda r: r["head"] == self.head, "the clone over ssh")
        self.assertIn("[127.0.0.1]:%d is not in known_hosts" % self.sshd.port, self.agent.log())

    def test_wrong_passphrase_and_changed_host_key_are_refused(self):
        self.start_ssh("not the pass phrase", known_hosts=self.sshd.known_hosts_line())
        status = self.wait_repo("conf", lambda r: r["failures"] >= 2, "auth failures")
        self.assertEqual(status["head"], "")
        self.assertNotIn("not the pass phrase", json.dumps(self.agent.stats()))
        self.assertNotIn("not the pass phrase", self.agent.log())
        self.agent.stop()
        # known_hosts lists another key for this host: refused before any credential is sent.
        other = os.path.join(self.base, "other_host_key")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", other], check=True,
                       timeout=30)
        self.start_ssh("a pass phrase", known_hosts=self.sshd.known_hosts_line(other))
        status = self.wait_repo("conf", lambda r: r["failures"] >= 1, "a refused host key")
        self.assertIn("does not match known_hosts", status["last_error"])
        self.assertEqual(status["head"], "")


if __name__ == "__main__":
    unittest.main()
