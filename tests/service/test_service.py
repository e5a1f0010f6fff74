"""The systemd units from outside: the server started as service/pysandbox.service would start
it (its user, group, environment and ExecStart flags, with the listening socket passed the
way service/pysandbox.socket makes systemd pass it: fd 3, LISTEN_FDS, LISTEN_PID), and
requests through that socket from a member of the socket's group, from the service's own
user, and from a stranger, who gets nothing. systemd itself is not needed."""
import configparser
import grp
import json
import os
import pwd
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

CLI = os.environ["PSB_CLI"]
HERE = os.path.dirname(os.path.abspath(__file__))
UNITS = os.path.join(HERE, "..", "..", "service")
PY = "/usr/bin/python3.11"
USER = "pysandbox"


def unit(name):
    """A unit file as {section: {key: value}} (repeated keys: the last one)."""
    cp = configparser.RawConfigParser(strict=False, interpolation=None)
    cp.optionxform = str
    cp.read(os.path.join(UNITS, name))
    return cp


CLIENT = r"""
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile("rw")
hello = f.readline()
if not hello:
    print(json.dumps({"refused": True}))
    sys.exit(0)
f.write(json.dumps({"id": 1, "op": "run", "code": "import os; result = [6 * 7, os.getuid() != 0]"}) + "\n")
f.flush()
print(f.readline().strip())
"""


@unittest.skipUnless(os.geteuid() == 0, "needs root: the service runs as its own user")
@unittest.skipUnless(shutil.which("setpriv"), "needs setpriv (util-linux)")
class Service(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.made_user = False
        try:
            pwd.getpwnam(USER)
        except KeyError:
            # What sysusers.d/pysandbox.conf asks systemd-sysusers to make.
            subprocess.run(["useradd", "--system", "--user-group", "--no-create-home",
                            "--home-dir", "/var/lib/pysandbox", "--shell", "/usr/sbin/nologin",
                            USER], check=True)
            cls.made_user = True
        cls.work = tempfile.mkdtemp(prefix="psb-service-", dir="/var/tmp")
        os.chmod(cls.work, 0o755)
        cls.service, cls.socket_unit = unit("pysandbox.service"), unit("pysandbox.socket")
        cls.sock_path = os.path.join(cls.work, "run", "pysandbox.sock")
        cls.server = cls.start_server()

    @classmethod
    def tearDownClass(cls):
        cls.server.terminate()
        cls.server.wait(timeout=30)
        cls.err.close()
        shutil.rmtree(cls.work, ignore_errors=True)
        if cls.made_user:
            subprocess.run(["userdel", USER], check=False)

    @classmethod
    def start_server(cls):
        s = cls.socket_unit["Socket"]
        os.makedirs(os.path.dirname(cls.sock_path), mode=int(s["DirectoryMode"], 8))
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(cls.sock_path)
        listener.listen(16)
        os.chown(cls.sock_path, pwd.getpwnam(s["SocketUser"]).pw_uid,
                 grp.getgrnam(s["SocketGroup"]).gr_gid)
        os.chmod(cls.sock_path, int(s["SocketMode"], 8))
        svc = cls.service["Service"]
        argv = shlex.split(svc["ExecStart"])
        argv[0] = CLI  # the built tool where the package installs /usr/bin/pysandbox
        env = dict(kv.split("=", 1) for kv in shlex.split(svc["Environment"]))
        state = os.path.join(cls.work, "state")
        os.makedirs(state)
        os.chown(state, pwd.getpwnam(USER).pw_uid, grp.getgrnam(USER).gr_gid)
        # StateDirectory= and CacheDirectory= are made by systemd: here, in the test's dir.
        env = {k: v.replace("/var/lib/pysandbox", state).replace("/var/cache", state)
               for k, v in env.items()}
        env["PYSANDBOX_HELPER"] = os.environ["PYSANDBOX_HELPER"]
        env["PATH"] = "/usr/bin:/bin"
        cmd = ["setpriv", "--reuid", svc["User"], "--regid", svc["Group"], "--init-groups",
               "--no-new-privs", "sh", "-c", 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$@"', "sh"]

        def as_fd3():
            os.dup2(listener.fileno(), 3)

        cls.err = open(os.path.join(cls.work, "err"), "w")
        p = subprocess.Popen(cmd + argv, env=env, preexec_fn=as_fd3, pass_fds=(3,),
                             stdin=subprocess.DEVNULL, stderr=cls.err)
        listener.close()
        return p

    def client(self, *setpriv_args):
        p = subprocess.run(["setpriv", *setpriv_args, PY, "-c", CLIENT, self.sock_path],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout)

    def test_the_unit_is_what_it_says(self):
        svc = self.service["Service"]
        self.assertEqual(svc["User"], USER)
        self.assertIn("--listen systemd", svc["ExecStart"])
        self.assertEqual(self.socket_unit["Socket"]["ListenStream"],
                         "/run/pysandbox/pysandbox.sock")
        for key in ("NoNewPrivileges", "ProtectSystem", "PrivateTmp", "ProtectHome"):
            self.assertIn(key, svc)
        for key in ("RestrictNamespaces", "SystemCallFilter", "ProtectControlGroups"):
            self.assertNotIn(key, svc)  # they would break the sandbox's own confinement

    def test_a_member_of_the_group(self):
        answer = self.client("--reuid", "nobody", "--regid", "nogroup", "--groups", USER)
        self.assertEqual(answer["outcome"]["result"], [42, True], answer)

    def test_the_service_user(self):
        answer = self.client("--reuid", USER, "--regid", USER, "--init-groups")
        self.assertEqual(answer["outcome"]["status"], "ok", answer)

    def test_a_stranger_gets_nothing(self):
        # The socket is 0660, so a stranger cannot even connect...
        p = subprocess.run(["setpriv", "--reuid", "nobody", "--regid", "nogroup",
                            "--clear-groups", PY, "-c", CLIENT, self.sock_path],
                           capture_output=True, text=True, timeout=60)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("PermissionError", p.stderr)
        # ...and with the mode opened, the server still closes it unanswered (peer check).
        os.chmod(self.sock_path, 0o666)
        try:
            answer = self.client("--reuid", "nobody", "--regid", "nogroup", "--clear-groups")
        finally:
            os.chmod(self.sock_path, 0o660)
        self.assertEqual(answer, {"refused": True})
        self.assertIsNone(self.server.poll(), "the server keeps serving")


if __name__ == "__main__":
    unittest.main()
