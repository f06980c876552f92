/* parse.h - strict parsing of numbers and names from untrusted text.
 * Never atoi: every function rejects empty input, signs where not allowed,
 * trailing bytes and out-of-range values. */
#ifndef SANDQ_PARSE_H
#define SANDQ_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Decimal unsigned integer within [min, max]; len bytes of s (s need not be
 * NUL-terminated). -EINVAL on syntax, -ERANGE out of range. */
int parse_u64(const char *s, size_t len, uint64_t min, uint64_t max,
              uint64_t *ret);

/* Same for a NUL-terminated string into an unsigned int. */
int parse_uint(const char *s, unsigned min, unsigned max, unsigned *ret);

/* A job or worker id, a queue name: 1..128 of A-Z a-z 0-9 . _ : - */
bool parse_is_name(const char *s, size_t len);

/* An ASCII Python identifier, 1..128 bytes. */
bool parse_is_identifier(const char *s, size_t len);

/* Well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
bool parse_is_utf8(const char *s, size_t len);

#endif
