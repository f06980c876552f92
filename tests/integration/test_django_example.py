"""The Django example (tools/django_example) against a real redis-server and
the real worker: Django's test client in-process, manage.py sandq_check,
run.sh, and the rendered page in headless Chromium."""
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest

from conftest import REPO, free_port, wait_until

EXAMPLE = os.path.join(REPO, "tools", "django_example")
PY = "/usr/bin/python3"
sys.path.insert(0, os.path.join(REPO, "tools", "python"))
sys.path.insert(0, EXAMPLE)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sandq_site.settings")

django = pytest.importorskip("django", reason="python3-django not installed "
                             "(run scripts/install-deps.sh)")
django.setup()

from django.core.files.uploadedfile import SimpleUploadedFile  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.core.management.base import CommandError  # noqa: E402
from django.test import Client as WebClient, override_settings  # noqa: E402

SEED = "def somefunctionname(xs):\n    return sum(xs)/len(xs)\n"
MEANS = ["22.360000000000003", "5.0", "8.285714285714286", "42.0"]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def site(redis_server, prefix):
    with override_settings(SANDQ_REDIS_URL=redis_server.url, SANDQ_PREFIX=prefix,
                           SANDQ_WAIT_SECONDS=20):
        yield WebClient()


def upload(site, code, function="somefunctionname", url="/", name="mine.py"):
    f = SimpleUploadedFile(name, code.encode(), content_type="text/x-python")
    return site.post(url, {"file": f, "function": function})


def values(html):
    return re.findall(r'<span class="value">(.*?)</span>', html)


def errors(html):
    return re.findall(r'<span class="error">(.*?)</span>', html)


def problem(html):
    m = re.search(r'<div class="problem" id="problem">(.*?)</div>', html, re.S)
    return m.group(1) if m else None


def text(response):
    assert response.status_code == 200, response.status_code
    return response.content.decode()


# --- pages, in-process ---------------------------------------------------

def test_form_page(site):
    html = text(site.get("/"))
    assert 'type="file"' in html and 'name="function"' in html
    assert 'value="somefunctionname"' in html
    assert "/examples/mean/" in html and "csrfmiddlewaretoken" in html


def test_upload_shows_each_float_and_the_error(worker, site, jobs):
    html = text(upload(site, SEED))
    assert values(html) == MEANS
    assert errors(html) == ["ZeroDivisionError: division by zero"]
    assert problem(html) is None
    (key,) = jobs.r.keys(jobs.key("job", "*"))  # the code lives in the job hash only
    assert jobs.r.hget(key, "code") == SEED


def test_upload_syntax_error_shows_line(worker, site):
    html = text(upload(site, "def somefunctionname(xs):\n    return sum(xs) / len(xs\n"))
    p = problem(html)
    assert "rejected" in p and "SyntaxError" in p and "line 2" in p
    assert values(html) == [] and errors(html) == []


def test_upload_forbidden_import(worker, site):
    p = problem(text(upload(site, "import os\n" + SEED)))
    assert "ForbiddenImport" in p and "os" in p


def test_upload_missing_function(worker, site):
    p = problem(text(upload(site, SEED, function="mean")))
    assert "FunctionNotFound" in p and "mean" in p


def test_upload_timeout(worker, site):
    with override_settings(SANDQ_TIME_LIMIT_MS=300):
        t0 = time.monotonic()
        p = problem(text(upload(site, "def f(xs):\n    while True:\n        pass\n", "f")))
    assert "ran out of time" in p and "TimeLimit" in p
    assert time.monotonic() - t0 < 5


def test_upload_raising_at_top_level_shows_traceback(worker, site):
    html = text(upload(site, "x = 1 / 0\n" + SEED))
    p = problem(html)
    assert "raised an exception" in p and "ZeroDivisionError" in p and 'line 1' in p


@pytest.mark.parametrize("name,code,function,needle", [
    ("mine.txt", SEED, "somefunctionname", "Upload a .py file"),
    ("mine.py", SEED, "not a name", "Not a Python function name"),
    ("mine.py", "#" * (70 * 1024), "f", "the limit is"),
])
def test_form_errors(site, jobs, name, code, function, needle):
    html = text(upload(site, code, function, name=name))
    assert needle in html
    assert jobs.r.keys(jobs.prefix + ":*") == []


def test_oversized_request_refused_before_reading(site):
    r = upload(site, "#" * (300 * 1024), "f")
    assert r.status_code == 413


def test_uploads_stay_in_memory():
    from django.conf import settings
    assert settings.FILE_UPLOAD_HANDLERS == [
        "django.core.files.uploadhandler.MemoryFileUploadHandler"]
    assert settings.MAX_REQUEST_BYTES < settings.FILE_UPLOAD_MAX_MEMORY_SIZE
    assert settings.DATABASES["default"]["ENGINE"] == "django.db.backends.dummy"


def test_async_view(worker, site):
    html = text(upload(site, SEED, url="/async/"))
    assert values(html) == MEANS
    assert errors(html) == ["ZeroDivisionError: division by zero"]
    p = problem(text(upload(site, "import socket\n" + SEED, url="/async/")))
    assert "ForbiddenImport" in p


def test_stored_examples(worker, site):
    html = text(site.get("/examples/mean/"))
    assert values(html) == MEANS and "def somefunctionname" in html
    assert "StatisticsError" in errors(text(site.get("/examples/median/")))[0]
    # The restricted interpreter rejects the escape before it runs (the
    # seccomp layer beneath is shown by tests/integration/test_layers.py).
    p = problem(text(site.get("/examples/escape/")))
    assert "_os" in p and "not allowed" in p
    assert site.get("/examples/nope/").status_code == 404


def test_no_worker_says_so_and_cancels(site, jobs):
    with override_settings(SANDQ_WAIT_SECONDS=0.5):
        p = problem(text(upload(site, SEED)))
    assert "No sandq worker answered" in p
    assert jobs.r.llen(jobs.key("queue", "default")) == 0
    (key,) = jobs.r.keys(jobs.key("job", "*"))
    assert jobs.r.hget(key, "status") == "canceled"


def test_submit_then_poll(site, jobs, start_worker):
    r = upload(site, SEED, url="/submit/")
    assert r.status_code == 302
    job_id = re.fullmatch(r"/jobs/([^/]+)/", r["Location"]).group(1)
    pending = text(site.get(r["Location"]))
    assert 'id="pending"' in pending and "status.json" in pending  # no worker yet
    status = json.loads(site.get(f"/jobs/{job_id}/status.json").content)
    assert status == {"id": job_id, "status": "queued", "final": False}
    start_worker("--slots", "1")
    assert wait_until(lambda: json.loads(
        site.get(f"/jobs/{job_id}/status.json").content)["final"], timeout=20)
    data = json.loads(site.get(f"/jobs/{job_id}/status.json").content)
    assert data["status"] == "failed" and data["problem"] is None  # [] raised in one call
    assert [row["value"] for row in data["rows"][:4]] == MEANS
    assert data["rows"][4]["error"] == "ZeroDivisionError: division by zero"
    html = text(site.get(r["Location"]))
    assert values(html) == MEANS and 'id="pending"' not in html


def test_unknown_job(site):
    assert site.get("/jobs/nope/").status_code == 404
    r = site.get("/jobs/nope/status.json")
    assert r.status_code == 404 and json.loads(r.content)["id"] == "nope"
    assert site.get("/jobs/bad%20id/status.json").status_code == 404


# --- manage.py sandq_check -----------------------------------------------

def check(**kw):
    out = io.StringIO()
    call_command("sandq_check", stdout=out, **kw)
    return out.getvalue()


def test_check_sees_heartbeat(worker, site, jobs):
    assert wait_until(lambda: jobs.r.keys(jobs.key("worker", "*")), timeout=10)
    out = check()
    assert out.startswith("ok: 1 worker(s) alive") and "queue 'default'" in out
    assert check(ping=True).startswith("ok: a worker ran a test job")


def test_check_falls_back_to_a_test_job(start_worker, site, jobs):
    start_worker("--slots", "1", "--heartbeat-ms", "600000", "--heartbeat-ttl-ms", "3600000")
    # the one beat at connect must have happened before it is deleted
    assert wait_until(lambda: jobs.r.keys(jobs.key("worker", "*")), timeout=10)
    for key in jobs.r.keys(jobs.key("worker", "*")):
        jobs.r.delete(key)
    out = check(timeout=10)
    assert out.startswith("ok: a worker ran a test job") and "(no heartbeat key)" in out


def test_check_worker_on_other_queue_does_not_count(start_worker, site):
    start_worker("--slots", "1", "--queue", "other")
    with pytest.raises(CommandError, match="no sandq worker is alive"):
        check(timeout=0.3)


def test_check_fails_without_worker(redis_server, prefix, jobs):
    env = dict(os.environ, SANDQ_REDIS_URL=redis_server.url, SANDQ_PREFIX=prefix)
    p = subprocess.run([PY, "manage.py", "sandq_check", "--timeout", "0.5"], cwd=EXAMPLE,
                       env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    assert "no sandq worker is alive" in p.stderr and f"prefix '{prefix}'" in p.stderr
    assert jobs.r.llen(jobs.key("queue", "default")) == 0  # the test job was canceled


def test_check_fails_without_redis():
    with override_settings(SANDQ_REDIS_URL=f"redis://:secret@127.0.0.1:{free_port()}/0"):
        with pytest.raises(CommandError, match="cannot reach") as info:
            check(timeout=0.3)
    assert "secret" not in str(info.value)


# --- real servers and a real browser --------------------------------------

def wait_port(port, proc, timeout=30):
    def up():
        if proc.poll() is not None:
            return True
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            return False
    assert wait_until(up, timeout=timeout) and proc.poll() is None, "server did not start"


@pytest.fixture
def runserver(redis_server, prefix):
    port = free_port()
    env = dict(os.environ, SANDQ_REDIS_URL=redis_server.url, SANDQ_PREFIX=prefix)
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen([PY, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
                            cwd=EXAMPLE, env=env, stdout=log, stderr=subprocess.STDOUT)
    wait_port(port, proc)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)
    log.close()


def chromium_dom(url):
    with tempfile.TemporaryDirectory(prefix="sandq-chromium-") as profile:
        p = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                            "--disable-quic", "--no-first-run",
                            "--disable-background-networking", "--disable-component-update",
                            "--disable-sync", f"--user-data-dir={profile}", "--dump-dom", url],
                           capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    return p.stdout


def test_results_page_in_chromium(worker, runserver):
    if not CHROMIUM:
        print("SKIP: chromium not installed (apt-get install chromium)")
        pytest.skip("chromium not installed (apt-get install chromium)")
    dom = chromium_dom(runserver + "/examples/mean/")
    assert values(dom) == MEANS
    assert errors(dom) == ["ZeroDivisionError: division by zero"]
    dom = chromium_dom(runserver + "/examples/syntax-error/")
    assert "SyntaxError" in problem(dom) and "line 2" in problem(dom)


def test_run_sh(tmp_path):
    port = free_port()
    env = dict(os.environ, PORT=str(port), SANDQ_PREFIX="runsh")
    log_path = tmp_path / "run.log"
    out = open(log_path, "ab")  # its own offset: reading below must not move it
    proc = subprocess.Popen(["sh", os.path.join(EXAMPLE, "run.sh")], stdout=out,
                            stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        def announced():
            return (proc.poll() is not None
                    or f"sandq Django example: http://127.0.0.1:{port}/" in log_path.read_text())
        assert wait_until(announced, timeout=120) and proc.poll() is None, log_path.read_text()
        html = urllib.request.urlopen(f"http://127.0.0.1:{port}/examples/mean/",
                                      timeout=30).read().decode()
        assert values(html) == MEANS
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
        out.close()
    log = log_path.read_text()
    m = re.search(r"worker log (/tmp/sandq-django\.\w+)/", log)
    assert m, log
    tmpdir = m.group(1)
    assert not os.path.exists(tmpdir), "run.sh left its temp dir"
