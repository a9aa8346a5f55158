/* echo_server.c — a TCP echo server: one stackful coroutine per connection.
 *
 * The Python original, with asyncio's low-level socket API (loop.sock_accept / sock_recv /
 * sock_sendall) and a TaskGroup that owns the connection tasks:
 *
 *     import asyncio, signal, socket
 *
 *     async def handle_client(loop, conn, addr):
 *         with conn:
 *             while data := await loop.sock_recv(conn, 16384):
 *                 await loop.sock_sendall(conn, data)
 *
 *     async def main(port, max_conns=None):
 *         loop = asyncio.get_running_loop()
 *         for sig in (signal.SIGINT, signal.SIGTERM):
 *             loop.add_signal_handler(sig, asyncio.current_task().cancel)
 *         with socket.socket() as server:
 *             server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
 *             server.bind(('127.0.0.1', port))
 *             server.listen()
 *             server.setblocking(False)
 *             print('listening on %s:%d' % server.getsockname(), flush=True)
 *             async with asyncio.TaskGroup() as tg:
 *                 accepted = 0
 *                 while max_conns is None or accepted < max_conns:
 *                     conn, addr = await loop.sock_accept(server)
 *                     accepted += 1
 *                     tg.create_task(handle_client(loop, conn, addr))
 *                 server.close()       # stop listening; the group waits for the clients
 *
 *     asyncio.run(main(8888))
 *
 * Usage: echo_server [-q] [--host ADDR] [--once | --max-conns N] [PORT]
 *
 *   PORT          port to listen on (default 8888); 0 picks a free one.  Either way the
 *                 server prints "listening on ADDR:PORT" once it accepts connections.
 *   --host ADDR   IPv4 address to bind (default 127.0.0.1)
 *   --max-conns N stop accepting after N connections, serve them, then exit 0
 *   --once        --max-conns 1
 *   -q, --quiet   do not print a line per connection
 *
 * SIGINT (Ctrl-C) and SIGTERM cancel the serving task: the accept is abandoned, the task group
 * cancels every connection task, and the program prints "stopped" and exits 0.
 *
 * In coio, coio_co_accept / coio_co_recv_into / coio_co_sendall are the sock_* calls for the
 * body of a coroutine: each tries the system call at once and suspends the task only if the
 * socket is not ready (no future is made when it is).  They return a status, with the errno in
 * `err` when a system call failed (COIO_ESYS); COIO_ECANCELLED when the task was cancelled.
 */
#define _GNU_SOURCE /* accept4 flags, inet_ntop etc. under -std=c11 */

#include <coio.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
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

struct server {
    int fd;         /* the listening socket (-1 once closed) */
    long max_conns; /* < 0: no limit */
    int quiet;
    coio_future *serve_task; /* cancelled by SIGINT / SIGTERM */
};

/* One client connection: the argument of its task, freed (and the socket closed) by the
 * task's drop, which runs once the body has returned — or never will, if the task group
 * cancelled the task before its first step. */
struct conn {
    int fd;
    int quiet;
    char peer[INET6_ADDRSTRLEN + 8]; /* "addr:port" */
};

static void conn_free(void *p) {
    struct conn *c = p;
    close(c->fd);
    free(c);
}

static void format_addr(const struct sockaddr_storage *ss, char *out, size_t size) {
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &sin->sin_addr, host, sizeof host);
        port = ntohs(sin->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof host);
        port = ntohs(sin6->sin6_port);
    }
    snprintf(out, size, "%s:%u", host, port);
}

/* async def handle_client(loop, conn, addr): echo until the client closes its end. */
static int handle_client(coio_future *self, void *arg) {
    (void)self;
    struct conn *c = arg;
    unsigned char buf[16384]; /* on the coroutine's own stack (64 KiB by default) */
    unsigned long long echoed = 0;
    int status = COIO_OK;

    for (;;) {
        /* data = await loop.sock_recv(conn, 16384) */
        size_t n = 0;
        int err = 0;
        status = coio_co_recv_into(c->fd, buf, sizeof buf, &n, &err);
        if (status == COIO_OK && n == 0) break; /* end of stream: the client closed its end */
        /* await loop.sock_sendall(conn, data) */
        if (status == COIO_OK) status = coio_co_sendall(c->fd, buf, n, &err);
        if (status == COIO_ESYS) {
            /* The client reset the connection (or similar): that ends this client only.  A
             * task that failed would make the group cancel every other client. */
            if (!c->quiet) printf("%s: %s\n", c->peer, strerror(err));
            status = COIO_OK;
            break;
        }
        if (status != COIO_OK) break; /* COIO_ECANCELLED: the server is stopping */
        echoed += n;
    }
    if (!c->quiet)
        printf("closed %s (%llu bytes echoed)%s\n", c->peer, echoed,
               status == COIO_ECANCELLED ? ", cancelled" : "");
    return status;
}

/* Errors of accept(2) that concern one connection, or a temporary shortage: go on serving. */
static int accept_error_is_transient(int err) {
    switch (err) {
    case ECONNABORTED:
    case EINTR:
    case EPROTO:
    case EPERM:
    case EMFILE:
    case ENFILE:
    case ENOBUFS:
    case ENOMEM:
        return 1;
    default:
        return 0;
    }
}

/* The body of main(): accept connections, one task each, in a task group. */
static int serve(coio_future *self, void *arg) {
    struct server *srv = arg;
    coio_loop *loop = coio_future_loop(self);

    /* async with asyncio.TaskGroup() as tg: — the group's children are the clients; leaving
     * the group waits for them, and a cancellation of this task cancels them too. */
    coio_task_group *tg;
    CHECK(coio_task_group_new(loop, &tg));

    int status = COIO_OK;
    long accepted = 0;
    while (srv->max_conns < 0 || accepted < srv->max_conns) {
        /* conn, addr = await loop.sock_accept(server) */
        struct sockaddr_storage addr;
        socklen_t addrlen = sizeof addr;
        int fd = -1, err = 0;
        status = coio_co_accept(srv->fd, &fd, (struct sockaddr *)&addr, &addrlen, &err);
        if (status == COIO_ESYS && accept_error_is_transient(err)) {
            fprintf(stderr, "echo_server: accept: %s\n", strerror(err));
            if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
                /* Out of descriptors or memory: back off a little, as asyncio does. */
                coio_future *pause;
                CHECK(coio_sleep(loop, 0.1, &pause));
                status = coio_await(pause, NULL);
                coio_future_release(pause);
                if (status != COIO_OK) break;
            }
            status = COIO_OK;
            continue;
        }
        if (status == COIO_ESYS) fprintf(stderr, "echo_server: accept: %s\n", strerror(err));
        if (status != COIO_OK) break; /* COIO_ECANCELLED: SIGINT / SIGTERM */
        accepted++;

        /* Small writes go out at once (asyncio sets TCP_NODELAY on every TCP transport). */
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

        struct conn *c = malloc(sizeof *c);
        if (c == NULL) {
            close(fd);
            continue;
        }
        c->fd = fd;
        c->quiet = srv->quiet;
        format_addr(&addr, c->peer, sizeof c->peer);
        if (!srv->quiet) printf("connection from %s\n", c->peer);

        /* tg.create_task(handle_client(loop, conn, addr)); the task's drop frees c. */
        coio_task_options opts = COIO_TASK_OPTIONS_INIT;
        opts.drop = conn_free;
        int rc = coio_task_group_spawn(tg, handle_client, c, &opts, NULL);
        if (rc < 0) {
            fprintf(stderr, "echo_server: spawn: %s\n", coio_strerror(rc));
            conn_free(c); /* a failed spawn does not call drop */
        }
    }

    /* server.close(): no more connections; those accepted are served to their end. */
    close(srv->fd);
    srv->fd = -1;

    /* Leaving `async with`: with status COIO_OK the group waits for its clients; with a
     * cancellation (or an accept failure) it cancels them first.  Either way *all completes
     * once every client task is done. */
    coio_future *all;
    int rc = coio_task_group_exit(tg, status, &all);
    if (rc == COIO_OK) {
        rc = coio_await(all, NULL);
        coio_future_release(all);
    }
    coio_task_group_free(tg);
    return rc;
}

/* loop.add_signal_handler(sig, task.cancel) */
static void on_stop_signal(void *arg) {
    struct server *srv = arg;
    coio_future_cancel(srv->serve_task, "signal");
}

static void usage(void) {
    fprintf(stderr, "usage: echo_server [-q] [--host ADDR] [--once | --max-conns N] [PORT]\n");
    exit(2);
}

int main(int argc, char **argv) {
    struct server srv = {.fd = -1, .max_conns = -1, .quiet = 0, .serve_task = NULL};
    const char *host = "127.0.0.1";
    long port = 8888;

    for (int i = 1; i < argc; i++) {
        char *end;
        if (strcmp(argv[i], "-q") == 0 || strcmp(argv[i], "--quiet") == 0) {
            srv.quiet = 1;
        } else if (strcmp(argv[i], "--once") == 0) {
            srv.max_conns = 1;
        } else if (strcmp(argv[i], "--max-conns") == 0 && i + 1 < argc) {
            srv.max_conns = strtol(argv[++i], &end, 10);
            if (*end != '\0' || srv.max_conns < 0) usage();
        } else if (strcmp(argv[i], "--host") == 0 && i + 1 < argc) {
            host = argv[++i];
        } else if (argv[i][0] != '-') {
            port = strtol(argv[i], &end, 10);
            if (*end != '\0' || port < 0 || port > 65535) usage();
        } else {
            usage();
        }
    }

    /* The listening socket: non-blocking, as every socket handed to coio must be. */
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    if (inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
        fprintf(stderr, "echo_server: not an IPv4 address: %s\n", host);
        return 2;
    }
    srv.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (srv.fd < 0) {
        perror("echo_server: socket");
        return 1;
    }
    int one = 1;
    setsockopt(srv.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    socklen_t sinlen = sizeof sin;
    if (bind(srv.fd, (struct sockaddr *)&sin, sizeof sin) < 0 || listen(srv.fd, SOMAXCONN) < 0 ||
        getsockname(srv.fd, (struct sockaddr *)&sin, &sinlen) < 0) {
        perror("echo_server: bind/listen");
        return 1;
    }
    setvbuf(stdout, NULL, _IOLBF, 0); /* a line at a time, also into a pipe */
    printf("listening on %s:%u\n", host, ntohs(sin.sin_port));
    fflush(stdout);

    /* asyncio.run(main(port)) */
    coio_loop *loop;
    CHECK(coio_loop_new(&loop, NULL));
    CHECK(coio_spawn(loop, serve, &srv, NULL, &srv.serve_task));
    CHECK(coio_add_signal_handler(loop, SIGINT, on_stop_signal, &srv, NULL));
    CHECK(coio_add_signal_handler(loop, SIGTERM, on_stop_signal, &srv, NULL));

    int rc = coio_loop_run_until_complete(loop, srv.serve_task);
    if (rc == COIO_ECANCELLED)
        printf("stopped\n"); /* by a signal: the normal way to end a server */
    else if (rc != COIO_OK)
        fprintf(stderr, "echo_server: %s\n", coio_strerror(rc));

    coio_future_release(srv.serve_task);
    CHECK(coio_loop_close(loop)); /* also removes the signal handlers */
    CHECK(coio_loop_release(loop));
    if (srv.fd >= 0) close(srv.fd);
    return rc == COIO_OK || rc == COIO_ECANCELLED ? 0 : 1;
}
