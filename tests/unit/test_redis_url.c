/* test_redis_url.c - the --redis / SANDQ_REDIS_URL address (redis_url.h). */
#include "harness.h"

#include "redis_url.h"

#include <errno.h>

/* Parse a URL that must be valid into *u; fails the test otherwise. */
static bool parse_ok(const char *file, int line, const char *url,
                     struct redis_url *u)
{
    const char *err = NULL;
    int r = redis_url_parse(url, u, &err);
    if (r != 0) {
        harness_fail(file, line, "'%s': %d %s", url, r, err ? err : "");
        return false;
    }
    return true;
}

#define PARSE_OK(url, u) parse_ok(__FILE__, __LINE__, (url), (u))

/* A URL that must be refused with -EINVAL, a message, and *ret untouched. */
static void parse_bad(const char *file, int line, const char *url,
                      const char *needle)
{
    struct redis_url u, before;
    const char *err = NULL;
    memset(&u, 0x5a, sizeof(u));
    memcpy(&before, &u, sizeof(before));
    int r = redis_url_parse(url, &u, &err);
    if (r == 0) {
        harness_fail(file, line, "'%s' accepted", url);
        redis_url_release(&u);
        return;
    }
    if (r != -EINVAL)
        harness_fail(file, line, "'%s': %d, want -EINVAL", url, r);
    if (memcmp(&u, &before, sizeof(u)) != 0)
        harness_fail(file, line, "'%s': *ret written on failure", url);
    if (!err)
        harness_fail(file, line, "'%s': no message", url);
    else if (needle && !strstr(err, needle))
        harness_fail(file, line, "'%s': message \"%s\" lacks \"%s\"", url, err,
                     needle);
}

#define PARSE_BAD(url, needle) parse_bad(__FILE__, __LINE__, (url), (needle))

TEST(tcp_host_only)
{
    struct redis_url u;
    REQUIRE(PARSE_OK("redis://localhost", &u));
    CHECK_STREQ(u.host, "localhost");
    CHECK_EQ_INT(u.port, 6379);
    CHECK(u.path == NULL);
    CHECK_EQ_UINT(u.db, 0);
    CHECK(u.user == NULL);
    CHECK(u.password == NULL);
    redis_url_release(&u);
}

TEST(tcp_default_url)
{
    struct redis_url u;
    REQUIRE(PARSE_OK("redis://127.0.0.1:6379/0", &u));
    CHECK_STREQ(u.host, "127.0.0.1");
    CHECK_EQ_INT(u.port, 6379);
    CHECK_EQ_UINT(u.db, 0);
    redis_url_release(&u);
}

TEST(tcp_port_bounds)
{
    struct redis_url u;
    REQUIRE(PARSE_OK("redis://h:1", &u));
    CHECK_EQ_INT(u.port, 1);
    redis_url_release(&u);
    REQUIRE(PARSE_OK("redis://h:65535/", &u));
    CHECK_EQ_INT(u.port, 65535);
    CHECK_EQ_UINT(u.db, 0);
    redis_url_release(&u);
    PARSE_BAD("redis://h:0", "port");
    PARSE_BAD("redis://h:65536", "port");
    PARSE_BAD("redis://h:", "port");
    PARSE_BAD("redis://h:-1", "port");
    PARSE_BAD("redis://h:+80", "port");
    PARSE_BAD("redis://h:80x", "port");
    PARSE_BAD("redis://h: 80", "port");
    PARSE_BAD("redis://h:18446744073709551617", "port");
    PARSE_BAD("redis://h:1:2", "port");
}

TEST(tcp_db)
{
    struct redis_url u;
    REQUIRE(PARSE_OK("redis://cache.internal:6380/15", &u));
    CHECK_STREQ(u.host, "cache.internal");
    CHECK_EQ_INT(u.port, 6380);
    CHECK_EQ_UINT(u.db, 15);
    redis_url_release(&u);
    REQUIRE(PARSE_OK("redis://h/3", &u));
    CHECK_STREQ(u.host, "h");
    CHECK_EQ_INT(u.port, 6379);
    CHECK_EQ_UINT(u.db, 3);
    redis_url_release(&u);
    REQUIRE(PARSE_OK("redis://h/1000000", &u));
    CHECK_EQ_UINT(u.db, 1000000);
    redis_url_release(&u);
    PARSE_BAD("redis://h/1000001", "database");
    PARSE_BAD("redis://h/x", "database");
    PARSE_BAD("redis://h/-1", "database");
    PARSE_BAD("redis://h/1/2", "database");
    PARSE_BAD("redis://h/1?x=y", "database");
    PARSE_BAD("redis://h/ 1", "database");
}

TEST(tcp_password)
{
    struct redis_url u;
    REQUIRE(PARSE_OK("redis://:s3cret@db.example:7000/2", &u));
    CHECK(u.user == NULL);
    CHECK_STREQ(u.password, "s3cret");
    CHECK_STREQ(u.host, "db.example");
    CHECK_EQ_INT(u.port, 7000);
    CHECK_EQ_UINT(u.db, 2);
    redis_url_release(&u);
    /* The password may hold ':' (only the first one splits). */
    REQUIRE(PARSE_OK("redis://:a:b@h", &u));
    CHECK(u.user == NULL);
    CHECK_STREQ(u.password, "a:b");
    CHECK_STREQ(u.host, "h");
    redis_url_release(&u);
}

TEST(tcp_user_and_password)
{
    struct redis_url u;
    REQUIRE(PARSE_OK("redis://worker:pw@10.0.0.5:6379/1", &u));
    CHECK_STREQ(u.user, "worker");
    CHECK_STREQ(u.password, "pw");
    CHECK_STREQ(u.host, "10.0.0.5");
    CHECK_EQ_INT(u.port, 6379);
    CHECK_EQ_UINT(u.db, 1);
    redis_url_release(&u);
}

TEST(tcp_bad)
{
    PARSE_BAD("redis://", "host");
    PARSE_BAD("redis://:6379", "host");
    PARSE_BAD("redis:///0", "host");
    PARSE_BAD("redis://:pw@", "host");
    PARSE_BAD("redis://:pw@:6379", "host");
    PARSE_BAD("", "redis://");
    PARSE_BAD("localhost:6379", "redis://");
    PARSE_BAD("http://localhost", "redis://");
    PARSE_BAD("rediss://localhost", "redis://");
    PARSE_BAD("REDIS://localhost", "redis://");
    PARSE_BAD("redis:/localhost", "redis://");
    PARSE_BAD(" redis://localhost", "redis://");
}

TEST(unix_socket)
{
    struct redis_url u;
    REQUIRE(PARSE_OK("unix:///run/redis/redis.sock", &u));
    CHECK(u.host == NULL);
    CHECK_STREQ(u.path, "/run/redis/redis.sock");
    CHECK_EQ_UINT(u.db, 0);
    CHECK(u.password == NULL);
    redis_url_release(&u);
    REQUIRE(PARSE_OK("unix:///tmp/r.sock?db=9", &u));
    CHECK_STREQ(u.path, "/tmp/r.sock");
    CHECK_EQ_UINT(u.db, 9);
    redis_url_release(&u);
    REQUIRE(PARSE_OK("unix:///tmp/r.sock?db=1000000", &u));
    CHECK_EQ_UINT(u.db, 1000000);
    redis_url_release(&u);
    /* '@' inside the path is not a password separator. */
    REQUIRE(PARSE_OK("unix:///tmp/a@b.sock", &u));
    CHECK_STREQ(u.path, "/tmp/a@b.sock");
    CHECK(u.password == NULL);
    redis_url_release(&u);
}

TEST(unix_socket_with_credentials)
{
    struct redis_url u;
    REQUIRE(PARSE_OK("unix://:pw@/var/run/redis.sock?db=3", &u));
    CHECK(u.user == NULL);
    CHECK_STREQ(u.password, "pw");
    CHECK_STREQ(u.path, "/var/run/redis.sock");
    CHECK_EQ_UINT(u.db, 3);
    redis_url_release(&u);
    REQUIRE(PARSE_OK("unix://app:pw@/s", &u));
    CHECK_STREQ(u.user, "app");
    CHECK_STREQ(u.password, "pw");
    CHECK_STREQ(u.path, "/s");
    redis_url_release(&u);
}

TEST(unix_bad)
{
    PARSE_BAD("unix://", "absolute");
    PARSE_BAD("unix://relative/path.sock", "absolute");
    PARSE_BAD("unix://?db=1", "absolute");
    PARSE_BAD("unix:///s?db=", "db");
    PARSE_BAD("unix:///s?db=x", "db");
    PARSE_BAD("unix:///s?db=-1", "db");
    PARSE_BAD("unix:///s?db=1000001", "db");
    PARSE_BAD("unix:///s?database=1", "db");
    PARSE_BAD("unix:///s?db=1&x=2", "db");
    PARSE_BAD("unix:///s?", "db");
}

TEST(release_twice_and_zeroed)
{
    struct redis_url u = {0};
    redis_url_release(&u);
    REQUIRE(PARSE_OK("redis://u:p@h:1/2", &u));
    redis_url_release(&u);
    CHECK(u.host == NULL && u.user == NULL && u.password == NULL);
    CHECK_EQ_INT(u.port, 0);
    redis_url_release(&u);
}

/* BUG (common/redis_url.c:22, parse_userinfo): the userinfo ends at the
 * first '@', so a password holding '@' (common in generated secrets) is cut
 * there and the rest becomes the host: "redis://:p@ss@db" gives password
 * "p" and host "ss@db", and the worker then logs part of the password as
 * the host it failed to reach. redis-py and urllib split at the last '@'
 * of the authority; refusing a host with '@' would also do. */
TEST(regression_password_with_at_sign)
{
    struct redis_url u;
    const char *err = NULL;
    int r = redis_url_parse("redis://:p@ss@db:6379/0", &u, &err);
    if (r < 0)
        return; /* refused: acceptable */
    CHECK_STREQ(u.host, "db");
    CHECK_STREQ(u.password, "p@ss");
    redis_url_release(&u);
}
