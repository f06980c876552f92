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
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sandq-zygote [--log-level debug|info|warn|error] [--modules m1,m2,...]\n"
            "\n"
            "The job zygote of sandq-worker: an initialised CPython that forks one\n"
            "sandboxed child per job. It talks to the worker over fd %d only.\n"
            "\n"
            "  --log-level L   log threshold (default info)\n"
            "  --modules LIST  comma-separated import allowlist, replacing the default\n"
            "  --help          this text\n",
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

/* ARGS_RUN to go on, or the exit code to leave with. */
#define ARGS_RUN (-1)

static int parse_args(int argc, char **argv, struct options *opts)
{
    static const struct option longopts[] = {
        {"log-level", required_argument, NULL, 'l'},
        {"modules", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
        {0}};
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            return EXIT_SUCCESS;
        }
        if (c == 'l' && log_level_parse(optarg, &opts->level) < 0) {
            fprintf(stderr, "sandq-zygote: invalid log level '%s'\n", optarg);
            return 2;
        }
        if (c == 'm' && parse_modules(optarg, opts) < 0)
            return 2;
        if (c != 'l' && c != 'm') {
            usage(stderr);
            return 2;
        }
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
    struct zygote_config cfg = {.modules = opts.modules, .n_modules = opts.n_modules};
    return zygote_run(&cfg) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
