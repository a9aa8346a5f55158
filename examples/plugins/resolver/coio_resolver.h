/* coio_resolver.h — the "resolver" service of the coio-resolver plugin (version 1).
 *
 *     const coio_resolver_v1 *r;
 *     if (coio_loop_query(loop, COIO_RESOLVER_NAME, 1, (const void **)&r) == COIO_OK)
 *         r->getaddrinfo(loop, "localhost", "80", NULL, &future);
 *
 * Later versions only append members: check r->size before using one. */
#ifndef COIO_RESOLVER_H
#define COIO_RESOLVER_H

#include <coio.h>

#include <netdb.h>
#include <stdint.h>

#define COIO_RESOLVER_NAME "resolver"
#define COIO_RESOLVER_VERSION 1

typedef struct coio_resolver_v1 {
    uint32_t size; /* sizeof(coio_resolver_v1) as the provider knows it */
    /* getaddrinfo(host, service, hints) on the loop's executor (host or service may be NULL,
     * as getaddrinfo allows; hints may be NULL; all three are copied).  *out completes with a
     * `const struct addrinfo *` list (owned by the future: coio_future_take_result to keep
     * it, then freeaddrinfo) or fails with COIO_EFAILED, gai_strerror's message and the
     * EAI_* code as payload ((intptr_t) of coio_future_error_payload).  Cancelling *out before
     * the lookup started removes it; a lookup already running finishes and is dropped.
     * EINVAL (NULL loop/out, both names NULL), ECLOSED, ENOMEM. */
    int (*getaddrinfo)(coio_loop *loop, const char *host, const char *service,
                       const struct addrinfo *hints, coio_future **out);
} coio_resolver_v1;

#endif
