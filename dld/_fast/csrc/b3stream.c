/* See b3stream.h. */
#include "b3stream.h"

#include <string.h>

void blake3_hasher_update_chunks16(blake3_hasher *self, const uint8_t *const chunks[16]); /* vendor/blake3.c */

void dld_b3_init(dld_b3 *s) {
    blake3_hasher_init(&s->h);
    s->carry_len = 0;
}

void dld_b3_update(dld_b3 *s, const void *data, size_t len) {
    const uint8_t *p = data;
    if (!len)
        return;
    if (s->carry_len) {
        size_t need = DLD_B3_GROUP - s->carry_len;
        if (len < need) {
            memcpy(s->carry + s->carry_len, p, len);
            s->carry_len += len;
            return;
        }
        /* Complete the group: whole chunks already in the carry stay there, the chunk straddling the carry and
         * this piece is completed in the carry, the rest are read in place. */
        const uint8_t *chunks[16];
        size_t whole = s->carry_len / BLAKE3_CHUNK_LEN, part = s->carry_len % BLAKE3_CHUNK_LEN, i = 0, used = 0;
        for (; i < whole; i++)
            chunks[i] = s->carry + i * BLAKE3_CHUNK_LEN;
        if (part) {
            used = BLAKE3_CHUNK_LEN - part;
            memcpy(s->carry + s->carry_len, p, used);
            chunks[i++] = s->carry + whole * BLAKE3_CHUNK_LEN;
        }
        for (; i < 16; i++, used += BLAKE3_CHUNK_LEN)
            chunks[i] = p + used;
        blake3_hasher_update_chunks16(&s->h, chunks);
        p += need;
        len -= need;
        s->carry_len = 0;
    }
    /* On the grid now: whole groups go straight to blake3 (its subtrees line up), the rest waits. */
    size_t groups = len - len % DLD_B3_GROUP;
    if (groups)
        blake3_hasher_update(&s->h, p, groups);
    memcpy(s->carry, p + groups, len - groups);
    s->carry_len = len - groups;
}

void dld_b3_finalize(const dld_b3 *s, uint8_t out[BLAKE3_OUT_LEN]) {
    blake3_hasher h = s->h;
    blake3_hasher_update(&h, s->carry, s->carry_len);
    blake3_hasher_finalize(&h, out, BLAKE3_OUT_LEN);
}
