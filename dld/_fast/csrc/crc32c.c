/* See crc32c.h. Works on the raw register (no pre/post inversion) inside; the register update is linear, so
 * the register after A||B is shift_|B|(register after A) ^ (register of B alone), which is how the three streams
 * are joined. */
#include "crc32c.h"

#include <pthread.h>
#include <string.h>

#define POLY 0x82f63b78u /* reflected Castagnoli */
#define LONG_BLOCK 8192
#define SHORT_BLOCK 256

static uint32_t byte_table[256];
static uint32_t long_shift[4][256];  /* register -> register after LONG_BLOCK zero bytes */
static uint32_t short_shift[4][256]; /* ... after SHORT_BLOCK zero bytes */
static int have_hw;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static uint32_t zeros(uint32_t reg, size_t n) {
    while (n--)
        reg = byte_table[reg & 0xff] ^ (reg >> 8);
    return reg;
}

static void make_shift(uint32_t tab[4][256], size_t n) {
    uint32_t basis[32];
    for (int i = 0; i < 32; i++)
        basis[i] = zeros(1u << i, n);
    for (int k = 0; k < 4; k++)
        for (int b = 0; b < 256; b++) {
            uint32_t v = 0;
            for (int j = 0; j < 8; j++)
                if (b >> j & 1)
                    v ^= basis[8 * k + j];
            tab[k][b] = v;
        }
}

static void init(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ POLY : c >> 1;
        byte_table[n] = c;
    }
    make_shift(long_shift, LONG_BLOCK);
    make_shift(short_shift, SHORT_BLOCK);
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    have_hw = __builtin_cpu_supports("sse4.2");
#endif
}

static uint32_t sw(uint32_t reg, const unsigned char *p, size_t n) {
    while (n--)
        reg = byte_table[(reg ^ *p++) & 0xff] ^ (reg >> 8);
    return reg;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>

static inline uint32_t shift(uint32_t tab[4][256], uint32_t reg) {
    return tab[0][reg & 0xff] ^ tab[1][(reg >> 8) & 0xff] ^ tab[2][(reg >> 16) & 0xff] ^ tab[3][reg >> 24];
}

static inline uint64_t load64(const unsigned char *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* One pass of three streams of `block` bytes each from *pp, joined into c0; *pp moves on by 3 * block. */
__attribute__((target("sse4.2"))) static inline uint64_t three(uint64_t c0, const unsigned char **pp, size_t block,
                                                               uint32_t tab[4][256]) {
    const unsigned char *p = *pp, *end = p + block;
    uint64_t c1 = 0, c2 = 0;
    do {
        c0 = _mm_crc32_u64(c0, load64(p));
        c1 = _mm_crc32_u64(c1, load64(p + block));
        c2 = _mm_crc32_u64(c2, load64(p + 2 * block));
        p += 8;
    } while (p < end);
    *pp = p + 2 * block;
    c0 = shift(tab, (uint32_t)c0) ^ c1;
    return shift(tab, (uint32_t)c0) ^ c2;
}

__attribute__((target("sse4.2"))) static uint32_t hw(uint32_t reg, const unsigned char *p, size_t n) {
    uint64_t c0 = reg;
    while (n && ((uintptr_t)p & 7)) {
        c0 = _mm_crc32_u8((uint32_t)c0, *p++);
        n--;
    }
    for (; n >= 3 * LONG_BLOCK; n -= 3 * LONG_BLOCK)
        c0 = three(c0, &p, LONG_BLOCK, long_shift);
    for (; n >= 3 * SHORT_BLOCK; n -= 3 * SHORT_BLOCK)
        c0 = three(c0, &p, SHORT_BLOCK, short_shift);
    for (; n >= 8; n -= 8, p += 8)
        c0 = _mm_crc32_u64(c0, load64(p));
    while (n--)
        c0 = _mm_crc32_u8((uint32_t)c0, *p++);
    return (uint32_t)c0;
}
#endif

uint32_t dld_crc32c(uint32_t crc, const void *data, size_t len) {
    pthread_once(&once, init);
    uint32_t reg = crc ^ 0xffffffffu;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (have_hw)
        return hw(reg, data, len) ^ 0xffffffffu;
#endif
    return sw(reg, data, len) ^ 0xffffffffu;
}

uint32_t dld_crc32c_portable(uint32_t crc, const void *data, size_t len) {
    pthread_once(&once, init);
    return sw(crc ^ 0xffffffffu, data, len) ^ 0xffffffffu;
}
