/* See offload.h. Each queue uses its buffers in turn: [head, tail) are handed over and not yet hashed (the one at
 * head may be in a worker's hands); buf[tail % BUFS] is the one being filled, `fill` bytes so far, owned by the
 * producer. The producer moves on to the next buffer only when it is not in [head, tail).
 *
 * One mutex guards every queue and the pool: it is taken once per 2 MiB buffer, a few hundred times a second per
 * transfer, never per chunk. A queue with buffers to hash sits on the ready list until a worker takes it; the
 * worker owns it (`busy`) while it hashes the buffer at head, then puts it back at the end of the list if more
 * are waiting. So a queue never has two workers, its blake3 state sees the bytes in order, and queues take turns. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pthread_setname_np */
#endif
#include "offload.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/resource.h>
#include <sys/syscall.h>
#endif

#include "crc32c.h"

#define BUFS DLD_OFFLOAD_BUFS
#define BUFSIZE DLD_OFFLOAD_BUFSIZE

struct dld_offload {
    pthread_cond_t progress; /* worker -> producer: head moved */
    dld_b3 *b3;
    int want_crc32c;
    uint32_t crc32c;
    unsigned char *buf[BUFS];
    size_t len[BUFS];
    uint64_t head, tail;
    size_t fill;
    size_t written; /* bytes of the filling buffer already in the file */
    int fd, err;    /* err: the errno that stopped writing; the queue takes no more bytes */
    int queued, busy;  /* on the ready list; owned by a worker */
    dld_offload *next; /* ready list link */
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ready_cond = PTHREAD_COND_INITIALIZER;
static dld_offload *ready_head, *ready_tail;
static int workers, idle_workers, max_workers;
static long live, caught_up;

static int pool_limit(int threads) {
    long n = threads;
    if (n <= 0)
        n = sysconf(_SC_NPROCESSORS_ONLN) - 1; /* one core stays for the trio thread */
    if (n < 1)
        n = 1;
    return n > DLD_OFFLOAD_MAX_THREADS ? DLD_OFFLOAD_MAX_THREADS : (int)n;
}

void dld_offload_configure(int threads) {
    pthread_mutex_lock(&mu);
    max_workers = pool_limit(threads); /* threads already started stay; fewer start from now on */
    pthread_mutex_unlock(&mu);
}

static void push_ready(dld_offload *q) {
    q->queued = 1;
    q->next = NULL;
    if (ready_tail)
        ready_tail->next = q;
    else
        ready_head = q;
    ready_tail = q;
}

static dld_offload *pop_ready(void) {
    dld_offload *q = ready_head;
    ready_head = q->next;
    if (!ready_head)
        ready_tail = NULL;
    q->queued = 0;
    q->next = NULL;
    return q;
}

/* Remove q from the ready list (the producer takes its own work back). */
static void unlink_ready(dld_offload *q) {
    dld_offload **pp = &ready_head, *prev = NULL;
    while (*pp != q) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    *pp = q->next;
    if (ready_tail == q)
        ready_tail = prev;
    q->queued = 0;
    q->next = NULL;
}

/* With mu held, q neither queued nor busy and a buffer at head: hash it (mu released meanwhile). */
static void hash_head(dld_offload *q) {
    q->busy = 1;
    const unsigned char *p = q->buf[q->head % BUFS];
    size_t n = q->len[q->head % BUFS];
    dld_b3 *b3 = q->b3;
    int want_crc32c = q->want_crc32c;
    uint32_t crc = q->crc32c;
    pthread_mutex_unlock(&mu);
    if (b3)
        dld_b3_update(b3, p, n);
    if (want_crc32c)
        crc = dld_crc32c(crc, p, n);
    pthread_mutex_lock(&mu);
    q->crc32c = crc;
    q->head++;
    pthread_cond_signal(&q->progress);
    /* In the same critical section as head++, so drain cannot return while a worker still holds q. One buffer
     * per turn: queues take turns, a fast producer cannot keep a worker to itself. */
    q->busy = 0;
    if (q->head < q->tail)
        push_ready(q);
}

/* With mu held: the producer needs q's buffers hashed up to `until`. Rather than sleep while a pool thread
 * waits for a core (a busy box schedules a nice thread milliseconds late), it hashes them itself; it sleeps
 * only while a worker is in the middle of one. */
static void catch_up(dld_offload *q, uint64_t until) {
    while (q->head < until) {
        if (q->busy) {
            pthread_cond_wait(&q->progress, &mu);
            continue;
        }
        if (q->queued)
            unlink_ready(q);
        caught_up++;
        hash_head(q);
    }
}

static void *worker(void *arg) {
    (void)arg;
#ifdef __linux__
    pthread_setname_np(pthread_self(), "dld-hash"); /* top -H, /proc/PID/task/TID/comm */
    /* Below the trio thread, which runs the event loop and every transfer: when this thread does not get a core
     * in time, producers hash their own buffers (catch_up), so starving it slows nothing down. */
    setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), DLD_OFFLOAD_NICE);
#endif
    pthread_mutex_lock(&mu);
    for (;;) {
        while (!ready_head) {
            idle_workers++;
            pthread_cond_wait(&ready_cond, &mu);
            idle_workers--;
        }
        hash_head(pop_ready());
    }
    return NULL;
}

/* With mu held: have a worker see the ready list. Best effort: without one (no thread could start) the
 * producer hashes everything itself in catch_up. */
static void wake_worker(void) {
    if (idle_workers) {
        pthread_cond_signal(&ready_cond);
        return;
    }
    if (!max_workers)
        max_workers = pool_limit(0);
    if (workers < max_workers) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &attr, worker, NULL) == 0)
            workers++;
        pthread_attr_destroy(&attr);
    }
}

static void destroy(dld_offload *q) {
    for (int i = 0; i < BUFS; i++)
        free(q->buf[i]);
    pthread_cond_destroy(&q->progress);
    free(q);
}

dld_offload *dld_offload_start(int fd, dld_b3 *b3, int want_crc32c, uint32_t crc) {
    dld_offload *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->fd = fd;
    q->b3 = b3;
    q->want_crc32c = want_crc32c;
    q->crc32c = crc;
    pthread_cond_init(&q->progress, NULL);
    for (int i = 0; i < BUFS; i++)
        if (!(q->buf[i] = malloc(BUFSIZE))) {
            destroy(q);
            return NULL;
        }
    pthread_mutex_lock(&mu);
    live++;
    pthread_mutex_unlock(&mu);
    return q;
}

int dld_write_all(int fd, const void *data, size_t len) {
    const unsigned char *p = data;
    while (len) {
        ssize_t r = write(fd, p, len);
        if (r > 0) {
            p += r;
            len -= (size_t)r;
        } else if (r == 0) {
            return EIO; /* a regular file does not take 0 bytes of a non-empty write */
        } else if (errno != EINTR) {
            return errno;
        }
    }
    return 0;
}

/* Write the filling buffer's unwritten bytes to the file (the trio thread, no lock: the buffer is the producer's). */
static int write_pending(dld_offload *q) {
    if (q->fd < 0) {
        q->written = q->fill; /* dld_offload_close_file: the file is not ours any more */
        return q->err;
    }
    if (!q->err && q->written < q->fill) {
        q->err = dld_write_all(q->fd, q->buf[q->tail % BUFS] + q->written, q->fill - q->written);
        if (!q->err)
            q->written = q->fill;
    }
    return q->err;
}

int dld_offload_flush(dld_offload *q) {
    return write_pending(q);
}

size_t dld_offload_unwritten(dld_offload *q) {
    return q->fill - q->written;
}

void dld_offload_close_file(dld_offload *q) {
    q->fd = -1;
}

/* Hand the filling buffer, all written, to the pool; if that was the last free one, catch up until one is free
 * again. */
static void submit(dld_offload *q) {
    /* Bytes that could not be written are hashed all the same: the digests then describe what was received, and
     * the caller fails the object on the write error anyway. */
    write_pending(q);
    pthread_mutex_lock(&mu);
    q->len[q->tail % BUFS] = q->fill;
    q->tail++;
    if (!q->queued && !q->busy) {
        push_ready(q);
        wake_worker();
    }
    if (q->tail - q->head >= BUFS)
        catch_up(q, q->tail - BUFS + 1);
    pthread_mutex_unlock(&mu);
    q->fill = q->written = 0;
}

int dld_offload_blocks(const dld_offload *q, size_t len) {
    return q->fill + len >= BUFSIZE || q->fill - q->written + len >= DLD_WRITE_BATCH || q->err || q->fd < 0;
}

int dld_offload_feed(dld_offload *q, const void *data, size_t len) {
    const unsigned char *p = data;
    while (len && !q->err) {
        size_t take = BUFSIZE - q->fill;
        if (take > len)
            take = len;
        memcpy(q->buf[q->tail % BUFS] + q->fill, p, take);
        q->fill += take;
        p += take;
        len -= take;
        if (q->fill - q->written >= DLD_WRITE_BATCH && write_pending(q))
            break;
        if (q->fill == BUFSIZE)
            submit(q);
    }
    return q->err;
}

int dld_offload_drain(dld_offload *q) {
    if (q->fill)
        submit(q);
    pthread_mutex_lock(&mu);
    catch_up(q, q->tail);
    pthread_mutex_unlock(&mu);
    return q->err;
}

uint32_t dld_offload_crc32c(dld_offload *q) {
    pthread_mutex_lock(&mu);
    uint32_t crc = q->crc32c;
    pthread_mutex_unlock(&mu);
    return crc;
}

void dld_offload_set_crc32c(dld_offload *q, int want, uint32_t crc) {
    pthread_mutex_lock(&mu);
    q->want_crc32c = want;
    q->crc32c = crc;
    pthread_mutex_unlock(&mu);
}

void dld_offload_stop(dld_offload *q) {
    dld_offload_drain(q);
    pthread_mutex_lock(&mu);
    live--;
    pthread_mutex_unlock(&mu);
    destroy(q);
}

void dld_offload_stats(long *queues, int *threads, long *by_producers) {
    pthread_mutex_lock(&mu);
    *queues = live;
    *threads = workers;
    *by_producers = caught_up;
    pthread_mutex_unlock(&mu);
}
