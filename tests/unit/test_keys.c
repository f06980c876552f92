/* test_keys.c - Redis key and channel names of PROTOCOL.md (keys.h). */
#include "harness.h"

#include "keys.h"

static void check_key(const char *file, int line, char *got, const char *want)
{
    if (!got || strcmp(got, want) != 0)
        harness_fail(file, line, "key \"%s\", want \"%s\"",
                     got ? got : "(null)", want);
    free(got);
}

#define CHECK_KEY(got, want) check_key(__FILE__, __LINE__, (got), (want))

TEST(protocol_key_names)
{
    /* Spelled exactly as in PROTOCOL.md "Keys". */
    CHECK_KEY(keys_make("sandq", KEY_QUEUE, "default"), "sandq:queue:default");
    CHECK_KEY(keys_make("sandq", KEY_JOB, "abc-1"), "sandq:job:abc-1");
    CHECK_KEY(keys_make("sandq", KEY_PROCESSING, "host:42"),
              "sandq:processing:host:42");
    CHECK_KEY(keys_make("sandq", KEY_WORKERS, NULL), "sandq:workers");
    CHECK_KEY(keys_make("sandq", KEY_WORKER, "host:42"), "sandq:worker:host:42");
    CHECK_KEY(keys_make("sandq", KEY_DEAD, NULL), "sandq:dead");
    CHECK_KEY(keys_make("sandq", KEY_STATS, NULL), "sandq:stats");
    CHECK_KEY(keys_make("sandq", KEY_DONE, "abc-1"), "sandq:done:abc-1");
    CHECK_STREQ(KEYS_DEFAULT_PREFIX, "sandq");
}

TEST(other_prefix)
{
    CHECK_KEY(keys_make("staging.v2", KEY_QUEUE, "high"),
              "staging.v2:queue:high");
    CHECK_KEY(keys_make("p", KEY_STATS, NULL), "p:stats");
}

TEST(name_kept_verbatim)
{
    /* Ids may contain ':' and '.'; they are not split or escaped. */
    CHECK_KEY(keys_make("sandq", KEY_JOB, "a:b.c_d-e"), "sandq:job:a:b.c_d-e");
    /* An empty name still gets its separator (distinct from NULL). */
    CHECK_KEY(keys_make("sandq", KEY_JOB, ""), "sandq:job:");
}

TEST(long_names)
{
    char id[129];
    memset(id, 'j', 128);
    id[128] = '\0';
    char *k = keys_make("sandq", KEY_JOB, id);
    REQUIRE(k);
    CHECK_EQ_UINT(strlen(k), strlen("sandq:job:") + 128);
    CHECK(strncmp(k, "sandq:job:", 10) == 0);
    CHECK(strcmp(k + 10, id) == 0);
    free(k);
}
