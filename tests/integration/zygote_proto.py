"""zygote_proto - drive sandq-zygote from Python (tests, benchmarks).

Mirrors worker/zproto.h (control messages) and common/frame.h (pipe
frames). Reusable: `Zygote` starts the binary with the control socket as
fd 3 and an empty environment; `Zygote.run()` spawns one child, feeds it a
job and collects its outcome frames and its EXITED message.
"""

import os
import select
import signal
import socket
import struct
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("SANDQ_BUILD", os.path.join(REPO, "build"))
ZYGOTE = os.path.join(BUILD, "sandq-zygote")

ZPROTO_FD = 3
ZPROTO_VERSION = 2
ZPROTO_MAX_CGROUP_FDS = 4

ZMSG_READY, ZMSG_SPAWN, ZMSG_SPAWNED, ZMSG_EXITED = 1, 2, 3, 4

ZLAYER_SECCOMP = 1 << 0
ZLAYER_RLIMITS = 1 << 1
ZLAYER_NO_NEW_PRIVS = 1 << 2
ZLAYER_MEMORY_RLIMIT = 1 << 3
ZLAYER_USERNS = 1 << 4
ZLAYER_MOUNTNS = 1 << 5
ZLAYER_NETNS = 1 << 6
ZLAYER_PIDNS = 1 << 7
ZLAYER_IPCNS = 1 << 8
ZLAYER_UTSNS = 1 << 9
ZLAYER_CAPS = 1 << 10
ZLAYER_INTERPRETER = 1 << 11

# Layer names as the zygote's --allow-missing / --unsafe-disable-layers and
# its READY notes spell them ("cgroup" has no READY bit).
LAYER_BITS = {
    "seccomp": ZLAYER_SECCOMP, "rlimits": ZLAYER_RLIMITS,
    "memory_rlimit": ZLAYER_MEMORY_RLIMIT, "userns": ZLAYER_USERNS,
    "mountns": ZLAYER_MOUNTNS, "netns": ZLAYER_NETNS, "pidns": ZLAYER_PIDNS,
    "ipcns": ZLAYER_IPCNS, "utsns": ZLAYER_UTSNS, "caps": ZLAYER_CAPS,
    "interpreter": ZLAYER_INTERPRETER, "cgroup": 0,
}
NAMESPACES = ("userns", "mountns", "netns", "pidns", "ipcns", "utsns")
# What --unsafe-disable-layers can take away, one by one.
DISABLEABLE = ("seccomp", "rlimits") + NAMESPACES + ("caps", "interpreter", "cgroup")

ZSTEPS = ("none", "fork", "pidfd", "pdeathsig", "fds", "rlimits",
          "no_new_privs", "dumpable", "signals", "seccomp", "python",
          "cgroup", "caps", "namespaces", "probe")
ZSTEP = {name: i for i, name in enumerate(ZSTEPS)}

ZEXIT_OK, ZEXIT_SANDBOX, ZEXIT_VIOLATION, ZEXIT_NOMEM, ZEXIT_INTERNAL = 0, 120, 121, 122, 123

# Explicit layouts of the zproto.h structs ("=": no implicit padding; the C
# structs have none either).
READY = struct.Struct("=IIiIQQ32s512s")  # 576 bytes
SPAWN = struct.Struct("=IIQIIII")        # 32 bytes
SPAWNED = struct.Struct("=IiQii")        # 24 bytes
EXITED = struct.Struct("=IiQiIQQQ")      # 48 bytes

FRAME_HEADER = struct.Struct("<IB")
AUDIT_ARCH_X86_64 = 0xC000003E


def pack_spawn(token, cpu_limit_ms=10000, memory_limit_mb=256, n_cgroup_fds=0):
    return SPAWN.pack(ZMSG_SPAWN, 0, token, cpu_limit_ms, memory_limit_mb,
                      n_cgroup_fds, 0)


def unpack_ready(data):
    t, version, pid, layers, vm, rss, pyver, notes = READY.unpack(data)
    return {"type": t, "version": version, "pid": pid, "layers": layers,
            "base_vm_kb": vm, "rss_kb": rss,
            "python_version": pyver.split(b"\0", 1)[0].decode(),
            "notes": notes.split(b"\0", 1)[0].decode()}


def unpack_spawned(data):
    t, pid, token, step, err = SPAWNED.unpack(data)
    return {"type": t, "pid": pid, "token": token, "err_step": step, "err_errno": err}


def unpack_exited(data):
    t, pid, token, status, _, utime, stime, maxrss = EXITED.unpack(data)
    return {"type": t, "pid": pid, "token": token, "wait_status": status,
            "utime_us": utime, "stime_us": stime, "maxrss_kb": maxrss}


def frame(tag, payload):
    if isinstance(payload, str):
        payload = payload.encode()
    return FRAME_HEADER.pack(len(payload), ord(tag)) + payload


def probe_frames(name):
    """The job pipe bytes of a self-test probe (worker/probe.h)."""
    return frame("p", name) + frame("z", b"")


def host_pid(pidfd):
    """The pid of a pidfd's process in our own pid namespace (SPAWNED and
    EXITED carry the zygote's view, which differs inside a pid namespace):
    the kernel prints it as "Pid:" in the fdinfo of our /proc."""
    with open(f"/proc/self/fdinfo/{pidfd}") as f:
        for line in f:
            if line.startswith("Pid:"):
                return int(line.split()[1])
    raise ValueError("no Pid: line in the pidfd's fdinfo")


def job_frames(code, function, args=None, kwargs=None, calls=None, output_cap=65536):
    """The job pipe bytes; args/kwargs/calls are JSON text (or None)."""
    out = frame("c", code) + frame("f", function)
    for tag, value in (("a", args), ("k", kwargs), ("b", calls)):
        if value is not None:
            out += frame(tag, value)
    if output_cap is not None:
        out += frame("o", str(output_cap))
    return out + frame("z", b"")


def parse_frames(data):
    """[(tag, payload bytes)]; raises ValueError on a torn frame."""
    frames, pos = [], 0
    while pos < len(data):
        if len(data) - pos < FRAME_HEADER.size:
            raise ValueError("torn frame header")
        length, tag = FRAME_HEADER.unpack_from(data, pos)
        pos += FRAME_HEADER.size
        if len(data) - pos < length:
            raise ValueError("torn frame payload")
        frames.append((chr(tag), data[pos:pos + length]))
        pos += length
    return frames


class Outcome:
    """What one job child produced: frames by tag, exit info."""

    def __init__(self, spawned, exited, raw):
        self.spawned = spawned
        self.exited = exited
        self.raw = raw
        self.frames = parse_frames(raw)
        self.fields = {}
        for tag, payload in self.frames:
            self.fields.setdefault(tag, payload)

    def text(self, tag):
        value = self.fields.get(tag)
        return None if value is None else value.decode()

    status = property(lambda self: self.text("s"))
    result = property(lambda self: self.text("r"))
    error_type = property(lambda self: self.text("t"))
    error = property(lambda self: self.text("e"))
    traceback = property(lambda self: self.text("b"))
    stdout = property(lambda self: self.text("o") or "")
    truncated = property(lambda self: self.fields.get("O") == b"1")

    @property
    def timings(self):
        """The child's setup timings (its first 'T' frame) as {stage: us}."""
        text = self.text("T") or ""
        return {k: int(v) for k, v in (part.split("=") for part in text.split())}

    @property
    def json(self):
        import json
        return json.loads(self.result)

    @property
    def violation(self):
        """(syscall nr, audit arch) from the 'V' frame, or None."""
        v = self.fields.get("V")
        return None if v is None else tuple(int(x) for x in v.split())

    @property
    def wait_status(self):
        return self.exited["wait_status"]

    @property
    def exit_code(self):
        st = self.wait_status
        return os.WEXITSTATUS(st) if os.WIFEXITED(st) else None

    @property
    def term_signal(self):
        st = self.wait_status
        return os.WTERMSIG(st) if os.WIFSIGNALED(st) else None

    def __repr__(self):
        return f"Outcome(status={self.status!r}, exit={self.exit_code}, sig={self.term_signal}, frames={self.frames!r})"


class Zygote:
    """One sandq-zygote process and our end of its control socket."""

    def __init__(self, binary=ZYGOTE, args=(), stderr=None, preexec=None):
        """preexec: called in the forked child just before execve (to
        drop privileges, add a seccomp filter, ...)."""
        self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.pid = self._start(binary, list(args), theirs.fileno(), stderr, preexec)
        theirs.close()
        self.pending = []  # messages received while waiting for another
        self.next_token = 1
        self.ready = None

    @staticmethod
    def _start(binary, args, fd, stderr, preexec):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            try:
                # stderr first: it may itself be fd 3, which the socket takes
                if stderr is not None:
                    os.dup2(stderr, 2)
                if fd == ZPROTO_FD:
                    os.set_inheritable(fd, True)
                else:
                    os.dup2(fd, ZPROTO_FD)
                if preexec is not None:
                    preexec()
                os.execve(binary, [binary] + args, {})
            except BaseException as e:
                os.write(2, f"zygote_proto: starting the zygote failed: {e!r}\n".encode())
            finally:
                os._exit(127)
        return pid

    def recv(self, timeout=10.0):
        """(message bytes, [fds]) of the next control message."""
        if self.pending:
            return self.pending.pop(0)
        ready, _, _ = select.select([self.sock], [], [], timeout)
        if not ready:
            raise TimeoutError("no message from the zygote")
        data, fds, _, _ = socket.recv_fds(self.sock, 1024, 4)
        return data, fds

    def wait_ready(self, timeout=30.0):
        data, fds = self.recv(timeout)
        assert not fds
        self.ready = unpack_ready(data)
        return self.ready

    def has(self, name):
        """Whether READY reported the layer (by name) as on."""
        return bool(self.ready["layers"] & LAYER_BITS[name])

    def missing_note(self, name):
        """The READY note about one layer ("" when there is none)."""
        for entry in self.ready["notes"].split("; "):
            if entry.startswith(name + ": "):
                return entry[len(name) + 2:]
        return ""

    def recv_type(self, mtype, token, timeout=10.0):
        """The next message of one type for one token; others are kept."""
        deadline = time.monotonic() + timeout
        skipped = []
        try:
            while True:
                data, fds = self.recv(max(0.0, deadline - time.monotonic()))
                t = struct.unpack_from("=I", data)[0]
                tok = struct.unpack_from("=Q", data, 8)[0]
                if t == mtype and tok == token:
                    return data, fds
                skipped.append((data, fds))
        finally:
            self.pending[:0] = skipped

    def probe(self, name, **limits):
        """Run one self-test probe (worker/probe.h) to its end."""
        return self.run(probe_frames(name), **limits)

    def spawn(self, job_read, result_write, cpu_limit_ms=10000, memory_limit_mb=256, token=None,
              cgroup_fds=(), n_cgroup_fds=None):
        """Send SPAWN with the two fds (and cgroup.procs fds); return
        (token, spawned dict, pidfd). n_cgroup_fds overrides the count sent."""
        if token is None:
            token = self.next_token
            self.next_token += 1
        if n_cgroup_fds is None:
            n_cgroup_fds = len(cgroup_fds)
        socket.send_fds(self.sock, [pack_spawn(token, cpu_limit_ms, memory_limit_mb, n_cgroup_fds)],
                        [job_read, result_write] + list(cgroup_fds))
        data, fds = self.recv_type(ZMSG_SPAWNED, token)
        spawned = unpack_spawned(data)
        pidfd = fds[0] if fds else None
        for extra in fds[1:]:
            os.close(extra)
        return token, spawned, pidfd

    def start_job(self, job_bytes, **limits):
        """Spawn a child and write the job; returns (token, spawned, pidfd, result_read)."""
        job_r, job_w = os.pipe()
        res_r, res_w = os.pipe()
        try:
            token, spawned, pidfd = self.spawn(job_r, res_w, **limits)
        finally:
            os.close(job_r)
            os.close(res_w)
        try:
            _write_all(job_w, job_bytes)
        except BrokenPipeError:
            pass
        finally:
            os.close(job_w)
        return token, spawned, pidfd, res_r

    def finish_job(self, token, spawned, pidfd, res_r, timeout=30.0):
        raw = _read_all(res_r, timeout)
        os.close(res_r)
        if pidfd is not None:
            os.close(pidfd)
        data, _ = self.recv_type(ZMSG_EXITED, token, timeout)
        return Outcome(spawned, unpack_exited(data), raw)

    def run(self, job_bytes, timeout=30.0, **limits):
        return self.finish_job(*self.start_job(job_bytes, **limits), timeout=timeout)

    def close(self, timeout=10.0):
        """Close our end and return the zygote's wait status."""
        self.sock.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return status
            time.sleep(0.01)
        os.kill(self.pid, signal.SIGKILL)
        return os.waitpid(self.pid, 0)[1]


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _read_all(fd, timeout):
    chunks, deadline = [], time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("result pipe still open")
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
