/* test_frame.c - length-prefixed frames and struct buf (frame.h). */
#include "harness.h"

#include "frame.h"

#include <errno.h>

/* A heap copy of exactly len bytes, so ASan catches a read past the end. */
static char *exact(const void *data, size_t len)
{
    char *p = malloc(len ? len : 1);
    if (!p)
        abort();
    if (len)
        memcpy(p, data, len);
    return p;
}

TEST(header_is_little_endian)
{
    uint8_t h[FRAME_HEADER_SIZE];
    frame_header(h, 'r', 0x12345678u);
    CHECK_MEMEQ(h, 5, "\x78\x56\x34\x12r", 5);
    frame_header(h, 0xff, 0);
    CHECK_MEMEQ(h, 5, "\0\0\0\0\xff", 5);
    frame_header(h, 0, UINT32_MAX);
    CHECK_MEMEQ(h, 5, "\xff\xff\xff\xff\0", 5);
    CHECK_EQ_UINT(FRAME_HEADER_SIZE, 5);
}

TEST(round_trip_one_frame)
{
    struct buf b = {0};
    static const char payload[] = "hello\0world\xff";
    REQUIRE(buf_append_frame(&b, FRAME_OUT_RESULT, payload, sizeof(payload) - 1) == 0);
    CHECK_EQ_UINT(b.len, FRAME_HEADER_SIZE + sizeof(payload) - 1);
    CHECK_MEMEQ(b.data, 5, "\x0c\0\0\0r", 5);
    char *wire = exact(b.data, b.len);
    struct frame f = {0};
    size_t pos = 0;
    CHECK_EQ_INT(frame_next(wire, b.len, &pos, FRAME_MAX_PAYLOAD, &f), 1);
    CHECK_EQ_INT(f.tag, FRAME_OUT_RESULT);
    CHECK_MEMEQ(f.data, f.len, payload, sizeof(payload) - 1);
    CHECK(f.data == wire + FRAME_HEADER_SIZE); /* borrowed, not copied */
    CHECK_EQ_UINT(pos, b.len);
    /* Nothing more: 0, and pos stays. */
    CHECK_EQ_INT(frame_next(wire, b.len, &pos, FRAME_MAX_PAYLOAD, &f), 0);
    CHECK_EQ_UINT(pos, b.len);
    free(wire);
    buf_release(&b);
}

TEST(empty_payload)
{
    struct buf b = {0};
    REQUIRE(buf_append_frame(&b, FRAME_OUT_END, NULL, 0) == 0);
    CHECK_MEMEQ(b.data, b.len, "\0\0\0\0Z", 5);
    char *wire = exact(b.data, b.len);
    struct frame f;
    size_t pos = 0;
    CHECK_EQ_INT(frame_next(wire, 5, &pos, 0, &f), 1);
    CHECK_EQ_INT(f.tag, 'Z');
    CHECK_EQ_UINT(f.len, 0);
    CHECK_EQ_UINT(pos, 5);
    free(wire);
    buf_release(&b);
}

TEST(every_tag_byte)
{
    struct buf b = {0};
    for (int t = 0; t < 256; t++) {
        char c = (char)t;
        REQUIRE(buf_append_frame(&b, (uint8_t)t, &c, 1) == 0);
    }
    size_t pos = 0;
    struct frame f;
    for (int t = 0; t < 256; t++) {
        REQUIRE(frame_next(b.data, b.len, &pos, 1, &f) == 1);
        CHECK_EQ_INT(f.tag, t);
        CHECK_EQ_UINT(f.len, 1);
        CHECK_EQ_INT((unsigned char)f.data[0], t);
    }
    CHECK_EQ_UINT(pos, b.len);
    buf_release(&b);
}

TEST(partial_header_needs_more)
{
    static const char wire[] = "\x03\0\0\0sabc";
    for (size_t len = 0; len < FRAME_HEADER_SIZE; len++) {
        char *p = exact(wire, len);
        struct frame f = {.tag = 'q'};
        size_t pos = 0;
        CHECK_EQ_INT(frame_next(p, len, &pos, FRAME_MAX_PAYLOAD, &f), 0);
        CHECK_EQ_UINT(pos, 0);
        CHECK_EQ_INT(f.tag, 'q');
        free(p);
    }
}

TEST(partial_payload_needs_more)
{
    static const char wire[] = "\x03\0\0\0sabc";
    for (size_t len = FRAME_HEADER_SIZE; len < 8; len++) {
        char *p = exact(wire, len);
        struct frame f = {.tag = 'q'};
        size_t pos = 0;
        CHECK_EQ_INT(frame_next(p, len, &pos, FRAME_MAX_PAYLOAD, &f), 0);
        CHECK_EQ_UINT(pos, 0);
        CHECK_EQ_INT(f.tag, 'q');
        free(p);
    }
    char *p = exact(wire, 8);
    struct frame f;
    size_t pos = 0;
    CHECK_EQ_INT(frame_next(p, 8, &pos, FRAME_MAX_PAYLOAD, &f), 1);
    CHECK_MEMEQ(f.data, f.len, "abc", 3);
    free(p);
}

TEST(oversized_length_is_ebadmsg)
{
    uint8_t h[FRAME_HEADER_SIZE];
    struct frame f;
    size_t pos = 0;
    /* Over the caller's cap: refused from the header alone. */
    frame_header(h, 's', 101);
    CHECK_EQ_INT(frame_next((const char *)h, 5, &pos, 100, &f), -EBADMSG);
    CHECK_EQ_UINT(pos, 0);
    frame_header(h, 's', 100); /* at the cap: just needs more bytes */
    CHECK_EQ_INT(frame_next((const char *)h, 5, &pos, 100, &f), 0);
    /* Over FRAME_MAX_PAYLOAD whatever the caller allows. */
    frame_header(h, 's', FRAME_MAX_PAYLOAD + 1);
    CHECK_EQ_INT(frame_next((const char *)h, 5, &pos, SIZE_MAX, &f), -EBADMSG);
    frame_header(h, 's', UINT32_MAX);
    CHECK_EQ_INT(frame_next((const char *)h, 5, &pos, SIZE_MAX, &f), -EBADMSG);
    CHECK_EQ_INT(frame_next((const char *)h, 5, &pos, FRAME_MAX_PAYLOAD, &f),
                 -EBADMSG);
    frame_header(h, 's', FRAME_MAX_PAYLOAD);
    CHECK_EQ_INT(frame_next((const char *)h, 5, &pos, SIZE_MAX, &f), 0);
    /* A zero cap still allows empty frames only. */
    frame_header(h, 's', 1);
    CHECK_EQ_INT(frame_next((const char *)h, 5, &pos, 0, &f), -EBADMSG);
    CHECK_EQ_UINT(pos, 0);
}

TEST(many_frames_in_one_buffer)
{
    struct buf b = {0};
    char big[70000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)(i * 7);
    REQUIRE(buf_append_frame(&b, 's', "succeeded", 9) == 0);
    REQUIRE(buf_append_frame(&b, 'r', "[1, 2]", 6) == 0);
    REQUIRE(buf_append_frame(&b, 'o', big, sizeof(big)) == 0);
    REQUIRE(buf_append_frame(&b, 'O', "1", 1) == 0);
    REQUIRE(buf_append_frame(&b, 'Z', "", 0) == 0);
    char *wire = exact(b.data, b.len);
    size_t pos = 0;
    struct frame f;
    REQUIRE(frame_next(wire, b.len, &pos, FRAME_MAX_PAYLOAD, &f) == 1);
    CHECK_EQ_INT(f.tag, 's');
    CHECK_MEMEQ(f.data, f.len, "succeeded", 9);
    REQUIRE(frame_next(wire, b.len, &pos, FRAME_MAX_PAYLOAD, &f) == 1);
    CHECK_EQ_INT(f.tag, 'r');
    CHECK_MEMEQ(f.data, f.len, "[1, 2]", 6);
    REQUIRE(frame_next(wire, b.len, &pos, FRAME_MAX_PAYLOAD, &f) == 1);
    CHECK_EQ_INT(f.tag, 'o');
    CHECK_MEMEQ(f.data, f.len, big, sizeof(big));
    REQUIRE(frame_next(wire, b.len, &pos, FRAME_MAX_PAYLOAD, &f) == 1);
    CHECK_EQ_INT(f.tag, 'O');
    REQUIRE(frame_next(wire, b.len, &pos, FRAME_MAX_PAYLOAD, &f) == 1);
    CHECK_EQ_INT(f.tag, 'Z');
    CHECK_EQ_UINT(pos, b.len);
    CHECK_EQ_INT(frame_next(wire, b.len, &pos, FRAME_MAX_PAYLOAD, &f), 0);
    /* The same stream cut one byte short: the last frame needs more. */
    pos = 0;
    int k, n = 0;
    while ((k = frame_next(wire, b.len - 1, &pos, FRAME_MAX_PAYLOAD, &f)) == 1)
        n++;
    CHECK_EQ_INT(k, 0);
    CHECK_EQ_INT(n, 4);
    CHECK_EQ_UINT(pos, b.len - 5);
    free(wire);
    buf_release(&b);
}

TEST(pos_past_len_needs_more)
{
    static const char wire[] = "\0\0\0\0Z";
    struct frame f;
    size_t pos = 6;
    CHECK_EQ_INT(frame_next(wire, 5, &pos, FRAME_MAX_PAYLOAD, &f), 0);
    CHECK_EQ_UINT(pos, 6);
    pos = SIZE_MAX;
    CHECK_EQ_INT(frame_next(wire, 5, &pos, FRAME_MAX_PAYLOAD, &f), 0);
}

/* A reader fed one byte at a time, consuming whole frames as they appear:
 * how the supervisor's result pipe is read. */
TEST(stream_byte_by_byte_with_consume)
{
    struct buf out = {0}, in = {0};
    REQUIRE(buf_append_frame(&out, 't', "ValueError", 10) == 0);
    REQUIRE(buf_append_frame(&out, 'e', "bad\0value", 9) == 0);
    REQUIRE(buf_append_frame(&out, 'Z', NULL, 0) == 0);
    static const char want_tags[] = "teZ";
    size_t got = 0;
    for (size_t i = 0; i < out.len; i++) {
        REQUIRE(buf_append(&in, out.data + i, 1) == 0);
        size_t pos = 0;
        struct frame f;
        int k;
        while ((k = frame_next(in.data, in.len, &pos, 1024, &f)) == 1) {
            REQUIRE(got < 3);
            CHECK_EQ_INT(f.tag, want_tags[got]);
            if (got == 1)
                CHECK_MEMEQ(f.data, f.len, "bad\0value", 9);
            got++;
        }
        CHECK_EQ_INT(k, 0);
        buf_consume(&in, pos);
    }
    CHECK_EQ_UINT(got, 3);
    CHECK_EQ_UINT(in.len, 0);
    buf_release(&out);
    buf_release(&in);
}

TEST(buf_append_grows_and_keeps_bytes)
{
    struct buf b = {0};
    CHECK_EQ_INT(buf_append(&b, NULL, 0), 0);
    CHECK_EQ_UINT(b.len, 0);
    for (int i = 0; i < 100000; i++) {
        char c = (char)(i % 251);
        REQUIRE(buf_append(&b, &c, 1) == 0);
    }
    CHECK_EQ_UINT(b.len, 100000);
    CHECK(b.cap >= b.len);
    bool same = true;
    for (int i = 0; i < 100000; i++)
        same = same && b.data[i] == (char)(i % 251);
    CHECK(same);
    buf_release(&b);
    CHECK(b.data == NULL);
    CHECK_EQ_UINT(b.len, 0);
    CHECK_EQ_UINT(b.cap, 0);
    /* Reusable after release. */
    REQUIRE(buf_append(&b, "xy", 2) == 0);
    CHECK_MEMEQ(b.data, b.len, "xy", 2);
    buf_release(&b);
    buf_release(&b); /* twice is fine */
}

TEST(buf_append_frame_too_big)
{
    struct buf b = {0};
    REQUIRE(buf_append(&b, "keep", 4) == 0);
    /* The size check comes first: the data pointer is never read. */
    CHECK_EQ_INT(buf_append_frame(&b, 'r', "x", (size_t)FRAME_MAX_PAYLOAD + 1),
                 -E2BIG);
    CHECK_EQ_INT(buf_append_frame(&b, 'r', "x", SIZE_MAX), -E2BIG);
    CHECK_MEMEQ(b.data, b.len, "keep", 4);
    buf_release(&b);
}

TEST(buf_append_overflowing_size)
{
    struct buf b = {0};
    REQUIRE(buf_append(&b, "ab", 2) == 0);
    CHECK_EQ_INT(buf_append(&b, "x", SIZE_MAX), -ENOMEM);
    CHECK_EQ_INT(buf_append(&b, "x", SIZE_MAX - 1), -ENOMEM);
    CHECK_MEMEQ(b.data, b.len, "ab", 2);
    buf_release(&b);
}

TEST(buf_consume)
{
    struct buf b = {0};
    REQUIRE(buf_append(&b, "0123456789", 10) == 0);
    buf_consume(&b, 0);
    CHECK_MEMEQ(b.data, b.len, "0123456789", 10);
    buf_consume(&b, 3);
    CHECK_MEMEQ(b.data, b.len, "3456789", 7);
    buf_consume(&b, 6);
    CHECK_MEMEQ(b.data, b.len, "9", 1);
    buf_consume(&b, 1);
    CHECK_EQ_UINT(b.len, 0);
    REQUIRE(buf_append(&b, "abc", 3) == 0);
    buf_consume(&b, 100); /* more than there is: empty, not negative */
    CHECK_EQ_UINT(b.len, 0);
    buf_consume(&b, 1);
    CHECK_EQ_UINT(b.len, 0);
    REQUIRE(buf_append(&b, "z", 1) == 0);
    CHECK_MEMEQ(b.data, b.len, "z", 1);
    buf_release(&b);
}
