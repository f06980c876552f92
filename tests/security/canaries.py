"""Helpers of the security tests: where the runtime is, whether the worker
knows a flag, and the canaries that prove a hostile job touched nothing."""
import os
import secrets
import socket
import stat
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
RUNTIME = os.path.join(os.path.dirname(os.path.dirname(HERE)), "worker", "runtime.py")


def worker_supports(flag):
    """Whether this sandq-worker knows a command-line flag."""
    from sandq_integration_conftest import WORKER_BIN
    p = subprocess.run([WORKER_BIN, "--help"], capture_output=True, text=True, timeout=30)
    return flag in p.stdout


class Canaries:
    """What one hostile job must not touch: a secret file it may try to
    read, a path it may try to create, a script it may try to run (it
    would create a marker file), a TCP listener it may try to reach."""

    def __init__(self, directory):
        os.makedirs(directory, exist_ok=True)
        self.dir = directory
        self.secret = "sandq-canary-" + secrets.token_hex(16)
        self.secret_path = os.path.join(directory, "secret.txt")
        self.write_path = os.path.join(directory, "written")
        self.ran_path = os.path.join(directory, "ran")
        self.cmd_path = os.path.join(directory, "cmd.sh")
        with open(self.secret_path, "w") as f:
            f.write(self.secret)
        with open(self.cmd_path, "w") as f:
            f.write(f"#!/bin/sh\ntouch '{self.ran_path}'\n")
        os.chmod(self.cmd_path, stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
        os.chmod(directory, 0o755)
        os.chmod(self.secret_path, 0o644)
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.listener.setblocking(False)
        self.port = self.listener.getsockname()[1]

    def fill(self, code):
        """The code with its placeholders replaced (no str.format: the code
        is full of braces)."""
        for key, value in (("{SECRET}", self.secret_path), ("{WRITE}", self.write_path),
                           ("{CMD}", self.cmd_path), ("{RAN}", self.ran_path),
                           ("{PORT}", str(self.port)), ("{DIR}", self.dir)):
            code = code.replace(key, value)
        return code

    def connections(self):
        """Connections that reached the listener (a completed handshake sits
        in the backlog even if the client gave up)."""
        count = 0
        while True:
            try:
                conn, _ = self.listener.accept()
            except (BlockingIOError, OSError):
                return count
            conn.close()
            count += 1

    def violations(self, job):
        """Every way this job got out, as readable strings (empty: none)."""
        found = []
        if os.path.exists(self.write_path):
            found.append(f"created {self.write_path}")
        if os.path.exists(self.ran_path):
            found.append(f"ran {self.cmd_path}")
        if self.connections():
            found.append(f"connected to 127.0.0.1:{self.port}")
        for key in ("result", "stdout", "error", "traceback"):
            if self.secret in (job.get(key) or ""):
                found.append(f"the secret is in '{key}'")
        return found

    def close(self):
        self.listener.close()
