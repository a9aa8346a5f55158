/* A test plugin built against <coio_plugin.h> only (it does not link libcoio).  Built as
 * coio-tplug.so and coio-tplug2.so (TPLUG_NAME), and as coio-frozen.so against the frozen
 * first version of the header (tests/plugin_abi1/).  Its config:
 *   "fail"    attach registers an observer and a service, then fails with COIO_EINVAL;
 *   "observe" attach adds an observer that logs task events to "testlog";
 *   anything else (or none): plain attach. */
#include <coio_plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testplug.h"

#ifndef TPLUG_NAME
#define TPLUG_NAME "tplug"
#endif

static const coio_host *H;
static int inits;

struct state {
    coio_loop *loop;
    char config[64];
    const testlog_iface *log;
};

static void say(const struct state *s, const char *what, const char *detail) {
    if (!s->log) return;
    char line[160];
    snprintf(line, sizeof line, "%s %s%s%s", what, TPLUG_NAME, detail ? " " : "",
             detail ? detail : "");
    s->log->line(line);
}

static int init_count(void) {
    return inits;
}

/* The config of the instance attached to loop: kept in a small table (one per loop). */
static struct state *instances[16];

static const char *config_of(coio_loop *loop) {
    for (int i = 0; i < 16; i++)
        if (instances[i] && instances[i]->loop == loop) return instances[i]->config;
    return NULL;
}

static void complete(void *arg) {
    coio_future *f = arg;
    H->future_set_result(f, (void *)(uintptr_t)42, NULL);
    H->future_release(f);
}

static int make_future(coio_loop *loop, coio_future **out) {
    coio_future *f;
    int rc = H->future_new(loop, &f);
    if (rc) return rc;
    rc = H->call_soon(loop, complete, H->future_ref(f), NULL, NULL);
    if (rc) {
        H->future_release(f);
        H->future_release(f);
        return rc;
    }
    *out = f;
    return COIO_OK;
}

static const testplug_iface iface = {sizeof(testplug_iface), init_count, config_of, make_future};

static void obs_created(void *arg, coio_future *task, const char *name, coio_future *parent,
                        void **data) {
    (void)task;
    (void)parent;
    say(arg, "created", name);
    *data = strdup(name);
}

static void obs_done(void *arg, coio_future *task, const char *name, void *data) {
    (void)task;
    char detail[96];
    snprintf(detail, sizeof detail, "%s data=%s", name, data ? (const char *)data : "-");
    say(arg, "done", detail);
    free(data);
}

static void obs_data_drop(void *arg, coio_future *task, void *data) {
    (void)arg;
    (void)task;
    free(data);
}

static const coio_observer observer = {
    .size = sizeof(coio_observer),
    .task_created = obs_created,
    .task_done = obs_done,
    .task_data_drop = obs_data_drop,
};

/* The "fail" attach's registrations: static, as their drops run after attach returned. */
static struct state failing;

static void observer_dropped(void *p) {
    say(p, "dropped", "observer");
}

static void service_dropped(void *iface_) {
    (void)iface_;
    say(&failing, "dropped", "service");
}

static int attach(coio_loop *loop, const char *config, void **state) {
    struct state *s = calloc(1, sizeof *s);
    if (!s) return COIO_ENOMEM;
    s->loop = loop;
    snprintf(s->config, sizeof s->config, "%s", config ? config : "(null)");
    const void *log;
    if (H->loop_query(loop, "testlog", 1, &log) == COIO_OK) s->log = log;
    say(s, "attach", s->config);
    if (config && strcmp(config, "fail") == 0) {
        /* Registers things, then fails: the host must remove them (their drops log). */
        failing = *s;
        free(s);
        H->loop_add_observer(loop, &observer, &failing, observer_dropped);
        H->loop_provide(loop, TPLUG_NAME "-partial", 1, &iface, service_dropped);
        return COIO_EINVAL;
    }
    int rc = H->loop_provide(loop, TPLUG_NAME, 1, &iface, NULL);
    if (rc == COIO_OK && config && strcmp(config, "observe") == 0)
        rc = H->loop_add_observer(loop, &observer, s, NULL);
    if (rc != COIO_OK) {
        free(s);
        return rc;
    }
    for (int i = 0; i < 16; i++) {
        if (!instances[i]) {
            instances[i] = s;
            break;
        }
    }
    *state = s;
    return COIO_OK;
}

static void detach(coio_loop *loop, void *state) {
    struct state *s = state;
    (void)loop;
    say(s, "detach", H->loop_is_closed(loop) ? "on a closed loop" : NULL); /* open: expected */
    H->loop_remove_observer(loop, &observer, s);
    for (int i = 0; i < 16; i++)
        if (instances[i] == s) instances[i] = NULL;
    free(s);
}

static const coio_plugin_info info = COIO_PLUGIN_INFO_INIT(TPLUG_NAME, "1.0", attach, detach);

const coio_plugin_info *coio_plugin_init(const coio_host *host) {
    H = host;
    inits++;
    return &info;
}
