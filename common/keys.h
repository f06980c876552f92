/* keys.h - Redis key and channel names of PROTOCOL.md, built from the
 * prefix. The only place that knows how a key is spelled. */
#ifndef SANDQ_KEYS_H
#define SANDQ_KEYS_H

#define KEY_QUEUE "queue"           /* <prefix>:queue:<queue>   LIST */
#define KEY_JOB "job"               /* <prefix>:job:<id>        HASH */
#define KEY_PROCESSING "processing" /* <prefix>:processing:<w>  LIST */
#define KEY_WORKERS "workers"       /* <prefix>:workers         SET  */
#define KEY_WORKER "worker"         /* <prefix>:worker:<w>      HASH+TTL */
#define KEY_DEAD "dead"             /* <prefix>:dead            LIST */
#define KEY_STATS "stats"           /* <prefix>:stats           HASH */
#define KEY_DONE "done"             /* channel <prefix>:done:<id> */

#define KEYS_DEFAULT_PREFIX "sandq"

/* "<prefix>:<kind>" or, with a name, "<prefix>:<kind>:<name>". Returns a
 * malloc'd string the caller frees, NULL when out of memory. */
char *keys_make(const char *prefix, const char *kind, const char *name);

#endif
