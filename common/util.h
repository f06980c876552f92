/* util.h - small helpers shared by every sandq module: cleanup attributes,
 * ownership transfer and errno-preserving close. Header-only. */
#ifndef SANDQ_UTIL_H
#define SANDQ_UTIL_H

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Close an fd without disturbing errno (cleanup must never change it). */
static inline void close_keep_errno(int fd)
{
    int saved = errno;
    if (fd >= 0)
        (void)close(fd);
    errno = saved;
}

static inline void cleanup_fd(int *fd) { close_keep_errno(*fd); }
static inline void cleanup_ptr(void *p)
{
    int saved = errno;
    free(*(void **)p);
    errno = saved;
}

#define _cleanup_close_ __attribute__((cleanup(cleanup_fd)))
#define _cleanup_free_ __attribute__((cleanup(cleanup_ptr)))

/* Hand ownership out of a cleanup-managed variable. */
#define TAKE_PTR(p)                                                            \
    ({                                                                         \
        __typeof__(p) taken_ = (p);                                            \
        (p) = NULL;                                                            \
        taken_;                                                                \
    })
#define TAKE_FD(fd)                                                            \
    ({                                                                         \
        int taken_ = (fd);                                                     \
        (fd) = -1;                                                             \
        taken_;                                                                \
    })

#endif
