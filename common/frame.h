/* frame.h - the byte framing on the pipes between the supervisor and a job
 * child.
 *
 * A frame is a 4-byte little-endian payload length, one tag byte, then the
 * payload. The job pipe (supervisor -> child) carries the job's fields, the
 * result pipe (child -> supervisor) the outcome's fields; the tags of both
 * are listed below. Payloads are raw bytes (UTF-8 text for text fields), so
 * no escaping is needed and nothing on the supervisor's side parses JSON
 * written by untrusted code. */
#ifndef SANDQ_FRAME_H
#define SANDQ_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define FRAME_HEADER_SIZE 5u
#define FRAME_MAX_PAYLOAD (256u * 1024u * 1024u)

/* Job pipe tags, supervisor -> child. */
#define FRAME_JOB_CODE 'c'      /* Python source */
#define FRAME_JOB_FUNCTION 'f'  /* function name */
#define FRAME_JOB_ARGS 'a'      /* JSON array text */
#define FRAME_JOB_KWARGS 'k'    /* JSON object text */
#define FRAME_JOB_CALLS 'b'     /* JSON array of arrays (batch) */
#define FRAME_JOB_OUTPUT_CAP 'o' /* decimal byte cap for stdout and result */
#define FRAME_JOB_PROBE 'p'     /* self-test: run this C probe, not Python */
#define FRAME_JOB_END 'z'       /* last frame of the job */

/* Result pipe tags, child -> supervisor. */
#define FRAME_OUT_STATUS 's'    /* PROTOCOL.md status word */
#define FRAME_OUT_RESULT 'r'    /* JSON text of the return value */
#define FRAME_OUT_ERROR_TYPE 't'
#define FRAME_OUT_ERROR 'e'
#define FRAME_OUT_TRACEBACK 'b'
#define FRAME_OUT_STDOUT 'o'
#define FRAME_OUT_STDOUT_TRUNCATED 'O' /* payload "1" */
#define FRAME_OUT_TIMING 'T'    /* "stage=us ..." debug timings */
#define FRAME_OUT_END 'Z'       /* the outcome is complete */
#define FRAME_OUT_VIOLATION 'V' /* "<syscall nr> <audit arch>", from SIGSYS */
#define FRAME_OUT_SANDBOX_ERROR 'E' /* "<step> <errno>", a setup step failed */

struct frame {
    uint8_t tag;
    const char *data; /* borrowed from the buffer passed to frame_next() */
    uint32_t len;
};

/* Write the 5-byte header for a payload of len bytes into hdr. */
void frame_header(uint8_t hdr[FRAME_HEADER_SIZE], uint8_t tag, uint32_t len);

/* Decode the frame starting at buf[*pos]. Returns 1 and advances *pos when a
 * whole frame is there, 0 when more bytes are needed, -EBADMSG when the
 * length is over max_payload. ret->data points into buf. */
int frame_next(const char *buf, size_t len, size_t *pos, size_t max_payload,
               struct frame *ret);

/* A growable byte buffer; the frame writer for the job pipe. */
struct buf {
    char *data;
    size_t len;
    size_t cap;
};

/* Append bytes; -ENOMEM on allocation failure (buf unchanged). */
int buf_append(struct buf *b, const void *data, size_t len);
/* Append one frame; -ENOMEM or -E2BIG (payload over FRAME_MAX_PAYLOAD). */
int buf_append_frame(struct buf *b, uint8_t tag, const void *data, size_t len);
/* Append the status, error_type and error frames of an outcome the child
 * decides itself (e.g. "invalid", "InvalidJob", why). -ENOMEM. */
int buf_append_outcome(struct buf *b, const char *status,
                       const char *error_type, const char *error);

/* Drop the first n bytes (already consumed). */
void buf_consume(struct buf *b, size_t n);
/* Free the storage; the struct may be reused after. */
void buf_release(struct buf *b);

#endif
