/* resolve_client — looks names up through the "resolver" service of the coio-resolver plugin.
 *
 *     resolve_client [--plugin PATH_OR_NAME] [-n] [--cancel] NAME...
 *
 * The service comes from COIO_PLUGINS if that loaded the plugin already, else the program
 * loads it (default: by name, "resolver", from $COIO_PLUGIN_PATH or the installed plugin
 * directory).  All lookups run at once on the executor; each name's addresses are printed in
 * argument order, one line per name: "NAME: ADDR ADDR ..." or "NAME: error: MESSAGE".  -n
 * asks for numeric hosts only (AI_NUMERICHOST: no lookup leaves the machine); --cancel cancels
 * every lookup right after starting it (each line then says "NAME: cancelled"). */
#define _GNU_SOURCE
#include <coio.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "coio_resolver.h"

typedef struct job {
    int argc;
    char **names;
    struct addrinfo *hints;
    const coio_resolver_v1 *resolver;
    int cancel;
} job;

/* "a b c": the distinct numeric addresses of a list, in order. */
static void print_addresses(const char *name, const struct addrinfo *list) {
    char seen[16][INET6_ADDRSTRLEN];
    int nseen = 0;
    printf("%s:", name);
    for (const struct addrinfo *ai = list; ai; ai = ai->ai_next) {
        char host[INET6_ADDRSTRLEN];
        if (getnameinfo(ai->ai_addr, ai->ai_addrlen, host, sizeof host, NULL, 0, NI_NUMERICHOST) !=
            0)
            continue;
        int dup = 0;
        for (int i = 0; i < nseen; i++)
            dup |= strcmp(seen[i], host) == 0;
        if (dup || nseen == 16) continue;
        strcpy(seen[nseen++], host);
        printf(" %s", host);
    }
    printf("\n");
}

static int main_coro(coio_future *self, void *arg) {
    job *j = arg;
    coio_loop *loop = coio_future_loop(self);
    coio_future **fs = calloc((size_t)j->argc, sizeof *fs);
    if (!fs) return COIO_ENOMEM;
    for (int i = 0; i < j->argc; i++) {
        int rc = j->resolver->getaddrinfo(loop, j->names[i], NULL, j->hints, &fs[i]);
        if (rc != COIO_OK) {
            printf("%s: error: %s\n", j->names[i], coio_strerror(rc));
            fs[i] = NULL;
        } else if (j->cancel) {
            coio_future_cancel(fs[i], "not needed");
        }
    }
    for (int i = 0; i < j->argc; i++) {
        if (!fs[i]) continue;
        void *value;
        int rc = coio_await(fs[i], &value);
        if (rc == COIO_OK) {
            print_addresses(j->names[i], value);
        } else if (rc == COIO_ECANCELLED) {
            printf("%s: cancelled\n", j->names[i]);
        } else {
            const char *msg = NULL;
            coio_future_error(fs[i], NULL, &msg);
            printf("%s: error: %s\n", j->names[i], msg ? msg : coio_strerror(rc));
        }
        coio_future_release(fs[i]);
    }
    free(fs);
    return COIO_OK;
}

int main(int argc, char **argv) {
    const char *plugin = "resolver";
    struct addrinfo hints, *hintsp = NULL;
    int i = 1, cancel = 0;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--plugin") == 0 && i + 1 < argc) {
            plugin = argv[++i];
        } else if (strcmp(argv[i], "--cancel") == 0) {
            cancel = 1;
        } else if (strcmp(argv[i], "-n") == 0) {
            memset(&hints, 0, sizeof hints);
            hints.ai_flags = AI_NUMERICHOST;
            hints.ai_socktype = SOCK_STREAM;
            hintsp = &hints;
        } else {
            break;
        }
    }
    if (i >= argc) {
        fprintf(stderr, "usage: %s [--plugin PATH_OR_NAME] [-n] [--cancel] NAME...\n", argv[0]);
        return 2;
    }
    coio_loop *loop;
    int rc = coio_loop_new(&loop, NULL);
    if (rc != COIO_OK) {
        fprintf(stderr, "coio_loop_new: %s\n", coio_strerror(rc));
        return 1;
    }
    const void *iface;
    if (coio_loop_query(loop, COIO_RESOLVER_NAME, 1, &iface) != COIO_OK) {
        rc = coio_loop_load_plugin(loop, plugin, NULL);
        if (rc != COIO_OK) {
            fprintf(stderr, "cannot load the resolver plugin: %s\n", coio_loop_plugin_error(loop));
            coio_loop_release(loop);
            return 1;
        }
        rc = coio_loop_query(loop, COIO_RESOLVER_NAME, 1, &iface);
        if (rc != COIO_OK) {
            fprintf(stderr, "%s provides no resolver v1\n", plugin);
            coio_loop_release(loop);
            return 1;
        }
    }
    job j = {argc - i, argv + i, hintsp, iface, cancel};
    coio_future *task;
    coio_task_options opt = COIO_TASK_OPTIONS_INIT;
    opt.stack_size = 256 * 1024; /* getaddrinfo's results are printed from the task's stack */
    rc = coio_spawn(loop, main_coro, &j, &opt, &task);
    if (rc == COIO_OK) {
        rc = coio_loop_run_until_complete(loop, task);
        coio_future_release(task);
    }
    coio_loop_release(loop);
    return rc == COIO_OK ? 0 : 1;
}
