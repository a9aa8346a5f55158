/* echo_test.c — the test of the echo example (`meson test --suite examples tcp-echo`).
 *
 *     echo_test [--valgrind PATH] ECHO_SERVER ECHO_CLIENT
 *
 * Starts the server on an ephemeral port (port 0: it prints the one it got), runs the client
 * against it — the docs' messages, a load run with large messages on 20 connections, a client
 * that resets its connection — checks every output, then stops the server with SIGTERM and
 * checks that it exits 0 after "stopped".  Then runs a server with --once, which must exit 0
 * by itself after one client.  Every wait has a deadline; children left over are killed.
 *
 * Written in C rather than Python so that `meson test --setup valgrind` can run it: the
 * setup wraps this program in valgrind, which does not follow children; so when this program
 * finds itself under valgrind (its LD_PRELOAD names valgrind's preload library) and --valgrind
 * gives the valgrind program, it starts server and client under valgrind too, with the
 * setup's options, and deadlines ten times longer.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *valgrind_argv[] = {"--quiet",
                                      "--error-exitcode=99",
                                      "--leak-check=full",
                                      "--errors-for-leak-kinds=definite,indirect,possible",
                                      "--show-leak-kinds=all",
                                      "--track-fds=no",
                                      NULL};

static const char *valgrind; /* non-NULL: run children under it */
static double scale = 1.0;   /* deadlines are multiplied by this */
static pid_t children[8];
static int nchildren;

static void kill_children(void) {
    for (int i = 0; i < nchildren; i++)
        if (children[i] > 0) kill(children[i], SIGKILL);
}

static void fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "echo_test: FAIL: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    kill_children();
    exit(1);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A child process with its stdout in a pipe. */
struct child {
    pid_t pid;
    int out; /* read end of its stdout; -1 once at EOF */
    char buf[16384];
    size_t len; /* bytes of stdout read so far */
    int exited;
    int status;
};

static void start(struct child *c, const char *prog, const char *const *args) {
    const char *argv[32];
    int n = 0;
    if (valgrind) {
        argv[n++] = valgrind;
        for (const char *const *v = valgrind_argv; *v; v++)
            argv[n++] = *v;
    }
    argv[n++] = prog;
    for (const char *const *a = args; *a; a++)
        argv[n++] = *a;
    argv[n] = NULL;

    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) fail("pipe: %s", strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) fail("fork: %s", strerror(errno));
    if (pid == 0) {
        dup2(p[1], STDOUT_FILENO);
        execv(argv[0], (char *const *)argv);
        fprintf(stderr, "echo_test: exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(p[1]);
    memset(c, 0, sizeof *c);
    c->pid = pid;
    c->out = p[0];
    children[nchildren++] = pid;
}

/* Reads what the child has written, waiting until `until` returns true (given the output so
 * far), the child has exited and closed its stdout (then until is asked once more), or the
 * deadline passes (a failure naming `what`). */
static void wait_for(struct child *c, const char *what, double seconds,
                     int (*until)(const struct child *)) {
    double deadline = now() + seconds * scale;
    for (;;) {
        if (until != NULL && until(c)) return;
        if (c->out < 0 && c->exited) break;
        double left = deadline - now();
        if (left <= 0)
            fail("%s: no %s after %.0f s; output so far:\n%.*s", what,
                 until ? "expected output" : "exit", seconds * scale, (int)c->len, c->buf);
        if (c->out >= 0) {
            struct pollfd pfd = {.fd = c->out, .events = POLLIN};
            int ms = left > 0.05 ? 50 : (int)(left * 1000) + 1;
            if (poll(&pfd, 1, ms) > 0) {
                if (c->len + 1 >= sizeof c->buf) fail("%s: too much output", what);
                ssize_t n = read(c->out, c->buf + c->len, sizeof c->buf - 1 - c->len);
                if (n > 0) {
                    c->len += (size_t)n;
                    c->buf[c->len] = '\0';
                } else if (n == 0 || errno != EINTR) {
                    close(c->out);
                    c->out = -1;
                }
            }
        } else {
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        if (!c->exited && waitpid(c->pid, &c->status, WNOHANG) == c->pid) {
            c->exited = 1;
            for (int i = 0; i < nchildren; i++)
                if (children[i] == c->pid) children[i] = 0;
        }
    }
    if (until != NULL && !until(c))
        fail("%s exited without the expected output:\n%.*s", what, (int)c->len, c->buf);
}

static void expect_exit_0(const struct child *c, const char *what) {
    if (!WIFEXITED(c->status) || WEXITSTATUS(c->status) != 0)
        fail("%s: %s %d; output:\n%.*s", what,
             WIFEXITED(c->status) ? "exit status" : "killed by signal",
             WIFEXITED(c->status) ? WEXITSTATUS(c->status) : WTERMSIG(c->status), (int)c->len,
             c->buf);
}

static int has_listening_line(const struct child *c) {
    return strncmp(c->buf, "listening on 127.0.0.1:", 23) == 0 && strchr(c->buf, '\n');
}

/* Runs the client with args to its end; its stdout must be `expected`. */
static void run_client(const char *client, const char *const *args, const char *expected,
                       const char *what) {
    struct child c;
    start(&c, client, args);
    wait_for(&c, what, 60, NULL);
    expect_exit_0(&c, what);
    if (strcmp(c.buf, expected) != 0)
        fail("%s: expected output\n%s\ngot\n%s", what, expected, c.buf);
}

static int count_lines(const char *s, const char *prefix) {
    int n = 0;
    size_t plen = strlen(prefix);
    for (const char *line = s; *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : "")
        n += strncmp(line, prefix, plen) == 0;
    return n;
}

/* A connection that the server has served a little, then resets (SO_LINGER 0) while the
 * server has more to echo: the server must survive its recv or send failing. */
static void reset_connection(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons((unsigned short)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {.tv_sec = (time_t)(20 * scale)};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof sin) < 0)
        fail("reset client: connect: %s", strerror(errno));
    /* One round trip first, so the server has accepted the connection. */
    char ping[5] = "ping", pong[5] = {0};
    if (send(fd, ping, 4, MSG_NOSIGNAL) != 4 || recv(fd, pong, 4, MSG_WAITALL) != 4 ||
        memcmp(ping, pong, 4) != 0)
        fail("reset client: no echo: %s", strerror(errno));
    static char junk[65536];
    memset(junk, 'x', sizeof junk);
    if (send(fd, junk, sizeof junk, MSG_NOSIGNAL) < 0)
        fail("reset client: send: %s", strerror(errno));
    struct linger lin = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lin, sizeof lin);
    close(fd);
}

int main(int argc, char **argv) {
    int a = 1;
    const char *valgrind_path = NULL;
    if (a + 1 < argc && strcmp(argv[a], "--valgrind") == 0) {
        valgrind_path = argv[a + 1];
        a += 2;
    }
    if (argc - a != 2) {
        fprintf(stderr, "usage: echo_test [--valgrind PATH] ECHO_SERVER ECHO_CLIENT\n");
        return 2;
    }
    const char *server = argv[a], *client = argv[a + 1];
    const char *preload = getenv("LD_PRELOAD");
    if (valgrind_path && preload && strstr(preload, "vgpreload")) {
        valgrind = valgrind_path;
        scale = 10;
        fprintf(stderr, "echo_test: under valgrind: running server and client under %s\n",
                valgrind);
    }
    signal(SIGPIPE, SIG_IGN);

    /* 1. A server on an ephemeral port. */
    struct child srv;
    start(&srv, server, (const char *[]){"0", NULL});
    wait_for(&srv, "echo_server", 20, has_listening_line);
    int port = atoi(srv.buf + 23);
    if (port <= 0 || port > 65535) fail("bad listening line: %s", srv.buf);
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);

    /* 2. The docs' client, two messages. */
    run_client(client, (const char *[]){portstr, "Hello World!", "second message", NULL},
               "Send: 'Hello World!'\n"
               "Received: 'Hello World!'\n"
               "Send: 'second message'\n"
               "Received: 'second message'\n"
               "Close the connection\n",
               "echo_client (messages)");

    /* 3. Load: 20 connections at once, messages larger than the socket buffers. */
    run_client(
        client,
        (const char *[]){"--connections", "20", "--size", "200000", "--count", "2", portstr, NULL},
        "20 connections: 2 x 200000 bytes each echoed and verified\n", "echo_client (load)");

    /* 4. A client that resets; then the server must still serve. */
    reset_connection(port);
    run_client(client, (const char *[]){portstr, "still there?", NULL},
               "Send: 'still there?'\nReceived: 'still there?'\nClose the connection\n",
               "echo_client (after a reset)");

    /* 5. SIGTERM stops it: exit 0, "stopped" last. */
    kill(srv.pid, SIGTERM);
    wait_for(&srv, "echo_server after SIGTERM", 20, NULL);
    expect_exit_0(&srv, "echo_server after SIGTERM");
    const int nconns = 1 + 20 + 1 + 1;
    if (srv.len < 8 || strcmp(srv.buf + srv.len - 8, "stopped\n") != 0 ||
        count_lines(srv.buf, "connection from 127.0.0.1:") != nconns ||
        count_lines(srv.buf, "closed 127.0.0.1:") != nconns)
        fail("echo_server: expected %d connections and closes, then \"stopped\"; got:\n%s", nconns,
             srv.buf);

    /* 6. --once: serves one client, then exits 0 by itself. */
    struct child once;
    start(&once, server, (const char *[]){"--once", "-q", "0", NULL});
    wait_for(&once, "echo_server --once", 20, has_listening_line);
    snprintf(portstr, sizeof portstr, "%d", atoi(once.buf + 23));
    run_client(client, (const char *[]){portstr, "once", NULL},
               "Send: 'once'\nReceived: 'once'\nClose the connection\n",
               "echo_client (--once server)");
    wait_for(&once, "echo_server --once", 20, NULL);
    expect_exit_0(&once, "echo_server --once");
    if (count_lines(once.buf, "") != 1)
        fail("echo_server --once -q: expected only the listening line, got:\n%s", once.buf);

    printf("ok: echo server and client on port %d (%s)\n", port,
           valgrind ? "under valgrind" : "native");
    return 0;
}
