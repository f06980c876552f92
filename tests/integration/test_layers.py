"""Each sandbox layer on its own: a zygote with every other layer switched
off (--unsafe-disable-layers, test-only) must still stop the attack that
layer is for, and the same probe against a zygote with every layer off
shows the attack works there (so no test passes vacuously).

The attacks are the self-test's C probes (worker/probe.h), driven over the
zygote's control socket: no supervisor, no Redis.

Run: /usr/bin/python3 -m pytest tests/integration/test_layers.py
A layer the kernel refuses is skipped with the zygote's own reason.
"""

import ctypes
import errno
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zygote_proto as zp  # noqa: E402

ROOT = os.geteuid() == 0
NR = {"read": 0, "open": 2, "socket": 41, "clone": 56, "fork": 57, "uname": 63,
      "kill": 62, "capget": 125, "getuid": 102, "msgget": 68, "openat": 257}
CGROUP_V1_PIDS = "/sys/fs/cgroup/pids"
CGROUP_V2 = "/sys/fs/cgroup/unified"


def disable_all_but(*keep):
    off = [name for name in zp.DISABLEABLE if name not in keep]
    return ["--unsafe-disable-layers", ",".join(off)] if off else []


class Started:
    """A zygote for one test: started with flags, its log printed and its
    clean exit checked at the end."""

    def __init__(self, args=(), preexec=None):
        self.log = tempfile.TemporaryFile()
        self.z = zp.Zygote(args=list(args), stderr=self.log.fileno(), preexec=preexec)
        self.z.wait_ready()

    def stop(self):
        status = self.z.close()
        self.log.seek(0)
        text = self.log.read().decode(errors="replace")
        sys.stderr.write(text)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, (status, text)
        return text


@pytest.fixture
def zygote_with():
    """zygote_with(*keep): a zygote with only these layers (skips when the
    kernel refused one of them, printing the zygote's reason)."""
    started = []

    def start(*keep, extra=(), preexec=None):
        s = Started(disable_all_but(*keep) + list(extra), preexec)
        started.append(s)
        for name in keep:
            if zp.LAYER_BITS[name] and not s.z.has(name):
                reason = f"layer {name} unavailable here: {s.z.missing_note(name)}"
                print("SKIP:", reason)
                pytest.skip(reason)
        return s.z

    yield start
    for s in started:
        s.stop()


@pytest.fixture(scope="module")
def bare():
    """Every layer off: the attacks must work here."""
    s = Started(disable_all_but())
    yield s.z
    s.stop()


def succeeded(o):
    assert o.exit_code == zp.ZEXIT_OK and o.status == "succeeded", o
    return o.json


def assert_violation(o, *names):
    assert o.exit_code == zp.ZEXIT_VIOLATION, o
    assert [tag for tag, _ in o.frames] == ["V"], o
    nr, arch = o.violation
    assert arch == zp.AUDIT_ARCH_X86_64
    assert nr in [NR[n] for n in names], (nr, names)


@pytest.fixture
def listener():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    s.setblocking(False)
    yield s
    s.close()


def accepted(s):
    """How many connections reached the listener (drained)."""
    n = 0
    while True:
        try:
            conn, _ = s.accept()
        except BlockingIOError:
            return n
        conn.close()
        n += 1


@pytest.fixture
def public_dir():
    """A directory every uid may traverse (tmp_path is 0700), for canaries."""
    d = tempfile.mkdtemp(prefix="sandq-layers-")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


# --- READY and the notes --------------------------------------------------------

def skip_without_memory_rlimit(z):
    if not z.has("memory_rlimit"):
        reason = f"memory_rlimit: {z.missing_note('memory_rlimit')}"
        print("SKIP:", reason)
        pytest.skip(reason)


def test_ready_with_every_layer(zygote_with):
    z = zygote_with(*zp.DISABLEABLE)
    r = z.ready
    for name in ("seccomp", "rlimits", "caps", "interpreter") + zp.NAMESPACES:
        assert z.has(name), (name, r["notes"])
    assert r["layers"] & zp.ZLAYER_NO_NEW_PRIVS
    if z.has("memory_rlimit"):
        assert r["notes"] == ""
    else:  # ASan builds: RLIMIT_AS would starve the shadow memory
        assert r["notes"] == "memory_rlimit: not applied under AddressSanitizer (shadow memory)"


def test_disabled_layers_are_reported_missing(bare):
    r = bare.ready
    assert r["layers"] & zp.ZLAYER_NO_NEW_PRIVS
    for name in ("seccomp", "rlimits", "memory_rlimit", "caps") + zp.NAMESPACES:
        assert not bare.has(name), name
        assert bare.missing_note(name) == "disabled for testing", (name, r["notes"])
    assert bare.missing_note("cgroup") == "disabled for testing"
    # notes: "<layer>: <why>" entries joined by "; "
    for entry in r["notes"].split("; "):
        name, _, why = entry.partition(": ")
        assert name in zp.LAYER_BITS and why, entry


def test_every_job_still_runs_without_layers(bare):
    o = bare.run(zp.job_frames("def f(x):\n    return x * 2\n", "f", "[21]"))
    assert o.status == "succeeded" and o.result == "42"


# --- seccomp --------------------------------------------------------------------------

def test_seccomp_alone_stops_socket_open_fork(zygote_with, listener, bare):
    z = zygote_with("seccomp")
    port = listener.getsockname()[1]
    assert_violation(z.probe(f"net:{port}"), "socket")
    assert_violation(z.probe("fs"), "open", "openat")
    assert_violation(z.probe("fs:/etc/passwd"), "open", "openat")
    assert_violation(z.probe("fork"), "clone", "fork")
    assert_violation(z.probe("syscall"), "uname")
    assert_violation(z.probe("proc"), "kill")
    assert accepted(listener) == 0
    # the same attempts without the filter
    assert succeeded(bare.probe(f"net:{port}"))["connect"] == "ok"
    assert accepted(listener) == 1
    assert succeeded(bare.probe("fs:/etc/passwd"))["read"] == "ok"
    assert succeeded(bare.probe("fork"))["fork"] == "ok"


def test_seccomp_kills_foreign_abis(zygote_with, bare):
    z = zygote_with("seccomp")
    for abi in ("i386", "x32"):
        o = z.probe(f"syscall:{abi}")
        # SCMP_FLTATR_ACT_BADARCH = KILL_PROCESS: no handler, no frame
        assert o.term_signal == signal.SIGSYS and o.frames == [], (abi, o)
    control = bare.probe("syscall:i386")
    if control.term_signal is not None:
        print(f"NOTE: int 0x80 dies here without seccomp too ({control.term_signal}):"
              " the kernel has no i386 emulation")
    else:
        assert succeeded(control)["result"] > 0  # getpid went through


def test_seccomp_with_every_layer_on_is_what_stops_the_probes(zygote_with):
    """With everything on, seccomp is the first layer a probe meets."""
    z = zygote_with(*zp.DISABLEABLE)
    assert_violation(z.probe("caps"), "capget")
    assert_violation(z.probe("uid"), "getuid")
    assert_violation(z.probe("ipc:1234"), "msgget")
    if z.has("memory_rlimit"):
        o = z.probe("memory", memory_limit_mb=64)  # mmap is allowed: rlimits answer
        assert succeeded(o)["stopped_by"] == "ENOMEM"


# --- mount namespace ----------------------------------------------------------------------

def test_mountns_alone_hides_the_host_filesystem(zygote_with, bare):
    canary = tempfile.NamedTemporaryFile(prefix="sandq-canary-", dir="/tmp")
    canary.write(b"secret")
    canary.flush()
    os.chmod(canary.name, 0o644)
    z = zygote_with("mountns")
    root = succeeded(z.probe("fs"))
    assert root["open"] == "ok" and root["root_entries"] == 0 and root["names"] == []
    assert succeeded(z.probe(f"fs:{canary.name}"))["open"] == "ENOENT"
    assert succeeded(z.probe("fs:/etc/passwd"))["open"] == "ENOENT"
    assert succeeded(z.probe("fs:/proc/self/status"))["open"] == "ENOENT"
    # the control: the canary and the host root are there without the layer
    seen = succeeded(bare.probe(f"fs:{canary.name}"))
    assert seen["read"] == "ok" and seen["read_bytes"] == 6
    assert succeeded(bare.probe("fs"))["root_entries"] > 3
    canary.close()


# --- network namespace ----------------------------------------------------------------------

def test_netns_alone_reaches_no_listener(zygote_with, listener, bare):
    port = listener.getsockname()[1]
    z = zygote_with("netns")
    got = succeeded(z.probe(f"net:{port}"))
    assert got["socket"] == "ok" and got["connect"] == "ENETUNREACH", got
    assert accepted(listener) == 0
    assert succeeded(bare.probe(f"net:{port}"))["connect"] == "ok"
    assert accepted(listener) == 1


# --- pid namespace -------------------------------------------------------------------------------

def test_pidns_alone_shows_only_itself_and_its_zygote(zygote_with, bare):
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        z = zygote_with("pidns")
        seen = succeeded(z.probe("proc"))
        assert seen["visible"] == 2 and seen["pids"] == [1, seen["self"]], seen
        assert seen["self"] > 1
        assert succeeded(z.probe(f"proc:{sleeper.pid}"))["kill"] == "ESRCH"
        # without the layer the sleeper is right there, and could be killed
        assert succeeded(bare.probe(f"proc:{sleeper.pid}"))["kill"] == "ok"
        assert succeeded(bare.probe("proc"))["visible"] > 2
        assert sleeper.poll() is None
    finally:
        sleeper.kill()
        sleeper.wait()


def test_pidns_jobs_die_with_the_zygote():
    """SIGKILL to the process the supervisor started (outside the pid
    namespace) takes the fork server (parent death signal) and with it
    every job (the namespace's init is gone)."""
    z = zp.Zygote(args=disable_all_but("pidns"))
    z.wait_ready()
    if not z.has("pidns"):
        z.close()
        pytest.skip(f"layer pidns unavailable here: {z.missing_note('pidns')}")
    token, spawned, pidfd, res_r = z.start_job(
        zp.job_frames("import time\ndef f():\n    time.sleep(60)\n", "f"))
    assert spawned["pid"] > 1
    assert zp.host_pid(pidfd) != spawned["pid"]  # the zygote's view differs from ours
    os.kill(z.pid, signal.SIGKILL)
    assert select_poll(pidfd, 5000), "the job outlived its zygote"
    status = z.close()
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    os.close(pidfd)
    os.close(res_r)


def select_poll(fd, ms):
    import select
    p = select.poll()
    p.register(fd, select.POLLIN)
    return p.poll(ms)


# --- user namespace --------------------------------------------------------------------------------

@pytest.mark.skipif(not ROOT, reason="needs root: a root-owned canary and the 0 -> 65534 mapping")
def test_userns_alone_maps_to_nobody_and_cannot_write_root_files(zygote_with, bare, public_dir):
    canary = os.path.join(public_dir, "root-owned")
    with open(canary, "w") as f:
        f.write("root's")
    os.chmod(canary, 0o644)
    z = zygote_with("userns")
    ids = succeeded(z.probe("uid"))
    assert (ids["uid"], ids["euid"], ids["gid"], ids["egid"]) == (0, 0, 0, 0)
    assert ids["uid_map"] == "0 65534 1" and ids["gid_map"] == "0 65534 1", ids
    assert ids["job_pipe_owner"] == 65534  # our root is not mapped in there
    assert succeeded(z.probe(f"write:{canary}"))["open_write"] == "EACCES"
    assert succeeded(z.probe(f"fs:{canary}"))["read"] == "ok"  # 0644: reading is fine
    assert succeeded(bare.probe(f"write:{canary}"))["open_write"] == "ok"
    host = succeeded(bare.probe("uid"))
    assert host["uid_map"] == "0 0 4294967295" and host["job_pipe_owner"] == 0


@pytest.mark.skipif(not ROOT, reason="needs root to choose the sandbox uid")
def test_userns_sandbox_uid_is_configurable(zygote_with):
    z = zygote_with("userns", extra=["--sandbox-uid", "54321:54322"])
    ids = succeeded(z.probe("uid"))
    assert ids["uid_map"] == "0 54321 1" and ids["gid_map"] == "0 54322 1", ids


def test_userns_refused_by_the_host_is_reported():
    """What a container whose seccomp profile forbids CLONE_NEWUSER does:
    the zygote goes on without the layer and says why in READY."""
    z = zp.Zygote(args=[], stderr=None, preexec=lambda: deny_syscall(272, 0x10000000))
    try:
        r = z.wait_ready()
        assert not z.has("userns")
        note = z.missing_note("userns")
        assert note.startswith("unshare(CLONE_NEWUSER): Operation not permitted (needs "), note
        assert "unprivileged_userns_clone" in note and "CAP_SYS_ADMIN" in note, note
        if ROOT:  # root needs no user namespace for the others
            for name in ("mountns", "netns", "pidns", "ipcns", "utsns"):
                assert z.has(name), (name, r["notes"])
        o = z.run(zp.job_frames("def f():\n    return 7\n", "f"))
        assert o.result == "7"
    finally:
        status = z.close()
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


@pytest.mark.skipif(not ROOT, reason="needs root to become another user")
def test_unprivileged_without_userns_reports_all_six_in_full():
    """Unprivileged and no user namespace: every namespace is refused, and
    all six reasons fit READY's 512 bytes (none cut off)."""
    def pre():
        deny_syscall(272, 0x10000000)
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)

    if not _traversable_by_nobody(zp.ZYGOTE):
        pytest.skip(f"{zp.ZYGOTE} is not reachable for uid 65534")
    z = zp.Zygote(args=[], stderr=None, preexec=pre)
    try:
        r = z.wait_ready()
        assert not r["notes"].endswith("..."), r["notes"]
        assert "needs kernel.unprivileged_userns_clone=1" in z.missing_note("userns")
        for name in zp.NAMESPACES[1:]:
            assert not z.has(name)
            assert z.missing_note(name) == "EPERM without userns or CAP_SYS_ADMIN", r["notes"]
        assert z.run(zp.job_frames("def f():\n    return 7\n", "f")).result == "7"
    finally:
        status = z.close()
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def test_mountns_refused_by_the_host_is_reported():
    """mount(2) refused (as by a container's seccomp profile): no mount
    namespace layer, a note naming the failed call, the rest still on."""
    z = zp.Zygote(args=[], stderr=None, preexec=lambda: deny_syscall(165))
    try:
        r = z.wait_ready()
        assert not z.has("mountns")
        assert z.missing_note("mountns").startswith(
            "mount(/, MS_REC|MS_PRIVATE): Operation not permitted"), r["notes"]
        for name in ("userns", "netns", "pidns", "ipcns", "utsns", "seccomp", "caps"):
            assert z.has(name), (name, r["notes"])
        assert z.run(zp.job_frames("def f():\n    return 7\n", "f")).result == "7"
    finally:
        status = z.close()
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def deny_syscall(nr, arg0_bits=None):
    """Install a seccomp filter: system call nr fails with EPERM (only when
    its first argument has one of arg0_bits, if given)."""
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_no_new_privs, pr_set_seccomp, seccomp_mode_filter = 38, 22, 2
    ret_allow, ret_errno = 0x7FFF0000, 0x00050000
    ld_w_abs, jeq_k, jset_k, ret_k = 0x20, 0x15, 0x45, 0x06

    def insn(code, jt, jf, k):
        return struct.pack("HBBI", code, jt, jf, k)

    prog = b"".join([
        insn(ld_w_abs, 0, 0, 0),                 # nr
        insn(jeq_k, 0, 3, nr),
        insn(ld_w_abs, 0, 0, 16),                # args[0], low half
        # with arg0_bits: allow unless one is set; without: a no-op jump
        insn(jset_k, 0, 1, arg0_bits) if arg0_bits else insn(jeq_k, 0, 0, 0),
        insn(ret_k, 0, 0, ret_errno | errno.EPERM),
        insn(ret_k, 0, 0, ret_allow),
    ])
    buf = ctypes.create_string_buffer(prog)

    class Fprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = Fprog(len(prog) // 8, ctypes.addressof(buf))
    if libc.prctl(pr_set_no_new_privs, 1, 0, 0, 0) != 0 or \
            libc.prctl(pr_set_seccomp, seccomp_mode_filter, ctypes.byref(fprog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "installing the test's seccomp filter")


@pytest.mark.skipif(not ROOT, reason="needs root to become another user")
def test_unprivileged_zygote_maps_to_its_own_uid(zygote_with):
    """Started as nobody, the zygote maps 0 inside to its own uid."""
    def become_nobody():
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)

    if not os.access(zp.ZYGOTE, os.X_OK) or not _traversable_by_nobody(zp.ZYGOTE):
        pytest.skip(f"{zp.ZYGOTE} is not reachable for uid 65534")
    z = zygote_with(*zp.NAMESPACES, preexec=become_nobody)
    ids = succeeded(z.probe("uid"))
    assert ids["uid"] == 0 and ids["uid_map"] == "ENOENT"  # no /proc in the mount ns
    assert ids["job_pipe_owner"] == 65534  # root (the test) is not mapped
    o = z.run(zp.job_frames("def f():\n    return 'ok'\n", "f"))
    assert o.result == '"ok"'


def _traversable_by_nobody(path):
    d = os.path.dirname(path)
    while d and d != "/":
        if not os.stat(d).st_mode & 0o001:
            return False
        d = os.path.dirname(d)
    return True


# --- capabilities ------------------------------------------------------------------------------------

def test_caps_alone_leave_nothing(zygote_with, bare, public_dir):
    z = zygote_with("caps")
    caps = succeeded(z.probe("caps"))
    assert caps["CapEff"] == caps["CapPrm"] == caps["CapInh"] == "0" * 16, caps
    assert caps["bounding"] == 0
    full = succeeded(bare.probe("caps"))
    assert full["CapEff"] != "0" * 16 and full["bounding"] > 0
    if ROOT:
        # root without CAP_DAC_OVERRIDE cannot open someone else's 0600 file
        canary = os.path.join(public_dir, "nobodys")
        with open(canary, "w") as f:
            f.write("x")
        os.chmod(canary, 0o600)
        os.chown(canary, 65534, 65534)
        assert succeeded(z.probe(f"write:{canary}"))["open_write"] == "EACCES"
        assert succeeded(bare.probe(f"write:{canary}"))["open_write"] == "ok"


# --- rlimits ------------------------------------------------------------------------------------------

def test_rlimits_alone_stop_memory_near_the_limit(zygote_with, bare):
    z = zygote_with("rlimits")
    skip_without_memory_rlimit(z)
    got = succeeded(z.probe("memory", memory_limit_mb=64))
    assert got["stopped_by"] == "ENOMEM" and 32 <= got["allocated_mib"] <= 65, got
    free = succeeded(bare.probe("memory", memory_limit_mb=64))
    assert free["stopped_by"] == "cap" and free["allocated_mib"] == 2 * 64 + 64


def test_rlimits_stop_fork(zygote_with, bare):
    # RLIMIT_NPROC counts the real uid's processes; the kernel exempts host
    # root from it, so as root it needs the user namespace's mapping too.
    keep = ("rlimits", "userns") if ROOT else ("rlimits",)
    z = zygote_with(*keep)
    assert succeeded(z.probe("fork"))["fork"] == "EAGAIN"
    assert succeeded(bare.probe("fork"))["fork"] == "ok"


# --- ipc and uts namespaces -----------------------------------------------------------------------------

def test_ipcns_alone_hides_host_message_queues(zygote_with, bare):
    libc = ctypes.CDLL(None, use_errno=True)
    key = 0x5A000000 | (os.getpid() & 0xFFFFFF)
    qid = libc.msgget(key, 0o1000 | 0o600)  # IPC_CREAT
    assert qid >= 0, os.strerror(ctypes.get_errno())
    try:
        z = zygote_with("ipcns")
        assert succeeded(z.probe(f"ipc:{key}"))["msgget"] == "ENOENT"
        assert succeeded(bare.probe(f"ipc:{key}"))["msgget"] == "ok"
    finally:
        libc.msgctl(qid, 0, None)  # IPC_RMID


def test_utsns_alone_has_its_own_hostname(zygote_with, bare):
    z = zygote_with("utsns")
    names = succeeded(z.probe("syscall"))
    assert names["nodename"] == "sandq" and names["domainname"] == "(none)"
    assert succeeded(bare.probe("syscall"))["nodename"] == os.uname().nodename


# --- the cgroup step ---------------------------------------------------------------------------------------

@pytest.fixture
def cgroup_dir():
    """make(base) -> a fresh cgroup directory under base, removed after."""
    made = []

    def make(base):
        if not os.path.isdir(base) or not os.access(base, os.W_OK):
            reason = f"no writable cgroup hierarchy at {base}"
            print("SKIP:", reason)
            pytest.skip(reason)
        path = os.path.join(base, f"sandq-test-{uuid.uuid4().hex[:8]}")
        os.mkdir(path)
        made.append(path)
        return path

    yield make
    for path in made:
        for _ in range(100):
            try:
                os.rmdir(path)
                break
            except OSError as e:
                if e.errno == errno.ENOENT:
                    break
                time.sleep(0.02)  # a reaped child leaves the cgroup a bit later


def procs_of(cgroup):
    with open(os.path.join(cgroup, "cgroup.procs")) as f:
        return {int(line) for line in f if line.strip()}


SLEEPY = zp.job_frames("import time\ndef f():\n    time.sleep(0.4)\n    return 1\n", "f")


@pytest.mark.parametrize("base", [CGROUP_V1_PIDS, CGROUP_V2], ids=["v1-pids", "v2"])
def test_cgroup_step_moves_the_child(zygote_with, cgroup_dir, base):
    cg = cgroup_dir(base)
    z = zygote_with(*zp.DISABLEABLE)
    fd = os.open(os.path.join(cg, "cgroup.procs"), os.O_WRONLY)
    try:
        job = z.start_job(SLEEPY, cgroup_fds=[fd])
    finally:
        os.close(fd)
    token, spawned, pidfd, res_r = job
    assert spawned["pid"] > 0, spawned
    host = zp.host_pid(pidfd)
    deadline = time.monotonic() + 5
    while host not in procs_of(cg) and time.monotonic() < deadline:
        time.sleep(0.005)  # the child joins as its first step, very soon
    assert host in procs_of(cg)
    o = z.finish_job(*job)
    assert o.result == "1" and o.timings["cgroup"] >= 0


def test_cgroup_step_disabled_leaves_the_child_where_it_was(zygote_with, cgroup_dir):
    cg = cgroup_dir(CGROUP_V1_PIDS)
    z = zygote_with(*[n for n in zp.DISABLEABLE if n != "cgroup"])
    fd = os.open(os.path.join(cg, "cgroup.procs"), os.O_WRONLY)
    try:
        job = z.start_job(SLEEPY, cgroup_fds=[fd])
    finally:
        os.close(fd)
    host = zp.host_pid(job[2])
    time.sleep(0.2)  # well past the cgroup step
    assert host not in procs_of(cg)
    assert z.finish_job(*job).result == "1"


def test_cgroup_limits_apply_to_the_job(zygote_with, cgroup_dir, bare):
    """The point of joining first: the slot's pids.max holds even with
    seccomp and the rlimits off."""
    cg = cgroup_dir(CGROUP_V1_PIDS)
    with open(os.path.join(cg, "pids.max"), "w") as f:
        f.write("1")
    z = zygote_with("cgroup")
    fd = os.open(os.path.join(cg, "cgroup.procs"), os.O_WRONLY)
    try:
        o = z.run(zp.probe_frames("fork"), cgroup_fds=[fd])
    finally:
        os.close(fd)
    assert succeeded(o)["fork"] == "EAGAIN"


def test_cgroup_bad_fd_fails_closed_in_the_zygote(zygote_with):
    z = zygote_with(*zp.DISABLEABLE)
    r, w = os.pipe()
    try:
        token, spawned, pidfd = z.spawn(r, w, cgroup_fds=[w])
    finally:
        os.close(r)
        os.close(w)
    assert spawned["pid"] == -1 and pidfd is None
    assert zp.ZSTEPS[spawned["err_step"]] == "cgroup" and spawned["err_errno"] == errno.EBADF


def test_cgroup_write_failure_fails_closed_in_the_child(zygote_with, cgroup_dir):
    """A cgroup removed after its cgroup.procs was opened: the write fails
    (ENODEV), and the child reports the step and never runs the job."""
    cg = cgroup_dir(CGROUP_V1_PIDS)
    fd = os.open(os.path.join(cg, "cgroup.procs"), os.O_WRONLY)
    os.rmdir(cg)
    z = zygote_with(*zp.DISABLEABLE)
    try:
        o = z.run(zp.job_frames("def f():\n    return 1\n", "f"), cgroup_fds=[fd])
    finally:
        os.close(fd)
    assert o.exit_code == zp.ZEXIT_SANDBOX, o
    assert o.frames == [("E", f"cgroup {errno.ENODEV}".encode())], o
