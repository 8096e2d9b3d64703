/* See offload.h. Buffers are used in turn: [head, tail) are handed over and not yet hashed (the one at head may
 * be in the thread's hands); buf[tail % BUFS] is the one being filled, `fill` bytes so far, owned by the
 * producer. The producer moves on to the next buffer only when it is not in [head, tail). */
#include "offload.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "crc32c.h"

#define BUFS DLD_OFFLOAD_BUFS
#define BUFSIZE DLD_OFFLOAD_BUFSIZE

struct dld_offload {
    pthread_mutex_t mu;
    pthread_cond_t work;     /* producer -> thread: a buffer to hash, or stop */
    pthread_cond_t progress; /* thread -> producer: head moved */
    pthread_t thread;
    dld_b3 *b3;
    int want_crc32c;
    uint32_t crc32c;
    unsigned char *buf[BUFS];
    size_t len[BUFS];
    uint64_t head, tail;
    size_t fill;
    int stopping;
};

static void *run(void *arg) {
    dld_offload *q = arg;
#ifdef __linux__
    /* Below the trio thread, which runs the event loop and every transfer: with many big transfers there are as
     * many hashing threads, and at equal weight they would starve it. Backpressure (submit) still guarantees
     * this thread its turn: when it falls behind, the transfer waits for it. Measured on the 2-core VM: no
     * throughput difference against nice 0 with 4 transfers. */
    setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), DLD_OFFLOAD_NICE);
#endif
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (q->head == q->tail && !q->stopping)
            pthread_cond_wait(&q->work, &q->mu);
        if (q->head == q->tail)
            break; /* stopping, nothing left */
        const unsigned char *p = q->buf[q->head % BUFS];
        size_t n = q->len[q->head % BUFS];
        dld_b3 *b3 = q->b3;
        int want_crc32c = q->want_crc32c;
        uint32_t crc = q->crc32c;
        pthread_mutex_unlock(&q->mu);
        if (b3)
            dld_b3_update(b3, p, n);
        if (want_crc32c)
            crc = dld_crc32c(crc, p, n);
        pthread_mutex_lock(&q->mu);
        q->crc32c = crc;
        q->head++;
        pthread_cond_signal(&q->progress);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

static void destroy(dld_offload *q) {
    for (int i = 0; i < BUFS; i++)
        free(q->buf[i]);
    pthread_cond_destroy(&q->progress);
    pthread_cond_destroy(&q->work);
    pthread_mutex_destroy(&q->mu);
    free(q);
}

dld_offload *dld_offload_start(dld_b3 *b3, int want_crc32c, uint32_t crc) {
    dld_offload *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->b3 = b3;
    q->want_crc32c = want_crc32c;
    q->crc32c = crc;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->work, NULL);
    pthread_cond_init(&q->progress, NULL);
    for (int i = 0; i < BUFS; i++)
        if (!(q->buf[i] = malloc(BUFSIZE))) {
            destroy(q);
            return NULL;
        }
    if (pthread_create(&q->thread, NULL, run, q) != 0) {
        destroy(q);
        return NULL;
    }
    return q;
}

/* Hand the filling buffer to the thread and wait until the next one is free. */
static void submit(dld_offload *q) {
    pthread_mutex_lock(&q->mu);
    q->len[q->tail % BUFS] = q->fill;
    q->tail++;
    pthread_cond_signal(&q->work);
    while (q->tail - q->head >= BUFS)
        pthread_cond_wait(&q->progress, &q->mu);
    pthread_mutex_unlock(&q->mu);
    q->fill = 0;
}

void dld_offload_feed(dld_offload *q, const void *data, size_t len) {
    const unsigned char *p = data;
    while (len) {
        size_t take = BUFSIZE - q->fill;
        if (take > len)
            take = len;
        memcpy(q->buf[q->tail % BUFS] + q->fill, p, take);
        q->fill += take;
        p += take;
        len -= take;
        if (q->fill == BUFSIZE)
            submit(q);
    }
}

void dld_offload_drain(dld_offload *q) {
    if (q->fill)
        submit(q);
    pthread_mutex_lock(&q->mu);
    while (q->head < q->tail)
        pthread_cond_wait(&q->progress, &q->mu);
    pthread_mutex_unlock(&q->mu);
}

uint32_t dld_offload_crc32c(dld_offload *q) {
    pthread_mutex_lock(&q->mu);
    uint32_t crc = q->crc32c;
    pthread_mutex_unlock(&q->mu);
    return crc;
}

void dld_offload_set_crc32c(dld_offload *q, int want, uint32_t crc) {
    pthread_mutex_lock(&q->mu);
    q->want_crc32c = want;
    q->crc32c = crc;
    pthread_mutex_unlock(&q->mu);
}

void dld_offload_stop(dld_offload *q) {
    dld_offload_drain(q);
    pthread_mutex_lock(&q->mu);
    q->stopping = 1;
    pthread_cond_signal(&q->work);
    pthread_mutex_unlock(&q->mu);
    pthread_join(q->thread, NULL);
    destroy(q);
}
