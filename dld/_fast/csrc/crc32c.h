/* CRC-32C (Castagnoli), as GCS x-goog-hash and S3 x-amz-checksum-crc32c use it.
 *
 * Why our own: the hashing thread (offload.c) must run it without the GIL, and the PyPI packages expose only a
 * Python call. On x86-64 with SSE4.2 it runs the crc32 instruction on three interleaved streams (the instruction
 * has a latency of 3 and a throughput of 1) and joins them with precomputed "append N zero bytes" tables, the way
 * Mark Adler's crc32c.c does; elsewhere a byte-wise table (correct, slow).
 */
#ifndef DLD_CRC32C_H
#define DLD_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* The CRC-32C of data appended to a message whose CRC-32C is crc (0 for the empty message). Thread-safe. */
uint32_t dld_crc32c(uint32_t crc, const void *data, size_t len);
/* The same through the byte-wise table, whatever the CPU (tests compare the two). */
uint32_t dld_crc32c_portable(uint32_t crc, const void *data, size_t len);

#endif
