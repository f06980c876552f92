/* fileio.h - whole-file reads and one-shot writes, the two ways sandq
 * touches pseudo-files (cgroup files, /proc) and small inputs (a job's
 * code). Nothing here logs. */
#ifndef SANDQ_FILEIO_H
#define SANDQ_FILEIO_H

#include <stddef.h>

/* Read fd to EOF into a malloc'd, NUL-terminated buffer the caller frees
 * (*ret_len, if not NULL, excludes the NUL; the data may hold NULs).
 * -EFBIG past max bytes, -ENOMEM, or the read's -errno. */
int fd_read_all(int fd, size_t max, char **ret, size_t *ret_len);

/* Open path write-only, write s in one write(), close. -errno, or -EIO on
 * a short write (a pseudo-file that took only part of the value). */
int file_write_string(const char *path, const char *s);

#endif
