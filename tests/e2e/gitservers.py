"""Real git repositories and servers for the git tests, all on 127.0.0.1 and in temp folders:
a bare repository with a working clone to push from (`GitRemote`, the git CLI), `git daemon`
for git:// (`GitDaemon`), and git's smart HTTP — `git http-backend` behind a small threaded
HTTP server with basic auth (`GitHttpServer`). Every process is stopped by its PID.
"""

import base64
import getpass
import http.server
import os
import shutil
import subprocess
import threading

from servers import free_port, wait_port

GIT_ENV = {
    "GIT_AUTHOR_NAME": "pythond tests", "GIT_AUTHOR_EMAIL": "tests@pythond.invalid",
    "GIT_COMMITTER_NAME": "pythond tests", "GIT_COMMITTER_EMAIL": "tests@pythond.invalid",
    "GIT_CONFIG_NOSYSTEM": "1", "HOME": "/nonexistent",
}


def stop_process(proc):
    """SIGTERM, then SIGKILL after 10 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def git(*args, cwd=None):
    env = dict(os.environ, **GIT_ENV)
    return subprocess.run(["git"] + list(args), cwd=cwd, env=env, check=True,
                          capture_output=True, text=True, timeout=60).stdout.strip()


class GitRemote:
    """A bare repository `<base>/<name>.git` and a clone of it to commit and push from."""

    def __init__(self, base, name):
        self.base = base
        self.name = name
        self.bare = os.path.join(base, name + ".git")
        self.work = os.path.join(base, "work-" + name)
        os.makedirs(base, exist_ok=True)
        git("init", "-q", "--bare", "-b", "master", self.bare)
        git("init", "-q", "-b", "master", self.work)
        git("remote", "add", "origin", self.bare, cwd=self.work)

    @property
    def url(self):
        return "file://" + self.bare

    def commit(self, files=None, message="change", branch="master", delete=()):
        """Writes `files` ({path: text}), removes `delete`, commits on `branch` and pushes it.
        Returns the new commit's hex."""
        existing = git("branch", "--list", branch, cwd=self.work)
        has_commits = subprocess.run(["git", "rev-parse", "--verify", "-q", "HEAD"],
                                     cwd=self.work, capture_output=True).returncode == 0
        if has_commits:
            if existing:
                git("checkout", "-q", branch, cwd=self.work)
            else:
                git("checkout", "-q", "-b", branch, cwd=self.work)
        elif branch != "master":
            git("checkout", "-q", "-b", branch, cwd=self.work)
        for path, text in (files or {}).items():
            full = os.path.join(self.work, path)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "w") as f:
                f.write(text)
        for path in delete:
            git("rm", "-q", "-r", path, cwd=self.work)
        git("add", "-A", cwd=self.work)
        git("commit", "-q", "--allow-empty", "-m", message, cwd=self.work)
        git("push", "-q", "origin", branch, cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work)


class GitDaemon:
    """`git daemon` serving every repository under `base` as git://127.0.0.1:<port>/<name>."""

    def __init__(self, base):
        self.base = base
        self.port = free_port()
        self.proc = subprocess.Popen(
            ["git", "daemon", "--reuseaddr", "--listen=127.0.0.1", "--port=%d" % self.port,
             "--base-path=" + base, "--export-all", "--informative-errors", base],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
            env=dict(os.environ, **GIT_ENV))
        wait_port(self.port, 15, self.proc)

    def url(self, name):
        return "git://127.0.0.1:%d/%s.git" % (self.port, name)

    def stop(self):
        stop_process(self.proc)


HTTP_BACKEND = "/usr/lib/git-core/git-http-backend"


class GitHttpServer:
    """git's smart HTTP protocol: `git http-backend` (CGI) behind a threaded HTTP server on
    127.0.0.1 that demands basic auth with `user`/`password` for every request."""

    def __init__(self, base, user, password):
        self.base = base
        self.user, self.password = user, password
        self.requests = 0
        self.refused = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                self.cgi()

            def do_POST(self):
                self.cgi()

            def body(self):
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    data = b""
                    while True:
                        size = int(self.rfile.readline().strip() or b"0", 16)
                        if size == 0:
                            self.rfile.readline()
                            return data
                        data += self.rfile.read(size)
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def cgi(self):
                outer.requests += 1
                body = self.body()
                expected = "Basic " + base64.b64encode(
                    ("%s:%s" % (outer.user, outer.password)).encode()).decode()
                if self.headers.get("Authorization") != expected:
                    outer.refused += 1
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="git"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                path, _, query = self.path.partition("?")
                env = dict(os.environ, GIT_PROJECT_ROOT=outer.base, GIT_HTTP_EXPORT_ALL="1",
                           REQUEST_METHOD=self.command, PATH_INFO=path, QUERY_STRING=query,
                           CONTENT_TYPE=self.headers.get("Content-Type", ""),
                           CONTENT_LENGTH=str(len(body)), REMOTE_USER=outer.user,
                           REMOTE_ADDR="127.0.0.1", GATEWAY_INTERFACE="CGI/1.1")
                if self.headers.get("Content-Encoding"):
                    env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
                if self.headers.get("Git-Protocol"):
                    env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
                out = subprocess.run([HTTP_BACKEND], input=body, env=env, capture_output=True,
                                     timeout=60).stdout
                head, _, payload = out.partition(b"\r\n\r\n")
                status = 200
                headers = []
                for line in head.split(b"\r\n"):
                    key, _, value = line.decode("latin-1").partition(":")
                    if key.lower() == "status":
                        status = int(value.strip().split()[0])
                    elif key:
                        headers.append((key, value.strip()))
                self.send_response(status)
                for key, value in headers:
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name, user=None, password=None):
        auth = ""
        if user is not None:
            auth = user + (":" + password if password is not None else "") + "@"
        return "http://%s127.0.0.1:%d/%s.git" % (auth, self.port, name)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


SSHD = "/usr/sbin/sshd"


class GitSshServer:
    """OpenSSH's sshd on 127.0.0.1 (own config, host key and authorized key; no PAM, no
    passwords) through which git reaches the repositories by path, as the current user. The
    client key has a passphrase. `known_hosts_line()` is what `ssh-keyscan` would print."""

    def __init__(self, base, passphrase):
        self.dir = os.path.join(base, "sshd")
        os.makedirs(self.dir)
        self.port = free_port()
        self.user = getpass.getuser()
        self.host_key = os.path.join(self.dir, "host_key")
        self.client_key = os.path.join(self.dir, "client_key")
        for path, phrase in ((self.host_key, ""), (self.client_key, passphrase)):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", phrase, "-C", "",
                            "-f", path], check=True, timeout=30, stdin=subprocess.DEVNULL)
        shutil.copy(self.client_key + ".pub", os.path.join(self.dir, "authorized_keys"))
        config = os.path.join(self.dir, "sshd_config")
        with open(config, "w") as f:
            f.write("\n".join([
                "ListenAddress 127.0.0.1", "Port %d" % self.port, "HostKey " + self.host_key,
                "AuthorizedKeysFile " + os.path.join(self.dir, "authorized_keys"),
                "PasswordAuthentication no", "KbdInteractiveAuthentication no",
                "PubkeyAuthentication yes", "PermitRootLogin prohibit-password",
                "StrictModes no", "UsePAM no", "PidFile " + os.path.join(self.dir, "pid"), ""]))
        if os.geteuid() == 0:
            os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege separation folder
        self.log = open(os.path.join(self.dir, "sshd.log"), "ab")
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", config], stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        wait_port(self.port, 15, self.proc)

    def url(self, path):
        return "ssh://%s@127.0.0.1:%d%s" % (self.user, self.port, path)

    def known_hosts_line(self, key_file=None):
        with open((key_file or self.host_key) + ".pub") as f:
            kind, blob = f.read().split()[:2]
        return "[127.0.0.1]:%d %s %s\n" % (self.port, kind, blob)

    def stop(self):
        stop_process(self.proc)
        self.log.close()


def sshd_usable():
    """sshd is installed and can run here (as root, or as a user whose /run/sshd exists)."""
    return os.path.exists(SSHD) and shutil.which("ssh-keygen") is not None and (
        os.geteuid() == 0 or os.path.isdir("/run/sshd"))


def git_available():
    return shutil.which("git") is not None and os.path.exists(HTTP_BACKEND)
