/* test_layers.c - layer names and the rule that a worker never starts with
 * fewer sandbox layers than asked (worker/layers.c, compiled in here since
 * it is not part of the common library). */
#include "harness.h"

#include "../../worker/layers.c"

#include <stdio.h>

TEST(parse_names_and_groups)
{
    uint32_t bits = 0;
    const char *bad = NULL;
    CHECK_EQ_INT(layers_parse("seccomp,netns", &bits, &bad), 0);
    CHECK_EQ_UINT(bits, ZLAYER_SECCOMP | ZLAYER_NETNS);
    CHECK_EQ_INT(layers_parse("namespaces", &bits, &bad), 0);
    CHECK_EQ_UINT(bits, ZLAYER_NAMESPACES);
    CHECK_EQ_INT(layers_parse("", &bits, &bad), 0);
    CHECK_EQ_UINT(bits, 0);
    CHECK_EQ_INT(layers_parse(NULL, &bits, &bad), 0);
    CHECK_EQ_UINT(bits, 0);
    CHECK_EQ_INT(layers_parse("cgroup,,interpreter,", &bits, &bad), 0);
    CHECK_EQ_UINT(bits, ZLAYER_CGROUP | ZLAYER_INTERPRETER);
}

TEST(parse_rejects_unknown_names)
{
    uint32_t bits = 7;
    const char *bad = NULL;
    const char *list = "seccomp,selinux,netns";
    CHECK_EQ_INT(layers_parse(list, &bits, &bad), -EINVAL);
    CHECK(bad == list + 8);
    CHECK_EQ_UINT(bits, 7); /* untouched on failure */
    CHECK_EQ_INT(layers_parse("netns2", &bits, &bad), -EINVAL);
    CHECK_EQ_INT(layers_parse("net", &bits, &bad), -EINVAL);
}

TEST(format_round_trips)
{
    char buf[256];
    uint32_t bits = 0;
    const char *bad;
    layers_format(ZLAYER_CAPS | ZLAYER_PIDNS | ZLAYER_SECCOMP, buf, sizeof(buf));
    CHECK_STREQ(buf, "seccomp,caps,pidns");
    CHECK_EQ_INT(layers_parse(buf, &bits, &bad), 0);
    CHECK_EQ_UINT(bits, ZLAYER_CAPS | ZLAYER_PIDNS | ZLAYER_SECCOMP);
    layers_format(0, buf, sizeof(buf));
    CHECK_STREQ(buf, "");
}

TEST(all_active_is_never_refused)
{
    struct layers_state st = {.active = LAYERS_ALL, .notes = ""};
    CHECK_EQ_UINT(layers_refused(&st), 0);
}

TEST(missing_layer_refused_unless_allowed_or_disabled)
{
    struct layers_state st = {.active = LAYERS_ALL & ~(ZLAYER_USERNS | ZLAYER_CGROUP)};
    CHECK_EQ_UINT(layers_refused(&st), ZLAYER_USERNS | ZLAYER_CGROUP);
    st.allowed_missing = ZLAYER_CGROUP;
    CHECK_EQ_UINT(layers_refused(&st), ZLAYER_USERNS);
    st.disabled = ZLAYER_USERNS;
    CHECK_EQ_UINT(layers_refused(&st), 0);
    /* allowing a layer that is present changes nothing */
    st = (struct layers_state){.active = LAYERS_ALL & ~ZLAYER_SECCOMP,
                               .allowed_missing = ZLAYER_NETNS};
    CHECK_EQ_UINT(layers_refused(&st), ZLAYER_SECCOMP);
}

TEST(rlimits_covers_the_memory_rlimit)
{
    struct layers_state st = {.active = LAYERS_ALL & ~(ZLAYER_RLIMITS |
                                                       ZLAYER_MEMORY_RLIMIT)};
    st.disabled = ZLAYER_RLIMITS;
    CHECK_EQ_UINT(layers_refused(&st), 0);
    st.disabled = 0;
    st.allowed_missing = ZLAYER_MEMORY_RLIMIT; /* not the other way round */
    CHECK_EQ_UINT(layers_refused(&st), ZLAYER_RLIMITS);
}

TEST(table_shows_state_and_reason)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    REQUIRE(out != NULL);
    struct layers_state st = {
        .active = LAYERS_ALL & ~(ZLAYER_USERNS | ZLAYER_CGROUP | ZLAYER_NETNS),
        .allowed_missing = ZLAYER_CGROUP,
        .disabled = ZLAYER_NETNS,
        .notes = "userns: unshare(CLONE_NEWUSER): Operation not permitted; "
                 "netns: disabled for testing",
        .cgroup_note = "no memory controller",
    };
    layers_print_table(out, &st);
    fclose(out);
    CHECK_CONTAINS(text, "userns         MISSING");
    CHECK_CONTAINS(text, "unshare(CLONE_NEWUSER): Operation not permitted");
    CHECK_CONTAINS(text, "cgroup         MISSING (allowed)");
    CHECK_CONTAINS(text, "no memory controller");
    CHECK_CONTAINS(text, "netns          DISABLED (test)");
    CHECK_CONTAINS(text, "seccomp        active");
    free(text);
}
