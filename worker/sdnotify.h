/* sdnotify.h - the systemd notification protocol (Type=notify): one
 * datagram "READY=1", "WATCHDOG=1", "STOPPING=1" or "STATUS=..." to the
 * socket in $NOTIFY_SOCKET. Small enough to speak directly rather than
 * link libsystemd; a no-op when not run by systemd. */
#ifndef SANDQ_SDNOTIFY_H
#define SANDQ_SDNOTIFY_H

#include <stdint.h>

/* Read and unset NOTIFY_SOCKET / WATCHDOG_USEC so children never see them.
 * Call once at start. */
void sdnotify_init(void);

/* Send state; 0 when sent or when there is no socket, -errno otherwise. */
int sdnotify_send(const char *state);

/* The watchdog interval systemd asked for, in microseconds, or 0. */
uint64_t sdnotify_watchdog_usec(void);

#endif
