/* Test plugins that must be refused (BADPLUG_MODE):
 *   1  built for a newer plugin ABI than the host's;
 *   2  coio_plugin_init returns NULL;
 *   3  an info struct too small to be one;
 *   4  no coio_plugin_init at all. */
#include <coio_plugin.h>

#include <stddef.h>

static int attached;

static int attach(coio_loop *loop, const char *config, void **state) {
    (void)loop;
    (void)config;
    (void)state;
    attached++; /* never reached: the host refuses first */
    return COIO_OK;
}

#if BADPLUG_MODE == 4
COIO_PLUGIN_EXPORT int coio_plugin_inti(const coio_host *host);
COIO_PLUGIN_EXPORT int coio_plugin_inti(const coio_host *host) {
    (void)host;
    return attach(NULL, NULL, NULL);
}
#else
static const coio_plugin_info info = {
#if BADPLUG_MODE == 3
    offsetof(coio_plugin_info, name),
#else
    sizeof(coio_plugin_info),
#endif
#if BADPLUG_MODE == 1
    COIO_PLUGIN_ABI + 1,
#else
    COIO_PLUGIN_ABI,
#endif
    "bad",
    "0",
    attach,
    NULL};

const coio_plugin_info *coio_plugin_init(const coio_host *host) {
    (void)host;
#if BADPLUG_MODE == 2
    return host ? NULL : &info;
#else
    return &info;
#endif
}
#endif
