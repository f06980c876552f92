/* replay.c - run a fuzz target over its saved corpus with plain gcc, so
 * `make test` re-checks every input the fuzzer ever found interesting
 * (systemd's fuzz-main.c). Prints "N passed, 0 failed" like the unit
 * tests; a crash fails the run. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -errno;
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    for (size_t n; buf && (n = fread(buf + len, 1, cap - len, f)) > 0;) {
        len += n;
        if (len == cap) {
            uint8_t *bigger = realloc(buf, cap * 2);
            if (!bigger)
                break;
            buf = bigger;
            cap *= 2;
        }
    }
    fclose(f);
    if (!buf)
        return -ENOMEM;
    LLVMFuzzerTestOneInput(buf, len);
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    unsigned passed = 0, failed = 0;
    const char *dir = argc > 1 ? argv[1] : REPLAY_DIR;
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
        printf("0 passed, 1 failed\n");
        return 1;
    }
    for (struct dirent *e; (e = readdir(d));) {
        char path[4096];
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (replay_file(path) == 0)
            passed++;
        else
            failed++;
    }
    closedir(d);
    printf("%u passed, %u failed\n", passed, failed);
    return failed ? 1 : 0;
}
