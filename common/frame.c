/* frame.c - length-prefixed frames and a byte buffer (see frame.h). */
#include "frame.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void frame_header(uint8_t hdr[FRAME_HEADER_SIZE], uint8_t tag, uint32_t len)
{
    hdr[0] = (uint8_t)(len & 0xff);
    hdr[1] = (uint8_t)((len >> 8) & 0xff);
    hdr[2] = (uint8_t)((len >> 16) & 0xff);
    hdr[3] = (uint8_t)((len >> 24) & 0xff);
    hdr[4] = tag;
}

int frame_next(const char *buf, size_t len, size_t *pos, size_t max_payload,
               struct frame *ret)
{
    size_t at = *pos;
    if (len < at || len - at < FRAME_HEADER_SIZE)
        return 0;
    const uint8_t *h = (const uint8_t *)buf + at;
    uint32_t plen = (uint32_t)h[0] | (uint32_t)h[1] << 8 |
                    (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24;
    if (plen > max_payload || plen > FRAME_MAX_PAYLOAD)
        return -EBADMSG;
    if (len - at - FRAME_HEADER_SIZE < plen)
        return 0;
    ret->tag = h[4];
    ret->data = buf + at + FRAME_HEADER_SIZE;
    ret->len = plen;
    *pos = at + FRAME_HEADER_SIZE + plen;
    return 1;
}

static int buf_reserve(struct buf *b, size_t extra)
{
    if (extra > SIZE_MAX - b->len)
        return -ENOMEM;
    size_t need = b->len + extra;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(b->data, cap);
    if (!p)
        return -ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int buf_append(struct buf *b, const void *data, size_t len)
{
    int r = buf_reserve(b, len);
    if (r < 0)
        return r;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

int buf_append_frame(struct buf *b, uint8_t tag, const void *data, size_t len)
{
    uint8_t hdr[FRAME_HEADER_SIZE];
    if (len > FRAME_MAX_PAYLOAD)
        return -E2BIG;
    int r = buf_reserve(b, FRAME_HEADER_SIZE + len);
    if (r < 0)
        return r;
    frame_header(hdr, tag, (uint32_t)len);
    (void)buf_append(b, hdr, sizeof(hdr));
    (void)buf_append(b, data, len);
    return 0;
}

int buf_append_outcome(struct buf *b, const char *status,
                       const char *error_type, const char *error)
{
    int r = buf_append_frame(b, FRAME_OUT_STATUS, status, strlen(status));
    if (r == 0)
        r = buf_append_frame(b, FRAME_OUT_ERROR_TYPE, error_type,
                             strlen(error_type));
    if (r == 0)
        r = buf_append_frame(b, FRAME_OUT_ERROR, error, strlen(error));
    return r;
}

void buf_consume(struct buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

void buf_release(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
