/* zygote_main.c - sandq-zygote: argv, process hygiene, then the zygote.
 *
 * Started by sandq-worker with the control socket as fd 3 (zproto.h) and
 * an empty environment. Not meant to be run by hand. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "log.h"
#include "parse.h"
#include "zproto.h"
#include "zygote.h"

#define MAX_MODULES 256

#ifdef __SANITIZE_ADDRESS__
/* CPython is never finalised (nothing would be gained before exit), so
 * its allocations are not leaks; ours are still reported. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libpython3.11.so\n";
}
#endif

struct options {
    enum log_level level;
    const char *modules[MAX_MODULES];
    size_t n_modules;
    struct zygote_config cfg;
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sandq-zygote [--log-level debug|info|warn|error] [--modules m1,m2,...]\n"
            "                    [--sandbox-uid UID[:GID]] [--allow-missing LAYERS]\n"
            "                    [--unsafe-disable-layers LAYERS]\n"
            "\n"
            "The job zygote of sandq-worker: an initialised CPython that forks one\n"
            "sandboxed child per job. It talks to the worker over fd %d only.\n"
            "\n"
            "  --log-level L    log threshold (default info)\n"
            "  --modules LIST   comma-separated import allowlist, replacing the default\n"
            "  --sandbox-uid UID[:GID]\n"
            "                   what uid/gid 0 in the user namespace is outside (root:\n"
            "                   default 65534:65534; otherwise only the caller's own ids)\n"
            "  --allow-missing LAYERS\n"
            "                   layers that may be missing: logged as a warning instead\n"
            "                   of an error (the zygote always goes on and reports every\n"
            "                   missing layer in READY; the worker decides)\n"
            "  --unsafe-disable-layers LAYERS\n"
            "                   FOR TESTS ONLY: leave these layers out (reported missing,\n"
            "                   \"disabled for testing\")\n"
            "  --help           this text\n"
            "\n"
            "LAYERS: comma-separated names from seccomp, rlimits (all of them),\n"
            "memory_rlimit (RLIMIT_AS only), no_new_privs (never actually disabled),\n"
            "caps, userns, mountns, netns, pidns, ipcns, utsns, namespaces (all six),\n"
            "cgroup (children do not join their cgroups), interpreter.\n",
            ZPROTO_FD);
}

/* A dotted Python module name: identifiers joined by single dots. */
static int module_name_valid(const char *name)
{
    int at_start = 1;
    if (!*name)
        return 0;
    for (const char *p = name; *p; p++) {
        int alpha = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_';
        int digit = *p >= '0' && *p <= '9';
        if (*p == '.' ? at_start : !(alpha || (digit && !at_start)))
            return 0;
        at_start = *p == '.';
    }
    return !at_start;
}

/* Split "a,b,c" in place into opts->modules. -EINVAL names the culprit. */
static int parse_modules(char *list, struct options *opts)
{
    opts->n_modules = 0;
    for (char *save = NULL, *name = strtok_r(list, ",", &save); name;
         name = strtok_r(NULL, ",", &save)) {
        if (!module_name_valid(name)) {
            fprintf(stderr, "sandq-zygote: invalid module name '%s'\n", name);
            return -EINVAL;
        }
        if (opts->n_modules == MAX_MODULES) {
            fprintf(stderr, "sandq-zygote: more than %d modules\n", MAX_MODULES);
            return -E2BIG;
        }
        opts->modules[opts->n_modules++] = name;
    }
    if (opts->n_modules == 0) {
        fprintf(stderr, "sandq-zygote: --modules needs at least one name\n");
        return -EINVAL;
    }
    return 0;
}

/* "UID" or "UID:GID" (GID defaults to UID); 0 would make the sandbox
 * root the real root, so it is refused. */
static int parse_sandbox_ids(const char *text, struct zygote_config *cfg)
{
    char uid_text[16];
    const char *colon = strchr(text, ':');
    size_t n = colon ? (size_t)(colon - text) : strlen(text);
    unsigned uid, gid;
    if (n == 0 || n >= sizeof(uid_text))
        goto bad;
    memcpy(uid_text, text, n);
    uid_text[n] = '\0';
    if (parse_uint(uid_text, 1, 0xfffffffe, &uid) < 0)
        goto bad;
    gid = uid;
    if (colon && parse_uint(colon + 1, 1, 0xfffffffe, &gid) < 0)
        goto bad;
    cfg->have_sandbox_ids = true;
    cfg->sandbox_uid = (uid_t)uid;
    cfg->sandbox_gid = (gid_t)gid;
    return 0;
bad:
    fprintf(stderr, "sandq-zygote: --sandbox-uid '%s': want UID[:GID], each 1..4294967294\n",
            text);
    return -EINVAL;
}

static int parse_layer_list(const char *flag, char *list, uint32_t *ret)
{
    const char *bad = NULL;
    if (zygote_parse_layers(list, ret, &bad) < 0) {
        fprintf(stderr, "sandq-zygote: %s: unknown layer '%s'\n", flag, bad);
        return -EINVAL;
    }
    if (*ret == 0) {
        fprintf(stderr, "sandq-zygote: %s needs at least one layer\n", flag);
        return -EINVAL;
    }
    return 0;
}

/* One option other than --help; -EINVAL when it is unusable. */
static int parse_option(int c, char *arg, struct options *opts)
{
    switch (c) {
    case 'l':
        if (log_level_parse(arg, &opts->level) == 0)
            return 0;
        fprintf(stderr, "sandq-zygote: invalid log level '%s'\n", arg);
        return -EINVAL;
    case 'm':
        return parse_modules(arg, opts);
    case 'u':
        return parse_sandbox_ids(arg, &opts->cfg);
    case 'a':
        return parse_layer_list("--allow-missing", arg, &opts->cfg.allowed_missing);
    case 'd':
        return parse_layer_list("--unsafe-disable-layers", arg, &opts->cfg.disabled);
    default:
        usage(stderr);
        return -EINVAL;
    }
}

/* ARGS_RUN to go on, or the exit code to leave with. */
#define ARGS_RUN (-1)

static int parse_args(int argc, char **argv, struct options *opts)
{
    static const struct option longopts[] = {
        {"log-level", required_argument, NULL, 'l'},
        {"modules", required_argument, NULL, 'm'},
        {"sandbox-uid", required_argument, NULL, 'u'},
        {"allow-missing", required_argument, NULL, 'a'},
        {"unsafe-disable-layers", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {0}};
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            return EXIT_SUCCESS;
        }
        if (parse_option(c, optarg, opts) < 0)
            return 2;
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    return ARGS_RUN;
}

/* Die with the worker. getppid() is compared with its value from before
 * the prctl, so a worker that died in between is noticed too. */
static int follow_parent(void)
{
    pid_t parent = getppid();
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) {
        log_error("setting the parent death signal failed: %s", strerror(errno));
        return -errno;
    }
    if (getppid() != parent) {
        log_error("the worker exited before the zygote started");
        return -ESRCH;
    }
    return 0;
}

/* Only fds 0-3 survive: 0-2 point somewhere (so a received fd never lands
 * there by accident), nothing the worker forgot to mark CLOEXEC leaks into
 * job children, and the environment (which could hold the worker's
 * secrets) is gone before CPython copies it into os.environ. */
static int sanitize_process(void)
{
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
            continue;
        int null = open("/dev/null", O_RDWR); /* lowest free: fd itself */
        if (null < 0)
            return -errno;
        if (null != fd) {
            close(null);
            return -EBADF;
        }
    }
    if (close_range(ZPROTO_FD + 1, ~0U, 0) < 0)
        return -errno;
    return clearenv() == 0 ? 0 : -ENOMEM;
}

int main(int argc, char **argv)
{
    struct options opts = {.level = LOG_LEVEL_INFO};
    int r = parse_args(argc, argv, &opts);
    if (r != ARGS_RUN)
        return r;
    log_setup(opts.level, "zygote");
    if (follow_parent() < 0)
        return EXIT_FAILURE;
    if ((r = sanitize_process()) < 0) {
        log_error("preparing the process failed: %s", strerror(-r));
        return EXIT_FAILURE;
    }
    opts.cfg.modules = opts.modules;
    opts.cfg.n_modules = opts.n_modules;
    return zygote_run(&opts.cfg) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
