/* coio-resolver: a coio plugin that provides the "resolver" service (coio_resolver.h):
 * getaddrinfo on the loop's executor, as a future (asyncio's loop.getaddrinfo).
 *
 *     COIO_PLUGINS=resolver ./program      (or coio_loop_load_plugin(loop, "resolver", NULL))
 *
 * The future is a custom one (coio_future_new_custom): cancelling it cancels the executor job,
 * which is removed if it has not started yet. */
#define _GNU_SOURCE
#include <coio_plugin.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "coio_resolver.h"

static const coio_host *H;

/* A lookup, owned by the executor job (freed by its drop once the job ran or never will). */
typedef struct request {
    char *host, *service;
    struct addrinfo hints;
    int has_hints;
} request;

/* What the job returns (the job future's result, freed by result_free unless taken). */
typedef struct outcome {
    int rc;
    struct addrinfo *res;
} outcome;

/* The custom future's state: the job it waits for. */
typedef struct lookup {
    coio_future *job;
} lookup;

static void request_free(void *p) {
    request *r = p;
    free(r->host);
    free(r->service);
    free(r);
}

static void outcome_free(void *p) {
    outcome *o = p;
    if (o->res) freeaddrinfo(o->res);
    free(o);
}

static void addrinfo_free(void *p) {
    freeaddrinfo(p);
}

/* On an executor thread: only the request is touched. */
static void *work(void *arg) {
    request *r = arg;
    outcome *o = calloc(1, sizeof *o);
    if (!o) return NULL;
    o->rc = getaddrinfo(r->host, r->service, r->has_hints ? &r->hints : NULL, &o->res);
    return o;
}

/* The job is done: complete the lookup's future (unless it was cancelled meanwhile). */
static void job_done(coio_future *job, void *arg) {
    coio_future *f = arg;
    if (H->future_done(f)) return;
    if (H->future_cancelled(job)) {
        H->future_cancel(f, NULL);
        return;
    }
    void *value = NULL;
    coio_free_fn drop = NULL;
    if (H->future_take_result(job, &value, &drop) != COIO_OK || !value) {
        H->future_set_error(f, COIO_ENOMEM, "out of memory");
        if (value && drop) drop(value);
        return;
    }
    outcome *o = value;
    if (o->rc == 0) {
        if (H->future_set_result(f, o->res, addrinfo_free) == COIO_OK) o->res = NULL;
    } else {
        H->future_set_error_payload(f, COIO_EFAILED, gai_strerror(o->rc), (void *)(intptr_t)o->rc,
                                    NULL);
    }
    outcome_free(o);
}

static void release_future(void *p) {
    H->future_release(p);
}

static int lookup_cancel(coio_future *f, void *state, const char *msg) {
    (void)f;
    (void)msg;
    lookup *l = state;
    H->future_cancel(l->job, NULL); /* removed if not started; else its outcome is dropped */
    return COIO_CANCEL_NOW;
}

static void lookup_drop(void *state) {
    lookup *l = state;
    H->future_release(l->job);
    free(l);
}

static const coio_future_ops lookup_ops = {sizeof(coio_future_ops), lookup_cancel, lookup_drop,
                                           NULL};

static char *dup_or_null(const char *s, int *failed) {
    if (!s) return NULL;
    char *p = strdup(s);
    if (!p) *failed = 1;
    return p;
}

static int resolve(coio_loop *loop, const char *host, const char *service,
                   const struct addrinfo *hints, coio_future **out) {
    if (!loop || !out || (!host && !service)) return COIO_EINVAL;
    request *r = calloc(1, sizeof *r);
    lookup *l = calloc(1, sizeof *l);
    int failed = !r || !l;
    if (r) {
        r->host = dup_or_null(host, &failed);
        r->service = dup_or_null(service, &failed);
        if (hints) {
            r->has_hints = 1;
            r->hints.ai_flags = hints->ai_flags;
            r->hints.ai_family = hints->ai_family;
            r->hints.ai_socktype = hints->ai_socktype;
            r->hints.ai_protocol = hints->ai_protocol;
        }
    }
    if (failed) {
        if (r) request_free(r);
        free(l);
        return COIO_ENOMEM;
    }
    coio_future *f;
    int rc = H->future_new_custom(loop, &lookup_ops, l, &f);
    if (rc != COIO_OK) {
        request_free(r);
        free(l);
        return rc;
    }
    /* From here on f owns l (lookup_drop frees it, releasing l->job if set). */
    rc = H->run_in_executor(loop, work, r, request_free, outcome_free, &l->job);
    if (rc != COIO_OK) {
        request_free(r);
        H->future_release(f);
        return rc;
    }
    rc = H->future_add_done_callback(l->job, job_done, H->future_ref(f), release_future);
    if (rc != COIO_OK) {
        H->future_release(f); /* the callback's reference */
        H->future_cancel(l->job, NULL);
        H->future_release(f);
        return rc;
    }
    *out = f;
    return COIO_OK;
}

static const coio_resolver_v1 resolver = {sizeof(coio_resolver_v1), resolve};

static int attach(coio_loop *loop, const char *config, void **state) {
    (void)config;
    *state = NULL;
    return H->loop_provide(loop, COIO_RESOLVER_NAME, COIO_RESOLVER_VERSION, &resolver, NULL);
}

static const coio_plugin_info info = COIO_PLUGIN_INFO_INIT("resolver", "1.0", attach, NULL);

const coio_plugin_info *coio_plugin_init(const coio_host *host) {
    H = host;
    return &info;
}
