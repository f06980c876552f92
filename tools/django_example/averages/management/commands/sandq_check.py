"""manage.py sandq_check: is a sandq worker alive for this site?

Alive means a heartbeat key <prefix>:worker:<id> exists for a worker that
takes from the site's queue (PROTOCOL.md). Without one, or with --ping, a
trivial job is submitted and must come back within --timeout seconds.
Exits 0 with "ok: ..." or non-zero with the reason.
"""
import time
from urllib.parse import urlsplit, urlunsplit

import redis
import sandq
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

PING = 'def ping():\n    return "pong"\n'


def shown_url(url):
    """The Redis URL without its password."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.rsplit("@", 1)[1]
        parts = parts._replace(netloc=f"{parts.username or ''}:***@{netloc}")
    return urlunsplit(parts)


class Command(BaseCommand):
    help = "Check that a sandq worker is alive (heartbeat key, else a test job)."

    def add_arguments(self, parser):
        parser.add_argument("--timeout", type=float, default=5.0,
                            help="seconds to wait for the test job (default 5)")
        parser.add_argument("--ping", action="store_true",
                            help="always run the test job, even when heartbeats are present")

    def handle(self, *args, timeout, ping, **options):
        url, prefix, queue = settings.SANDQ_REDIS_URL, settings.SANDQ_PREFIX, settings.SANDQ_QUEUE
        where = f"Redis {shown_url(url)}, prefix '{prefix}', queue '{queue}'"
        client = sandq.Client(url, prefix=prefix, queue=queue)
        try:
            workers = client.workers(queue)
            if workers and not ping:
                self.stdout.write(f"ok: {len(workers)} worker(s) alive on {where}: "
                                  + ", ".join(workers))
                return
            self._ping(client, timeout, where, workers)
        except redis.RedisError as e:
            raise CommandError(f"cannot reach {where}: {e}")
        finally:
            client.close()

    def _ping(self, client, timeout, where, workers):
        t0 = time.monotonic()
        try:
            value = client.run(PING, "ping", timeout=timeout)
        except sandq.WaitTimeout:
            raise CommandError(
                f"no sandq worker is alive on {where}: no '{client.prefix}:worker:*' "
                f"heartbeat key for that queue, and no worker ran a test job within "
                f"{timeout:g} s")
        except sandq.JobFailed as e:
            raise CommandError(f"a worker ran the test job on {where} but it ended "
                               f"'{e.status}': {e.error_type}: {e.error}")
        if value != "pong":
            raise CommandError(f"the test job on {where} returned {value!r}, not 'pong'")
        how = "heartbeats: " + ", ".join(workers) if workers else "no heartbeat key"
        self.stdout.write(f"ok: a worker ran a test job in {1000 * (time.monotonic() - t0):.0f} ms "
                          f"on {where} ({how})")
