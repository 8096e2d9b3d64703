/* blake3 over a stream that arrives in pieces off blake3's 1 KiB chunk grid, at full SIMD width.
 *
 * Why: libcurl hands the sink at most 16 KiB per call, shifted by whatever shared the first read with the response
 * headers (53 bytes from our test origin). blake3_hasher_update on such pieces can only form subtrees of 1, 2, 4
 * and 8 chunks (they must line up with the chunk counter) and runs at ~2 GB/s instead of ~5.5. Here every 16-chunk
 * group is hashed with one 16-way call, reading chunks in place from the caller's piece; only bytes that do not
 * complete a group in this call are copied (1 KiB per 16 KiB piece in the libcurl pattern).
 */
#ifndef DLD_B3STREAM_H
#define DLD_B3STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "../vendor/blake3/blake3.h"

#define DLD_B3_GROUP (16 * BLAKE3_CHUNK_LEN)

typedef struct {
    blake3_hasher h;   /* covers the stream up to the carry; empty chunk state, chunk counter a multiple of 16 */
    size_t carry_len;  /* stream bytes after that, waiting for the rest of their group (< DLD_B3_GROUP) */
    uint8_t carry[DLD_B3_GROUP];
} dld_b3;

void dld_b3_init(dld_b3 *s);
void dld_b3_update(dld_b3 *s, const void *data, size_t len);
/* The hash of everything so far; the stream may go on afterwards. */
void dld_b3_finalize(const dld_b3 *s, uint8_t out[BLAKE3_OUT_LEN]);

#endif
