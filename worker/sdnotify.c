/* sdnotify.c - see sdnotify.h and sd_notify(3) for the protocol. */
#include "sdnotify.h"

#include "parse.h"
#include "util.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static char notify_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static uint64_t watchdog_usec;

void sdnotify_init(void)
{
    const char *path = getenv("NOTIFY_SOCKET");
    const char *wd = getenv("WATCHDOG_USEC");
    const char *wd_pid = getenv("WATCHDOG_PID");
    if (path && (path[0] == '/' || path[0] == '@') &&
        strlen(path) < sizeof(notify_path))
        strcpy(notify_path, path);
    uint64_t pid = 0;
    bool for_us = !wd_pid ||
                  (parse_u64(wd_pid, strlen(wd_pid), 1, INT32_MAX, &pid) == 0 &&
                   pid == (uint64_t)getpid());
    if (wd && for_us)
        (void)parse_u64(wd, strlen(wd), 1, UINT64_MAX, &watchdog_usec);
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
}

int sdnotify_send(const char *state)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (!notify_path[0])
        return 0;
    size_t len = strlen(notify_path);
    memcpy(sa.sun_path, notify_path, len);
    if (sa.sun_path[0] == '@')
        sa.sun_path[0] = '\0'; /* abstract namespace */
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa,
               salen) < 0)
        return -errno;
    return 0;
}

uint64_t sdnotify_watchdog_usec(void)
{
    return watchdog_usec;
}
