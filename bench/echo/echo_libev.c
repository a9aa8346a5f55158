/* echo_libev.c — the raw-libev TCP echo server: the floor for coio's echo server.
 *
 *     echo_libev [PORT]        (0 or nothing: an ephemeral port)
 *
 * One ev_io per connection, level-triggered: on EV_READ, one recv() into the connection's
 * buffer and one send() of what came; only if the send is partial (or EAGAIN) does the
 * watcher switch to EV_WRITE until the rest is out, then back to EV_READ.  Accepts with
 * accept4() until EAGAIN.  TCP_NODELAY on every connection, as asyncio, uvloop and the coio
 * example set it.  Prints "listening on 127.0.0.1:PORT" once it accepts; SIGINT / SIGTERM
 * end it (exit 0).
 */
#define _GNU_SOURCE

#include <ev.h>

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

#define BUF_SIZE 16384 /* as the coio example server's */

struct conn {
    ev_io io;   /* first: the watcher pointer is the connection pointer */
    size_t off; /* bytes of buf already sent back */
    size_t len; /* bytes in buf */
    char buf[BUF_SIZE];
};

static void conn_close(struct ev_loop *loop, struct conn *c) {
    ev_io_stop(loop, &c->io);
    close(c->io.fd);
    free(c);
}

static void conn_watch(struct ev_loop *loop, struct conn *c, int events) {
    ev_io_stop(loop, &c->io);
    ev_io_set(&c->io, c->io.fd, events);
    ev_io_start(loop, &c->io);
}

static void on_conn(struct ev_loop *loop, ev_io *w, int revents) {
    struct conn *c = (struct conn *)w;
    int fd = w->fd;
    if (revents & EV_READ) {
        ssize_t n = recv(fd, c->buf, BUF_SIZE, 0);
        if (n <= 0) {
            if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
            conn_close(loop, c); /* end of stream or error */
            return;
        }
        ssize_t s = send(fd, c->buf, (size_t)n, MSG_NOSIGNAL);
        if (s == n) return;
        if (s < 0) {
            if (errno != EAGAIN && errno != EINTR) {
                conn_close(loop, c);
                return;
            }
            s = 0;
        }
        c->off = (size_t)s;
        c->len = (size_t)n;
        conn_watch(loop, c, EV_WRITE); /* stop reading until the rest is out */
    } else if (revents & EV_WRITE) {
        ssize_t s = send(fd, c->buf + c->off, c->len - c->off, MSG_NOSIGNAL);
        if (s < 0) {
            if (errno != EAGAIN && errno != EINTR) conn_close(loop, c);
            return;
        }
        c->off += (size_t)s;
        if (c->off == c->len) conn_watch(loop, c, EV_READ);
    }
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents) {
    (void)revents;
    for (;;) {
        int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                perror("echo_libev: accept4");
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct conn *c = malloc(sizeof *c);
        if (c == NULL) {
            close(fd);
            continue;
        }
        ev_io_init(&c->io, on_conn, fd, EV_READ);
        ev_io_start(loop, &c->io);
    }
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents) {
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 0;
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons((unsigned short)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    socklen_t len = sizeof sin;
    if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(lfd, (struct sockaddr *)&sin, sizeof sin) < 0 || listen(lfd, SOMAXCONN) < 0 ||
        getsockname(lfd, (struct sockaddr *)&sin, &len) < 0) {
        perror("echo_libev");
        return 1;
    }
    struct ev_loop *loop = ev_default_loop(EVFLAG_AUTO);
    ev_io accept_w;
    ev_io_init(&accept_w, on_accept, lfd, EV_READ);
    ev_io_start(loop, &accept_w);
    ev_signal sigint_w, sigterm_w;
    ev_signal_init(&sigint_w, on_signal, SIGINT);
    ev_signal_init(&sigterm_w, on_signal, SIGTERM);
    ev_signal_start(loop, &sigint_w);
    ev_signal_start(loop, &sigterm_w);

    printf("listening on 127.0.0.1:%u\n", ntohs(sin.sin_port));
    fflush(stdout);
    ev_run(loop, 0);
    close(lfd);
    return 0;
}
