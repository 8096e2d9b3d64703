/* A per-transfer hashing thread that never touches Python.
 *
 * Why: hashing a big object inline on the trio thread puts blake3 and crc32c on the thread that also runs libcurl
 * and the event loop, and on libcurl's chunks: the write callback never gets more than 16 KiB
 * (CURL_MAX_WRITE_SIZE, whatever CURLOPT_BUFFERSIZE says), usually not aligned to blake3's 1 KiB chunks, where
 * blake3 runs at ~2 GB/s instead of ~5.5 GB/s on 1 MiB updates. A Python thread cannot take the work over: it
 * re-takes the GIL after every call and convoys with the trio thread (engine-notes P9).
 *
 * So the write callback copies each chunk (hot in cache, ~1 µs) into a 2 MiB staging buffer and hands full
 * buffers to this C thread, which hashes them without the GIL: large aligned updates, on another core.
 *
 * One producer (the sink, always the same thread) and one consumer (the thread):
 *   feed     copy bytes in; waits only when every buffer is full and unhashed (bounded memory, backpressure)
 *   drain    hand over the partial buffer and wait until everything is hashed; afterwards the hasher and the
 *            crc32c value may be read or changed (set_crc32c) until the next feed
 *   stop     drain, end the thread and free everything
 * feed, drain and stop block: call them without the GIL.
 */
#ifndef DLD_OFFLOAD_H
#define DLD_OFFLOAD_H

#include <stddef.h>
#include <stdint.h>
#include "b3stream.h"

/* Three 2 MiB buffers per transfer: 6 MiB at most, allocated when the thread starts. Measured with 16 KiB
 * misaligned chunks into a file (hashing thread CPU per GiB): 64 KiB buffers 0.40 s, 256 KiB 0.29, 1 MiB 0.24,
 * 2 MiB 0.22, 4 MiB 0.21; deeper queues (16 buffers) changed nothing. */
#define DLD_OFFLOAD_BUFS 3
#define DLD_OFFLOAD_BUFSIZE (2 << 20)
#define DLD_OFFLOAD_NICE 10

typedef struct dld_offload dld_offload;

/* Hash into *b3 (NULL: no blake3) and, when want_crc32c, continue crc32c from crc. NULL if out of memory or
 * threads. *b3 must outlive the queue. */
dld_offload *dld_offload_start(dld_b3 *b3, int want_crc32c, uint32_t crc);
void dld_offload_feed(dld_offload *q, const void *data, size_t len);
void dld_offload_drain(dld_offload *q);
uint32_t dld_offload_crc32c(dld_offload *q);
void dld_offload_set_crc32c(dld_offload *q, int want, uint32_t crc);
void dld_offload_stop(dld_offload *q);

#endif
