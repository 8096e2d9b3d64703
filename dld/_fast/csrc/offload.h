/* Hashing threads that never touch Python, shared by every big transfer.
 *
 * Why: hashing a big object inline on the trio thread puts blake3 and crc32c on the thread that also runs libcurl
 * and the event loop, and on libcurl's chunks: the write callback never gets more than 16 KiB
 * (CURL_MAX_WRITE_SIZE, whatever CURLOPT_BUFFERSIZE says), usually not aligned to blake3's 1 KiB chunks, where
 * blake3 runs at ~2 GB/s instead of ~5.5 GB/s on 1 MiB updates. A Python thread cannot take the work over: it
 * re-takes the GIL after every call and convoys with the trio thread (engine-notes P9).
 *
 * So the write callback copies each chunk (hot in cache, ~1 µs) into a 2 MiB staging buffer and hands full
 * buffers to a pool of C threads, which hash them without the GIL: large aligned updates, on another core.
 *
 * One pool for every transfer, one thread per core but one (at least 1; configure overrides): the number of
 * hashing threads stays bounded however many big transfers run (a thread per transfer meant a hundred threads for
 * a hundred transfers, and a thread start per object). Each transfer has a queue with one producer (its sink,
 * always the same thread); whichever pool thread takes the queue hashes its next buffer, so the bytes reach the
 * hasher in order:
 *   feed     copy bytes in, writing them to the file a batch at a time; when every buffer is full and unhashed,
 *            hash the oldest itself (catch_up) rather than sleep until a pool thread gets a core: on a busy box a
 *            nice thread is woken milliseconds late (measured on the 2-core VM: 2.7 ms on average, the trio thread
 *            blocked 0.45 s per 4 GiB)
 *   flush    write what the filling buffer has not written yet
 *   drain    flush, hand over the partial buffer and see everything hashed (catch_up again); afterwards the
 *            hasher and the crc32c value may be read or changed (set_crc32c) until the next feed
 *   stop     drain and free the queue (the pool threads stay for the next transfer)
 * flush, drain, stop and feed may block: call them without the GIL (a feed that dld_offload_blocks says will
 * only copy may keep it).
 */
#ifndef DLD_OFFLOAD_H
#define DLD_OFFLOAD_H

#include <stddef.h>
#include <stdint.h>
#include "b3stream.h"

/* Three 2 MiB buffers per transfer: 6 MiB at most, allocated when its queue starts. Measured with 16 KiB
 * misaligned chunks into a file (hashing thread CPU per GiB): 64 KiB buffers 0.40 s, 256 KiB 0.29, 1 MiB 0.24,
 * 2 MiB 0.22, 4 MiB 0.21; deeper queues (16 buffers) changed nothing. */
#define DLD_OFFLOAD_BUFS 3
#define DLD_OFFLOAD_BUFSIZE (2 << 20)
#define DLD_OFFLOAD_NICE 10
#define DLD_OFFLOAD_MAX_THREADS 16
/* The file is written in pieces of this many bytes, not per 16 KiB chunk: ext4 here walks every buffer head of a
 * (large) page-cache folio on each write(2), so 16 KiB writes cost ~0.27 s of kernel time per GiB, 64 KiB 0.22,
 * 128 KiB 0.21, 256 KiB 0.20 (measured, 2-core VM, kernel 6.18). Larger pieces keep the trio thread in one
 * write(2) for longer while every socket waits (2 MiB pieces measured much slower). */
#define DLD_WRITE_BATCH (128 << 10)

typedef struct dld_offload dld_offload;

/* Append to the file fd and hash into *b3 (NULL: no blake3) and, when want_crc32c, continue crc32c from crc.
 * NULL if out of memory. If no pool thread can start, the producer hashes everything in catch_up: slower, still
 * right. *b3 must outlive the queue.
 * The bytes reach the file from the staging buffer, DLD_WRITE_BATCH at a time, before the buffer is handed over;
 * flush writes the rest of the filling buffer. feed, flush and drain return 0 or the errno that stopped a write;
 * after one, feed takes no more bytes. */
dld_offload *dld_offload_start(int fd, dld_b3 *b3, int want_crc32c, uint32_t crc);
int dld_offload_feed(dld_offload *q, const void *data, size_t len);
/* Whether feeding len bytes may write, hand over or wait (else it only copies: no need to release the GIL). */
int dld_offload_blocks(const dld_offload *q, size_t len);
int dld_offload_flush(dld_offload *q);
int dld_offload_drain(dld_offload *q);
/* 0, or the errno that stopped writing all len bytes (EINTR retried; shared with the sink's inline batches). */
int dld_write_all(int fd, const void *data, size_t len);
/* Bytes taken that the file does not have yet (the producer's thread). */
size_t dld_offload_unwritten(dld_offload *q);
/* Write nothing more to the file (its owner flushed what it wanted; the fd may be closed soon): before stop. */
void dld_offload_close_file(dld_offload *q);
uint32_t dld_offload_crc32c(dld_offload *q);
void dld_offload_set_crc32c(dld_offload *q, int want, uint32_t crc);
void dld_offload_stop(dld_offload *q);
/* At most this many pool threads (0: one per core but one, at least 1); call before the first transfer. */
void dld_offload_configure(int threads);
/* Queues alive, pool threads started, buffers hashed by their producers in catch_up (tests). */
void dld_offload_stats(long *queues, int *threads, long *by_producers);

#endif
