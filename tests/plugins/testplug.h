/* What the test suite and its test plugins share: a log service the test provides, and the
 * service each test plugin provides back. */
#ifndef COIO_TESTPLUG_H
#define COIO_TESTPLUG_H

#include <stdint.h>

#include <coio.h>

/* "testlog" v1, provided by the test: plugins append lines to it. */
typedef struct testlog_iface {
    uint32_t size;
    void (*line)(const char *text);
} testlog_iface;

/* NAME v1, provided by a test plugin that attached (NAME = its name). */
typedef struct testplug_iface {
    uint32_t size;
    int (*init_count)(void);                /* how often coio_plugin_init ran */
    const char *(*config)(coio_loop *loop); /* the config its attach got on loop */
    /* A future completed by a call_soon callback of the plugin: made through host slots. */
    int (*make_future)(coio_loop *loop, coio_future **out);
} testplug_iface;

#endif
