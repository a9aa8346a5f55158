/* echo_client.c — a TCP echo client with coio coroutines.
 *
 * The Python original (the asyncio docs' "TCP echo client using streams", for several
 * messages and with a time limit):
 *
 *     import asyncio
 *
 *     async def tcp_echo_client(messages):
 *         async with asyncio.timeout(60):
 *             reader, writer = await asyncio.open_connection('127.0.0.1', 8888)
 *             for message in messages:
 *                 print(f'Send: {message!r}')
 *                 writer.write(message.encode())
 *                 await writer.drain()
 *                 data = await reader.readexactly(len(message))
 *                 print(f'Received: {data.decode()!r}')
 *             print('Close the connection')
 *             writer.close()
 *
 *     asyncio.run(tcp_echo_client(['Hello World!']))
 *
 * Usage:
 *   echo_client [--host ADDR] [--timeout SEC] PORT [MESSAGE...]
 *       one connection; sends each MESSAGE (default "Hello World!"), prints what comes back
 *   echo_client [--host ADDR] [--timeout SEC] --connections N [--size BYTES] [--count K] PORT
 *       load mode: N connections at once, each sending K messages of BYTES bytes (default 1
 *       and 1024) while reading the echo back in a second task, checking every byte
 *
 * Exits 0 when every byte came back as sent, 1 otherwise (mismatch, connection error, or the
 * time limit — 60 s by default — expired).
 */
#define _GNU_SOURCE

#include <coio.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CHECK(call)                                                                                \
    do {                                                                                           \
        int check_rc_ = (call);                                                                    \
        if (check_rc_ < 0) {                                                                       \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call,                          \
                    coio_status_name(check_rc_));                                                  \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

struct options {
    struct sockaddr_in addr;
    double timeout;
    int load; /* load mode (--connections / --size / --count given) */
    long connections;
    size_t size;
    long count;
    char **messages; /* plain mode */
    int nmessages;
};

/* reader, writer = await asyncio.open_connection(host, port): a connected non-blocking socket
 * in *out, or a status (COIO_ESYS with errno in *err, COIO_ECANCELLED). */
static int open_connection(const struct sockaddr_in *addr, int *out, int *err) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *err = errno;
        return COIO_ESYS;
    }
    int rc = coio_co_connect(fd, (const struct sockaddr *)addr, sizeof *addr, err);
    if (rc != COIO_OK) {
        close(fd);
        return rc;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    *out = fd;
    return COIO_OK;
}

/* await reader.readexactly(len): COIO_EFAILED (with the task's error set) on an early end of
 * stream. */
static int read_exactly(coio_future *self, int fd, void *buf, size_t len) {
    size_t got = 0;
    while (got < len) {
        size_t n = 0;
        int err = 0;
        int rc = coio_co_recv_into(fd, (char *)buf + got, len - got, &n, &err);
        if (rc == COIO_ESYS) {
            coio_future_set_error(self, COIO_ESYS, strerror(err));
            return COIO_EFAILED;
        }
        if (rc != COIO_OK) return rc;
        if (n == 0) {
            coio_future_set_error(self, COIO_EFAILED, "connection closed before the echo came");
            return COIO_EFAILED;
        }
        got += n;
    }
    return COIO_OK;
}

/* ---- plain mode: the docs' client ------------------------------------------------------ */

static int plain_client(coio_future *self, const struct options *o) {
    int fd, err = 0;
    int rc = open_connection(&o->addr, &fd, &err);
    if (rc == COIO_ESYS) {
        coio_future_set_error(self, COIO_ESYS, strerror(err));
        return COIO_EFAILED;
    }
    if (rc != COIO_OK) return rc;

    for (int i = 0; i < o->nmessages && rc == COIO_OK; i++) {
        const char *message = o->messages[i];
        size_t len = strlen(message);
        if (len == 0) continue; /* nothing would come back */
        printf("Send: '%s'\n", message);

        /* writer.write(message); await writer.drain() */
        rc = coio_co_sendall(fd, message, len, &err);
        if (rc == COIO_ESYS) {
            coio_future_set_error(self, COIO_ESYS, strerror(err));
            rc = COIO_EFAILED;
            break;
        }
        if (rc != COIO_OK) break;

        /* data = await reader.readexactly(len(message)) */
        char *data = malloc(len + 1);
        if (data == NULL) {
            rc = COIO_ENOMEM;
            break;
        }
        rc = read_exactly(self, fd, data, len);
        if (rc == COIO_OK) {
            data[len] = '\0';
            printf("Received: '%s'\n", data);
            if (memcmp(data, message, len) != 0) {
                coio_future_set_error(self, COIO_EFAILED, "the echo differs from the message");
                rc = COIO_EFAILED;
            }
        }
        free(data);
    }
    if (rc == COIO_OK) printf("Close the connection\n");
    close(fd);
    return rc;
}

/* ---- load mode: N connections, a writer and a reader task each --------------------------- */

/* The byte at offset i of connection c's stream: a pattern that a lost, repeated or reordered
 * chunk breaks. */
static unsigned char pattern(long c, size_t i) {
    return (unsigned char)(i ^ (i >> 8) ^ (i >> 16) ^ ((size_t)c * 37u));
}

struct load_conn {
    const struct options *o;
    long index;
    int fd;
};

/* Sends K messages of `size` bytes; a task of its own, so that the echo is read meanwhile
 * (a message larger than the sockets' buffers would otherwise deadlock writer and server). */
static int load_writer(coio_future *self, void *arg) {
    const struct load_conn *lc = arg;
    const struct options *o = lc->o;
    unsigned char *msg = malloc(o->size);
    if (msg == NULL) return COIO_ENOMEM;
    int rc = COIO_OK;
    size_t offset = 0;
    for (long k = 0; k < o->count && rc == COIO_OK; k++) {
        for (size_t i = 0; i < o->size; i++)
            msg[i] = pattern(lc->index, offset + i);
        int err = 0;
        rc = coio_co_sendall(lc->fd, msg, o->size, &err);
        if (rc == COIO_ESYS) {
            coio_future_set_error(self, COIO_ESYS, strerror(err));
            rc = COIO_EFAILED;
        }
        offset += o->size;
    }
    free(msg);
    return rc;
}

/* One connection: connect, start the writer, read everything back and check it. */
static int load_connection(coio_future *self, void *arg) {
    struct load_conn *lc = arg;
    const struct options *o = lc->o;
    coio_loop *loop = coio_future_loop(self);

    int err = 0;
    int rc = open_connection(&o->addr, &lc->fd, &err);
    if (rc == COIO_ESYS) {
        coio_future_set_error(self, COIO_ESYS, strerror(err));
        return COIO_EFAILED;
    }
    if (rc != COIO_OK) return rc;

    /* async with TaskGroup() as tg: tg.create_task(writer()); ...read... */
    coio_task_group *tg;
    CHECK(coio_task_group_new(loop, &tg));
    rc = coio_task_group_spawn(tg, load_writer, lc, NULL, NULL);

    size_t total = o->size * (size_t)o->count, got = 0;
    unsigned char buf[16384];
    while (rc == COIO_OK && got < total) {
        size_t want = total - got < sizeof buf ? total - got : sizeof buf;
        rc = read_exactly(self, lc->fd, buf, want);
        for (size_t i = 0; rc == COIO_OK && i < want; i++) {
            if (buf[i] != pattern(lc->index, got + i)) {
                char msg[96];
                snprintf(msg, sizeof msg, "byte %zu of the echo differs", got + i);
                coio_future_set_error(self, COIO_EFAILED, msg);
                rc = COIO_EFAILED;
            }
        }
        got += want;
    }

    coio_future *all;
    int grc = coio_task_group_exit(tg, rc, &all);
    if (grc == COIO_OK) {
        grc = coio_await(all, NULL);
        coio_future_release(all);
    }
    if (rc == COIO_OK && grc != COIO_OK) {
        /* the writer failed: report its error as this connection's */
        coio_future *failed[1];
        if (coio_task_group_errors(tg, failed, 1) > 0) {
            int code;
            const char *message;
            coio_future_error(failed[0], &code, &message);
            coio_future_set_error(self, code, message);
            coio_future_release(failed[0]);
        }
        rc = grc;
    }
    coio_task_group_free(tg);
    close(lc->fd);
    return rc;
}

static int load_client(coio_future *self, const struct options *o) {
    coio_loop *loop = coio_future_loop(self);
    struct load_conn *conns = calloc((size_t)o->connections, sizeof *conns);
    if (conns == NULL) return COIO_ENOMEM;

    coio_task_group *tg;
    CHECK(coio_task_group_new(loop, &tg));
    int rc = COIO_OK;
    for (long c = 0; c < o->connections && rc == COIO_OK; c++) {
        conns[c] = (struct load_conn){.o = o, .index = c, .fd = -1};
        rc = coio_task_group_spawn(tg, load_connection, &conns[c], NULL, NULL);
    }
    coio_future *all;
    int grc = coio_task_group_exit(tg, rc, &all);
    if (grc == COIO_OK) {
        grc = coio_await(all, NULL);
        coio_future_release(all);
    }
    /* Name what went wrong: the first failed connection's error. */
    coio_future *failed[1];
    if (coio_task_group_errors(tg, failed, 1) > 0) {
        const char *message = NULL;
        coio_future_error(failed[0], NULL, &message);
        fprintf(stderr, "echo_client: %s: %s\n", coio_task_name(failed[0]),
                message ? message : "failed");
        coio_future_release(failed[0]);
    }
    coio_task_group_free(tg);
    free(conns);
    if (grc == COIO_OK)
        printf("%ld connections: %ld x %zu bytes each echoed and verified\n", o->connections,
               o->count, o->size);
    return grc;
}

static int client_main(coio_future *self, void *arg) {
    const struct options *o = arg;
    coio_loop *loop = coio_future_loop(self);

    /* async with asyncio.timeout(o->timeout): */
    coio_timeout *tm;
    CHECK(coio_timeout_enter(loop, o->timeout, &tm));
    int rc = o->load ? load_client(self, o) : plain_client(self, o);
    rc = coio_timeout_exit(tm, rc);
    if (rc == COIO_ETIMEDOUT) {
        coio_future_set_error(self, COIO_ETIMEDOUT, "time limit expired");
        rc = COIO_EFAILED;
    }
    return rc;
}

static void usage(void) {
    fprintf(stderr,
            "usage: echo_client [--host ADDR] [--timeout SEC] PORT [MESSAGE...]\n"
            "       echo_client [--host ADDR] [--timeout SEC] --connections N [--size BYTES]"
            " [--count K] PORT\n");
    exit(2);
}

static long parse_long(const char *s, long min) {
    char *end;
    long v = strtol(s, &end, 10);
    if (*end != '\0' || v < min) usage();
    return v;
}

int main(int argc, char **argv) {
    static char *default_messages[] = {"Hello World!"};
    struct options o = {.timeout = 60, .connections = 1, .size = 1024, .count = 1};
    const char *host = "127.0.0.1";
    long port = -1;
    int i;
    for (i = 1; i < argc && port < 0; i++) {
        if (strcmp(argv[i], "--host") == 0 && i + 1 < argc) {
            host = argv[++i];
        } else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
            o.timeout = strtod(argv[++i], NULL);
            if (!(o.timeout > 0)) usage();
        } else if (strcmp(argv[i], "--connections") == 0 && i + 1 < argc) {
            o.connections = parse_long(argv[++i], 1);
            o.load = 1;
        } else if (strcmp(argv[i], "--size") == 0 && i + 1 < argc) {
            o.size = (size_t)parse_long(argv[++i], 1);
            o.load = 1;
        } else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc) {
            o.count = parse_long(argv[++i], 1);
            o.load = 1;
        } else if (argv[i][0] != '-') {
            port = parse_long(argv[i], 1);
            if (port > 65535) usage();
        } else {
            usage();
        }
    }
    if (port < 0 || (o.load && i < argc)) usage();
    o.messages = i < argc ? argv + i : default_messages;
    o.nmessages = i < argc ? argc - i : 1;
    o.addr.sin_family = AF_INET;
    o.addr.sin_port = htons((unsigned short)port);
    if (inet_pton(AF_INET, host, &o.addr.sin_addr) != 1) {
        fprintf(stderr, "echo_client: not an IPv4 address: %s\n", host);
        return 2;
    }

    /* asyncio.run(tcp_echo_client(messages)) */
    coio_loop *loop;
    CHECK(coio_loop_new(&loop, NULL));
    coio_future *task;
    CHECK(coio_spawn(loop, client_main, &o, NULL, &task));
    int rc = coio_loop_run_until_complete(loop, task);
    if (rc != COIO_OK) {
        const char *message = NULL;
        coio_future_error(task, NULL, &message);
        fprintf(stderr, "echo_client: %s\n", message ? message : coio_strerror(rc));
    }
    coio_future_release(task);
    CHECK(coio_loop_close(loop));
    CHECK(coio_loop_release(loop));
    return rc == COIO_OK ? 0 : 1;
}
