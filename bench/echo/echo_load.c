/* echo_load.c — load client for the TCP echo benchmark (bench/echo/echo_compare.py).
 *
 *     echo_load --port P [--host ADDR] [--conns C] [--size BYTES] [--duration SEC]
 *               [--warmup SEC] [--threads T] [--server-pid PID]
 *
 * Opens C connections (default 10) and runs a closed loop on each: send one message of BYTES
 * bytes (default 1024), read the whole echo back, check it, send the next.  Requests that
 * complete during the measured window (DURATION s, default 2, after WARMUP s, default 0.3)
 * are counted.  Every message carries a fresh 8-byte sequence number and the echo must equal
 * it byte for byte.
 *
 * The client is lean so it is not what limits the rate: T threads (default 1), each an epoll
 * loop (level-triggered, EPOLLIN registered once, EPOLLOUT only while a send is partial) over
 * its share of the connections; per request one send(), usually one recv(), and a share of
 * one epoll_wait().  With --server-pid it also reads the server's CPU time (all its threads,
 * /proc/PID/task/TID/schedstat, nanoseconds) over the window: server CPU per request measures
 * the server's cost even when the client is the bottleneck.  Its own CPU time is reported
 * too: client_cpu near 1.0 per thread means the client was saturated.
 *
 * Prints one line:
 *     conns=C size=BYTES requests=N secs=S rps=R client_cpu=U server_cpu=V server_us_per_req=W
 *     total=T
 * (cpu values are CPU-seconds per second of the window; T counts the requests of the whole
 * run, warm-up and the tail included, e.g. to divide a server's strace -c counts by).  Exits 1 on a
 * wrong echo or a lost connection.
 */
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct conn {
    int fd;
    int want_out; /* EPOLLOUT registered */
    size_t sent;  /* bytes of the current message sent */
    size_t got;   /* bytes of its echo received */
    uint64_t seq;
    unsigned char *msg;
    unsigned char *echo;
};

struct worker {
    pthread_t thread;
    struct conn *conns;
    int nconns;
    int ep;
    unsigned long long counted; /* requests completed inside the window */
    unsigned long long total;   /* requests completed in all */
    unsigned long long errors;
};

static struct sockaddr_in addr;
static size_t size = 1024;
static double t_start, t_end; /* the window, CLOCK_MONOTONIC seconds */
static int stop;              /* set once the window has been measured */

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_until(double t) {
    struct timespec ts = {.tv_sec = (time_t)t, .tv_nsec = (long)((t - (double)(time_t)t) * 1e9)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

static double process_cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* CPU seconds of every thread of process pid, from schedstat (nanoseconds). */
static double cpu_seconds(const char *pid) {
    char path[128];
    snprintf(path, sizeof path, "/proc/%s/task", pid);
    DIR *d = opendir(path);
    if (d == NULL) return -1;
    double total = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        int n = snprintf(path, sizeof path, "/proc/%s/task/%s/schedstat", pid, e->d_name);
        FILE *f = n > 0 && (size_t)n < sizeof path ? fopen(path, "r") : NULL;
        unsigned long long ns;
        if (f != NULL) {
            if (fscanf(f, "%llu", &ns) == 1) total += (double)ns / 1e9;
            fclose(f);
        }
    }
    closedir(d);
    return total;
}

static void next_message(struct conn *c) {
    c->seq++;
    memcpy(c->msg, &c->seq, sizeof c->seq < size ? sizeof c->seq : size);
    c->sent = 0;
    c->got = 0;
}

/* Sends what is left of the current message; 0, or -1 on a lost connection. */
static int send_rest(struct worker *w, struct conn *c) {
    while (c->sent < size) {
        ssize_t n = send(c->fd, c->msg + c->sent, size - c->sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN) return -1;
            break;
        }
        c->sent += (size_t)n;
    }
    int want_out = c->sent < size;
    if (want_out != c->want_out) {
        struct epoll_event ev = {.events = EPOLLIN | (want_out ? EPOLLOUT : 0u), .data.ptr = c};
        epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &ev);
        c->want_out = want_out;
    }
    return 0;
}

static void *run_worker(void *arg) {
    struct worker *w = arg;
    struct epoll_event events[256];
    for (int i = 0; i < w->nconns; i++) {
        struct conn *c = &w->conns[i];
        next_message(c);
        if (send_rest(w, c) < 0) {
            w->errors++;
            return NULL;
        }
    }
    for (;;) {
        int n = epoll_wait(w->ep, events, 256, 100);
        if (__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) break;
        double t = now();
        int counting = t >= t_start && t < t_end;
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            ssize_t r = -1;
            if (events[i].events & EPOLLOUT) {
                if (send_rest(w, c) < 0) goto lost;
            }
            if (!(events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))) continue;
            r = recv(c->fd, c->echo + c->got, size - c->got, 0);
            if (r <= 0) {
                if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
                goto lost;
            }
            c->got += (size_t)r;
            if (c->got > c->sent) {
                fprintf(stderr, "echo_load: more echoed than sent\n");
                w->errors++;
                return NULL;
            }
            if (c->got < size) continue;
            if (memcmp(c->echo, c->msg, size) != 0) {
                fprintf(stderr, "echo_load: wrong echo (seq %llu)\n", (unsigned long long)c->seq);
                w->errors++;
                return NULL;
            }
            w->counted += (unsigned long long)counting;
            w->total++;
            next_message(c);
            if (send_rest(w, c) < 0) goto lost;
            continue;
        lost:
            fprintf(stderr, "echo_load: connection lost: %s\n",
                    r == 0 ? "end of stream" : strerror(errno));
            w->errors++;
            return NULL;
        }
    }
    return NULL;
}

static void usage(void) {
    fprintf(stderr, "usage: echo_load --port P [--host ADDR] [--conns C] [--size BYTES] "
                    "[--duration SEC] [--warmup SEC] [--threads T] [--server-pid PID]\n");
    exit(2);
}

int main(int argc, char **argv) {
    const char *host = "127.0.0.1", *server_pid = NULL;
    int port = 0, nconns = 10, nthreads = 1;
    double duration = 2.0, warmup = 0.3;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL) usage();
        i++;
        if (strcmp(a, "--port") == 0)
            port = atoi(v);
        else if (strcmp(a, "--host") == 0)
            host = v;
        else if (strcmp(a, "--conns") == 0)
            nconns = atoi(v);
        else if (strcmp(a, "--size") == 0)
            size = (size_t)atol(v);
        else if (strcmp(a, "--duration") == 0)
            duration = atof(v);
        else if (strcmp(a, "--warmup") == 0)
            warmup = atof(v);
        else if (strcmp(a, "--threads") == 0)
            nthreads = atoi(v);
        else if (strcmp(a, "--server-pid") == 0)
            server_pid = v;
        else
            usage();
    }
    if (port <= 0 || nconns <= 0 || size == 0 || duration <= 0 || warmup < 0 || nthreads <= 0)
        usage();
    if (nthreads > nconns) nthreads = nconns;
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)port);
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) usage();
    signal(SIGPIPE, SIG_IGN);

    struct worker *workers = calloc((size_t)nthreads, sizeof *workers);
    struct conn *conns = calloc((size_t)nconns, sizeof *conns);
    if (workers == NULL || conns == NULL) return 1;
    for (int i = 0; i < nconns; i++) {
        struct conn *c = &conns[i];
        c->msg = malloc(size);
        c->echo = malloc(size);
        if (c->msg == NULL || c->echo == NULL) return 1;
        for (size_t j = 0; j < size; j++)
            c->msg[j] = (unsigned char)(j * 7 + (size_t)i);
        c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
            perror("echo_load: connect");
            return 1;
        }
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK) < 0) {
            perror("echo_load: fcntl");
            return 1;
        }
    }
    for (int t = 0; t < nthreads; t++) {
        struct worker *w = &workers[t];
        w->ep = epoll_create1(EPOLL_CLOEXEC);
        w->conns = &conns[(long)nconns * t / nthreads];
        w->nconns = (int)((long)nconns * (t + 1) / nthreads - (long)nconns * t / nthreads);
        for (int i = 0; i < w->nconns; i++) {
            struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &w->conns[i]};
            if (epoll_ctl(w->ep, EPOLL_CTL_ADD, w->conns[i].fd, &ev) < 0) {
                perror("echo_load: epoll_ctl");
                return 1;
            }
        }
    }

    double t0 = now();
    t_start = t0 + warmup;
    t_end = t_start + duration;
    for (int t = 0; t < nthreads; t++)
        pthread_create(&workers[t].thread, NULL, run_worker, &workers[t]);

    sleep_until(t_start);
    double srv0 = server_pid ? cpu_seconds(server_pid) : -1;
    double cli0 = process_cpu_seconds();
    sleep_until(t_end);
    double srv1 = server_pid ? cpu_seconds(server_pid) : -1;
    double cli1 = process_cpu_seconds();
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);

    unsigned long long requests = 0, total = 0, errors = 0;
    for (int t = 0; t < nthreads; t++) {
        pthread_join(workers[t].thread, NULL);
        requests += workers[t].counted;
        total += workers[t].total;
        errors += workers[t].errors;
    }
    for (int i = 0; i < nconns; i++) {
        close(conns[i].fd);
        free(conns[i].msg);
        free(conns[i].echo);
    }
    double srv_cpu = srv0 >= 0 && srv1 >= 0 ? (srv1 - srv0) / duration : -1;
    printf("conns=%d size=%zu requests=%llu secs=%.3f rps=%.0f client_cpu=%.3f server_cpu=%.3f "
           "server_us_per_req=%.3f total=%llu\n",
           nconns, size, requests, duration, (double)requests / duration, (cli1 - cli0) / duration,
           srv_cpu, srv_cpu >= 0 && requests ? (srv1 - srv0) / (double)requests * 1e6 : -1.0,
           total);
    free(conns);
    free(workers);
    if (errors) {
        fprintf(stderr, "echo_load: %llu errors\n", errors);
        return 1;
    }
    return 0;
}
