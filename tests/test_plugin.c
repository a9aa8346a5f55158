/* Plugins (coio_loop_load_plugin, COIO_PLUGINS), observers, services and custom futures.
 * The test plugins (tests/plugins/) are found through $TEST_PLUGIN_DIR, set by meson. */
#include "testutil.h"

#include <coio_plugin.h>

#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plugins/testplug.h"

/* ---- helpers ---------------------------------------------------------------------------- */

static char plugin_dir[1024];

static const char *plugin_path(const char *name) {
    static char buf[8][1100];
    static int next;
    char *p = buf[next++ % 8];
    snprintf(p, sizeof buf[0], "%s/coio-%s.so", plugin_dir, name);
    return p;
}

/* The "testlog" service: plugins log lines here. */
static char log_text[8192];

static void log_line(const char *text) {
    size_t n = strlen(log_text);
    snprintf(log_text + n, sizeof log_text - n, "%s\n", text);
}

static const testlog_iface testlog = {sizeof(testlog_iface), log_line};

static coio_loop *loop_with_log(void) {
    log_text[0] = 0;
    coio_loop_options opt = COIO_LOOP_OPTIONS_INIT;
    opt.flags = COIO_LOOP_VIRTUAL_TIME | COIO_LOOP_NO_PLUGINS;
    coio_loop *loop;
    assert_status(coio_loop_new(&loop, &opt), COIO_OK);
    assert_status(coio_loop_provide(loop, "testlog", 1, &testlog, NULL), COIO_OK);
    return loop;
}

static const testplug_iface *query_plugin(coio_loop *loop, const char *name) {
    const void *iface = NULL;
    assert_status(coio_loop_query(loop, name, 1, &iface), COIO_OK);
    return iface;
}

/* ---- loading ---------------------------------------------------------------------------- */

static void test_load_attach_detach(void **state) {
    (void)state;
    coio_loop *loop = loop_with_log();
    assert_null(coio_loop_plugin_error(loop));
    assert_status(coio_loop_load_plugin(loop, plugin_path("tplug"), "hello"), COIO_OK);
    assert_null(coio_loop_plugin_error(loop));
    const testplug_iface *p = query_plugin(loop, "tplug");
    assert_string_equal(p->config(loop), "hello");

    /* The plugin works through its host table: a future it makes and completes. */
    coio_future *f;
    assert_status(p->make_future(loop, &f), COIO_OK);
    void *value;
    assert_status(coio_loop_run_until_complete(loop, f), COIO_OK);
    assert_status(coio_future_result(f, &value), COIO_OK);
    assert_int_equal((intptr_t)value, 42);
    coio_future_release(f);

    assert_string_equal(log_text, "attach tplug hello\n");
    assert_status(coio_loop_close(loop), COIO_OK);
    assert_string_equal(log_text, "attach tplug hello\ndetach tplug\n");
    assert_status(coio_loop_release(loop), COIO_OK);
}

static void test_dlopen_once_attach_per_loop(void **state) {
    (void)state;
    coio_loop *a = loop_with_log(), *b = loop_with_log();
    assert_status(coio_loop_load_plugin(a, plugin_path("tplug"), "a"), COIO_OK);
    assert_status(coio_loop_load_plugin(b, plugin_path("tplug"), NULL), COIO_OK);
    const testplug_iface *p = query_plugin(a, "tplug");
    assert_ptr_equal(p, query_plugin(b, "tplug"));
    assert_int_equal(p->init_count(), 1); /* once per process, whatever the loops */
    assert_string_equal(p->config(a), "a");
    assert_string_equal(p->config(b), "(null)");
    /* Once per loop. */
    assert_status(coio_loop_load_plugin(a, plugin_path("tplug"), "again"), COIO_EBUSY);
    assert_non_null(strstr(coio_loop_plugin_error(a), "already attached"));
    tu_finish(a);
    tu_finish(b);
}

static void test_unload_order(void **state) {
    (void)state;
    coio_loop *loop = loop_with_log();
    assert_status(coio_loop_load_plugin(loop, plugin_path("tplug"), "1"), COIO_OK);
    assert_status(coio_loop_load_plugin(loop, plugin_path("tplug2"), "2"), COIO_OK);
    assert_status(coio_loop_close(loop), COIO_OK);
    assert_string_equal(log_text, "attach tplug 1\nattach tplug2 2\ndetach tplug2\ndetach tplug\n");
    /* Detached once: closing again or releasing does nothing more. */
    assert_status(coio_loop_close(loop), COIO_OK);
    assert_status(coio_loop_release(loop), COIO_OK);
    assert_string_equal(log_text, "attach tplug 1\nattach tplug2 2\ndetach tplug2\ndetach tplug\n");
}

static void test_load_by_name(void **state) {
    (void)state;
    coio_loop *loop = loop_with_log();
    char path[2200];
    snprintf(path, sizeof path, "/nonexistent-dir::%s", plugin_dir);
    assert_int_equal(setenv("COIO_PLUGIN_PATH", path, 1), 0);
    assert_status(coio_loop_load_plugin(loop, "tplug2", "named"), COIO_OK);
    assert_string_equal(query_plugin(loop, "tplug2")->config(loop), "named");
    assert_status(coio_loop_load_plugin(loop, "no-such-plugin", NULL), COIO_ESYS);
    const char *why = coio_loop_plugin_error(loop);
    assert_non_null(why);
    assert_non_null(strstr(why, "no-such-plugin: coio-no-such-plugin.so not found"));
    assert_null(strchr(why, '\n'));
    assert_int_equal(unsetenv("COIO_PLUGIN_PATH"), 0);
    tu_finish(loop);
}

static void test_failure_reasons(void **state) {
    (void)state;
    coio_loop *loop = loop_with_log();
    /* A missing file. */
    assert_status(coio_loop_load_plugin(loop, "/nonexistent/coio-x.so", NULL), COIO_ESYS);
    assert_string_equal(
        coio_loop_plugin_error(loop),
        "/nonexistent/coio-x.so: /nonexistent/coio-x.so: No such file or directory");
    /* Not a shared object: dlerror's text. */
    assert_status(coio_loop_load_plugin(loop, "/dev/null", NULL), COIO_ESYS);
    assert_non_null(strstr(coio_loop_plugin_error(loop), "/dev/null: "));
    /* No entry symbol. */
    assert_status(coio_loop_load_plugin(loop, plugin_path("noentry"), NULL), COIO_EINVAL);
    assert_non_null(strstr(coio_loop_plugin_error(loop), "no coio_plugin_init symbol: "));
    assert_non_null(strstr(coio_loop_plugin_error(loop), "coio-noentry.so"));
    /* A newer ABI: refused, also the second time (the verdict is kept). */
    for (int i = 0; i < 2; i++) {
        assert_status(coio_loop_load_plugin(loop, plugin_path("newabi"), NULL), COIO_ENOTSUP);
        char want[128];
        snprintf(want, sizeof want, "built for plugin ABI %d, newer than this libcoio's %d",
                 COIO_PLUGIN_ABI + 1, COIO_PLUGIN_ABI);
        assert_non_null(strstr(coio_loop_plugin_error(loop), want));
    }
    /* coio_plugin_init returned NULL / a bad info. */
    assert_status(coio_loop_load_plugin(loop, plugin_path("nullinit"), NULL), COIO_EINVAL);
    assert_non_null(strstr(coio_loop_plugin_error(loop), "coio_plugin_init returned NULL"));
    assert_status(coio_loop_load_plugin(loop, plugin_path("badinfo"), NULL), COIO_EINVAL);
    assert_non_null(strstr(coio_loop_plugin_error(loop), "bad coio_plugin_info"));
    /* Bad arguments. */
    assert_status(coio_loop_load_plugin(NULL, "x", NULL), COIO_EINVAL);
    assert_status(coio_loop_load_plugin(loop, NULL, NULL), COIO_EINVAL);
    assert_status(coio_loop_load_plugin(loop, "", NULL), COIO_EINVAL);
    assert_null(coio_loop_plugin_error(NULL));
    /* A success clears the reason. */
    assert_status(coio_loop_load_plugin(loop, plugin_path("tplug"), NULL), COIO_OK);
    assert_null(coio_loop_plugin_error(loop));
    assert_status(coio_loop_close(loop), COIO_OK);
    assert_status(coio_loop_load_plugin(loop, plugin_path("tplug2"), NULL), COIO_ECLOSED);
    assert_status(coio_loop_release(loop), COIO_OK);
}

static void test_attach_failure_rolls_back(void **state) {
    (void)state;
    coio_loop *loop = loop_with_log();
    assert_status(coio_loop_load_plugin(loop, plugin_path("tplug"), "fail"), COIO_EINVAL);
    char want[1200];
    snprintf(want, sizeof want, "%s: attach failed: COIO_EINVAL (invalid argument)",
             plugin_path("tplug"));
    assert_string_equal(coio_loop_plugin_error(loop), want);
    /* What the attach registered before failing is gone, its drops ran (observer first). */
    assert_string_equal(log_text, "attach tplug fail\ndropped tplug observer\n"
                                  "dropped tplug service\n");
    const void *iface;
    assert_status(coio_loop_query(loop, "tplug-partial", 1, &iface), COIO_ENOTSUP);
    assert_status(coio_loop_query(loop, "tplug", 1, &iface), COIO_ENOTSUP);
    /* Not attached: a later attach of the same plugin works, and only it is detached. */
    assert_status(coio_loop_load_plugin(loop, plugin_path("tplug"), "ok"), COIO_OK);
    tu_finish(loop);
    assert_string_equal(log_text, "attach tplug fail\ndropped tplug observer\n"
                                  "dropped tplug service\nattach tplug ok\ndetach tplug\n");
}

/* ---- the frozen first header ------------------------------------------------------------ */

static void test_frozen_plugin_loads(void **state) {
    (void)state;
    coio_loop *loop = loop_with_log();
    assert_status(coio_loop_load_plugin(loop, plugin_path("frozen"), "old"), COIO_OK);
    const testplug_iface *p = query_plugin(loop, "frozen");
    coio_future *f;
    assert_status(p->make_future(loop, &f), COIO_OK);
    assert_status(coio_loop_run_until_complete(loop, f), COIO_OK);
    void *value;
    assert_status(coio_future_result(f, &value), COIO_OK);
    assert_int_equal((intptr_t)value, 42);
    coio_future_release(f);
    tu_finish(loop);
    assert_string_equal(log_text, "attach frozen old\ndetach frozen\n");
}

/* A newer host, as the test sees it: today's table with one more slot appended and the ABI
 * one higher.  The plugin built against the first header must work with it unchanged. */
static void appended_slot(void) {}

struct newer_host {
    coio_host base;
    void (*appended)(void);
};

static const struct newer_host newer = {
    {
        sizeof(struct newer_host),
        COIO_PLUGIN_ABI + 1,
#define COIO_HOST_SLOT(name) coio_##name,
#include "../src/coio_host_slots.def"
#undef COIO_HOST_SLOT
    },
    appended_slot,
};

static void test_frozen_plugin_with_appended_slot(void **state) {
    (void)state;
    void *dl = dlopen(plugin_path("frozen"), RTLD_NOW | RTLD_LOCAL);
    assert_non_null(dl);
    const coio_plugin_info *(*init)(const coio_host *);
    *(void **)&init = dlsym(dl, "coio_plugin_init");
    assert_non_null(init);
    const coio_plugin_info *info = init(&newer.base);
    assert_non_null(info);
    assert_int_equal(info->abi, 1); /* what it was built with */
    assert_true(info->abi <= newer.base.abi);

    coio_loop *loop = loop_with_log();
    void *st = NULL;
    assert_status(info->attach(loop, "newer", &st), COIO_OK);
    const testplug_iface *p = query_plugin(loop, "frozen");
    coio_future *f;
    assert_status(p->make_future(loop, &f), COIO_OK);
    assert_status(coio_loop_run_until_complete(loop, f), COIO_OK);
    coio_future_release(f);
    info->detach(loop, st);
    tu_finish(loop);
    assert_string_equal(log_text, "attach frozen newer\ndetach frozen\n");
    dlclose(dl);
}

/* ---- COIO_PLUGINS ----------------------------------------------------------------------- */

/* Runs coio_loop_new with stderr captured into buf. */
static int new_loop_capturing(coio_loop **loop, uint32_t flags, char *buf, size_t size) {
    fflush(stderr);
    char tmpl[] = "/tmp/coio-test-plugin-XXXXXX";
    int fd = mkstemp(tmpl);
    assert_true(fd >= 0);
    unlink(tmpl);
    int saved = dup(2);
    dup2(fd, 2);
    coio_loop_options opt = COIO_LOOP_OPTIONS_INIT;
    opt.flags = flags;
    int rc = coio_loop_new(loop, &opt);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    ssize_t n = pread(fd, buf, size - 1, 0);
    buf[n > 0 ? n : 0] = 0;
    close(fd);
    return rc;
}

static void test_env_plugins(void **state) {
    (void)state;
    char env[4096], err[4096];
    snprintf(env, sizeof env, "%s=cfg=with=equals;;/nonexistent/coio-y.so;tplug2;=x;%s",
             plugin_path("tplug"), plugin_path("newabi"));
    assert_int_equal(setenv("COIO_PLUGINS", env, 1), 0);
    assert_int_equal(setenv("COIO_PLUGIN_PATH", plugin_dir, 1), 0);
    coio_loop *loop;
    assert_status(new_loop_capturing(&loop, 0, err, sizeof err), COIO_OK);
    /* Attached: the path with its config (split at the first '='), and tplug2 by name. */
    assert_string_equal(query_plugin(loop, "tplug")->config(loop), "cfg=with=equals");
    assert_string_equal(query_plugin(loop, "tplug2")->config(loop), "(null)");
    /* One line per failure, naming the plugin and why. */
    assert_non_null(strstr(err, "coio: COIO_PLUGINS: plugin /nonexistent/coio-y.so: "
                                "/nonexistent/coio-y.so: No such file or directory (COIO_ESYS)\n"));
    assert_non_null(strstr(err, "coio: COIO_PLUGINS: empty plugin name in \"=x\"\n"));
    assert_non_null(strstr(err, "newer than this libcoio"));
    int lines = 0;
    for (const char *c = err; *c; c++)
        lines += *c == '\n';
    assert_int_equal(lines, 3);
    tu_finish(loop);

    /* The loop option turns it off. */
    assert_status(new_loop_capturing(&loop, COIO_LOOP_NO_PLUGINS, err, sizeof err), COIO_OK);
    assert_string_equal(err, "");
    const void *iface;
    assert_status(coio_loop_query(loop, "tplug", 1, &iface), COIO_ENOTSUP);
    tu_finish(loop);
    assert_int_equal(unsetenv("COIO_PLUGINS"), 0);
    assert_int_equal(unsetenv("COIO_PLUGIN_PATH"), 0);
}

/* ---- observers -------------------------------------------------------------------------- */

typedef struct obs_rec {
    char text[8192];
    int drops;      /* drop(arg) */
    int data_drops; /* task_data_drop */
    int live_data;  /* per-task data allocated and not yet freed */
    int passes, callbacks[5];
    coio_loop *loop;
    const coio_observer *remove_me; /* removed from inside the next task_step_end */
    int allow_no_data;              /* tasks created before the observer: no data */
} obs_rec;

static void rec(obs_rec *r, const char *fmt, const char *a, const char *b) {
    size_t n = strlen(r->text);
    snprintf(r->text + n, sizeof r->text - n, fmt, a, b);
}

typedef struct task_data {
    char name[32];
    obs_rec *owner;
} task_data;

static void o_pass_begin(void *arg, coio_loop *loop, size_t ready) {
    obs_rec *r = arg;
    assert_ptr_equal(loop, r->loop);
    assert_true(ready > 0 || ready == 0);
    r->passes++;
}

static void o_pass_end(void *arg, coio_loop *loop) {
    (void)arg;
    (void)loop;
}

static void o_callback(void *arg, coio_loop *loop, int kind, double start, double duration) {
    obs_rec *r = arg;
    (void)loop;
    assert_true(kind >= COIO_CALLBACK_SOON && kind <= COIO_CALLBACK_DONE);
    assert_true(start > 0 && duration >= 0);
    r->callbacks[kind]++;
}

static void o_created(void *arg, coio_future *task, const char *name, coio_future *parent,
                      void **data) {
    obs_rec *r = arg;
    assert_true(coio_future_is_task(task));
    rec(r, "created %s parent=%s\n", name, parent ? coio_task_name(parent) : "-");
    task_data *d = calloc(1, sizeof *d);
    snprintf(d->name, sizeof d->name, "%s", name);
    d->owner = r;
    r->live_data++;
    *data = d;
}

static void check_data(obs_rec *r, const char *name, void *data) {
    task_data *d = data;
    if (!d && r->allow_no_data) return;
    assert_non_null(d);
    assert_ptr_equal(d->owner, r);
    assert_string_equal(d->name, name);
}

static void o_step_begin(void *arg, coio_future *task, const char *name, void *data) {
    obs_rec *r = arg;
    (void)task;
    check_data(r, name, data);
    rec(r, "begin %s%s\n", name, "");
}

static void o_step_end(void *arg, coio_future *task, const char *name, void *data, int status) {
    obs_rec *r = arg;
    (void)task;
    check_data(r, name, data);
    rec(r, "end %s %s\n", name,
        status == COIO_STEP_AWAIT   ? "await"
        : status == COIO_STEP_YIELD ? "yield"
                                    : coio_status_name(status));
    if (r->remove_me) {
        const coio_observer *o = r->remove_me;
        r->remove_me = NULL;
        assert_status(coio_loop_remove_observer(r->loop, o, r), 1);
    }
}

static void o_done(void *arg, coio_future *task, const char *name, void *data) {
    obs_rec *r = arg;
    check_data(r, name, data);
    rec(r, "done %s %s\n", name, coio_future_done(task) ? "finished" : "pending");
    free(data);
    r->live_data--;
}

static void o_data_drop(void *arg, coio_future *task, void *data) {
    obs_rec *r = arg;
    assert_true(coio_future_is_task(task));
    task_data *d = data;
    assert_ptr_equal(d->owner, r);
    rec(r, "data_drop %s%s\n", d->name, "");
    free(d);
    r->data_drops++;
    r->live_data--;
}

static void o_drop(void *arg) {
    ((obs_rec *)arg)->drops++;
}

static const coio_observer full_observer = {
    sizeof(coio_observer), o_pass_begin, o_pass_end, o_callback,  o_created,
    o_step_begin,          o_step_end,   o_done,     o_data_drop,
};

static int child_body(coio_future *self, void *arg) {
    (void)arg;
    coio_future *s = tu_sleep(coio_future_loop(self), 1);
    int rc = coio_await(s, NULL);
    coio_future_release(s);
    return rc;
}

static int parent_body(coio_future *self, void *arg) {
    (void)arg;
    coio_task_options o = COIO_TASK_OPTIONS_INIT;
    o.name = "child";
    coio_future *child;
    assert_status(coio_spawn(coio_future_loop(self), child_body, NULL, &o, &child), COIO_OK);
    int rc = coio_await(child, NULL);
    coio_future_release(child);
    return rc;
}

static void noop(void *arg) {
    (void)arg;
}

static void noop_done(coio_future *f, void *arg) {
    (void)f;
    (void)arg;
}

static void test_observer_sees_tasks(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    static obs_rec r;
    memset(&r, 0, sizeof r);
    r.loop = loop;
    assert_status(coio_loop_add_observer(loop, &full_observer, &r, o_drop), COIO_OK);
    assert_status(coio_loop_add_observer(loop, &full_observer, &r, o_drop), COIO_EBUSY);

    coio_task_options o = COIO_TASK_OPTIONS_INIT;
    o.name = "parent";
    coio_future *parent;
    assert_status(coio_spawn(loop, parent_body, NULL, &o, &parent), COIO_OK);
    assert_status(coio_call_soon(loop, noop, NULL, NULL, NULL), COIO_OK);
    assert_status(coio_call_later(loop, 0.5, noop, NULL, NULL, NULL), COIO_OK);
    assert_status(coio_future_add_done_callback(parent, noop_done, NULL, NULL), COIO_OK);
    assert_status(coio_loop_run_until_complete(loop, parent), COIO_OK);
    tu_run_one_pass(loop); /* the done callback */
    coio_future_release(parent);

    assert_string_equal(r.text, "created parent parent=-\n"
                                "begin parent\n"
                                "created child parent=parent\n"
                                "end parent await\n"
                                "begin child\n"
                                "end child await\n"
                                "begin child\n"
                                "end child COIO_OK\n"
                                "done child finished\n"
                                "begin parent\n"
                                "end parent COIO_OK\n"
                                "done parent finished\n");
    assert_int_equal(r.live_data, 0);
    assert_true(r.passes >= 4);
    assert_int_equal(r.callbacks[COIO_CALLBACK_SOON], 1);
    assert_true(r.callbacks[COIO_CALLBACK_TIMER] >= 2); /* noop, and the sleep's timer */
    /* noop_done, run_until_complete's own and the sleep future's (it cancels its timer); the
     * tasks' wake-ups are not callbacks (their steps are reported) */
    assert_int_equal(r.callbacks[COIO_CALLBACK_DONE], 3);
    assert_int_equal(r.callbacks[COIO_CALLBACK_IO], 0);
    assert_int_equal(r.drops, 0);
    tu_finish(loop);
    assert_int_equal(r.drops, 1); /* the close removed it */
}

static void test_observer_removed_with_tasks_running(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    static obs_rec r;
    memset(&r, 0, sizeof r);
    r.loop = loop;
    r.allow_no_data = 1;
    /* Tasks created before the observer carry no data for it. */
    coio_future *early;
    assert_status(coio_spawn(loop, child_body, NULL, NULL, &early), COIO_OK);
    assert_status(coio_loop_add_observer(loop, &full_observer, &r, o_drop), COIO_OK);
    coio_task_options o = COIO_TASK_OPTIONS_INIT;
    o.name = "late";
    coio_future *late;
    assert_status(coio_spawn(loop, child_body, NULL, &o, &late), COIO_OK);
    assert_int_equal(r.live_data, 1);
    /* Removed inside a hook: from then on nothing, and late's data goes to task_data_drop. */
    r.remove_me = &full_observer;
    coio_future *s = tu_sleep(loop, 0.5);
    assert_status(coio_loop_run_until_complete(loop, s), COIO_OK);
    coio_future_release(s);
    assert_int_equal(r.drops, 1);
    assert_int_equal(r.data_drops, 1);
    assert_int_equal(r.live_data, 0);
    /* early steps first (no data), and the observer goes at the end of that step. */
    char want[128];
    snprintf(want, sizeof want,
             "created late parent=-\nbegin %s\nend %s await\n"
             "data_drop late\n",
             coio_task_name(early), coio_task_name(early));
    assert_string_equal(r.text, want);
    assert_status(coio_loop_remove_observer(loop, &full_observer, &r), 0);
    assert_status(coio_loop_run_until_complete(loop, late), COIO_OK);
    coio_future_release(early);
    coio_future_release(late);
    tu_finish(loop);
    assert_int_equal(r.drops, 1);
}

static void test_observer_sees_tasks_destroyed_at_close(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    static obs_rec r;
    memset(&r, 0, sizeof r);
    r.loop = loop;
    assert_status(coio_loop_add_observer(loop, &full_observer, &r, o_drop), COIO_OK);
    coio_task_options o = COIO_TASK_OPTIONS_INIT;
    o.name = "stuck";
    coio_future *t;
    assert_status(coio_spawn(loop, child_body, NULL, &o, &t), COIO_OK);
    tu_run_one_pass(loop);
    tu_reports reports = {0};
    tu_capture_reports(loop, &reports);
    assert_status(coio_loop_close(loop), COIO_OK);
    assert_non_null(strstr(r.text, "done stuck pending\n"));
    assert_int_equal(r.live_data, 0);
    assert_int_equal(r.drops, 1);
    coio_future_release(t);
    assert_status(coio_loop_release(loop), COIO_OK);
}

static void test_observer_bad_input(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    static obs_rec r;
    coio_observer big = COIO_OBSERVER_INIT;
    big.size = sizeof(coio_observer) + 8;
    assert_status(coio_loop_add_observer(NULL, &full_observer, &r, NULL), COIO_EINVAL);
    assert_status(coio_loop_add_observer(loop, NULL, &r, NULL), COIO_EINVAL);
    assert_status(coio_loop_add_observer(loop, &big, &r, NULL), COIO_EINVAL);
    assert_status(coio_loop_remove_observer(NULL, &full_observer, &r), COIO_EINVAL);
    assert_status(coio_loop_remove_observer(loop, NULL, &r), COIO_EINVAL);
    assert_status(coio_loop_remove_observer(loop, &full_observer, &r), 0);
    /* An older, smaller struct: only the hooks it has. */
    coio_observer small = {
        offsetof(coio_observer, callback_run), o_pass_begin, o_pass_end, o_callback, 0, 0, 0, 0, 0};
    memset(&r, 0, sizeof r);
    r.loop = loop;
    assert_status(coio_loop_add_observer(loop, &small, &r, o_drop), COIO_OK);
    assert_status(coio_call_soon(loop, noop, NULL, NULL, NULL), COIO_OK);
    tu_run_one_pass(loop);
    assert_int_equal(r.passes, 1);
    assert_int_equal(r.callbacks[COIO_CALLBACK_SOON], 0); /* callback_run is beyond its size */
    assert_status(coio_loop_remove_observer(loop, &small, &r), 1);
    assert_int_equal(r.drops, 1);
    assert_status(coio_loop_close(loop), COIO_OK);
    assert_status(coio_loop_add_observer(loop, &small, &r, o_drop), COIO_ECLOSED);
    assert_status(coio_loop_remove_observer(loop, &small, &r), 0);
    assert_status(coio_loop_release(loop), COIO_OK);
}

/* An observer added from inside a hook sees the next event, not the current one; one removed
 * by another observer's hook gets nothing more. */
static obs_rec *second_rec;
static int second_added;

static void o_add_second(void *arg, coio_loop *loop, size_t ready) {
    (void)arg;
    (void)ready;
    if (!second_added++)
        assert_status(coio_loop_add_observer(loop, &full_observer, second_rec, o_drop), COIO_OK);
}

static void test_observer_added_in_hook(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    static obs_rec first, second;
    memset(&first, 0, sizeof first);
    memset(&second, 0, sizeof second);
    first.loop = second.loop = loop;
    second_rec = &second;
    second_added = 0;
    coio_observer adder = COIO_OBSERVER_INIT;
    adder.pass_begin = o_add_second;
    assert_status(coio_loop_add_observer(loop, &adder, &first, NULL), COIO_OK);
    assert_status(coio_call_soon(loop, noop, NULL, NULL, NULL), COIO_OK);
    tu_run_one_pass(loop);
    assert_int_equal(second.passes, 0);                        /* added during this pass's begin */
    assert_int_equal(second.callbacks[COIO_CALLBACK_SOON], 1); /* but it saw the callback */
    assert_status(coio_call_soon(loop, noop, NULL, NULL, NULL), COIO_OK);
    tu_run_one_pass(loop);
    assert_int_equal(second.passes, 1);
    assert_status(coio_loop_remove_observer(loop, &adder, &first), 1);
    assert_status(coio_loop_remove_observer(loop, &full_observer, &second), 1);
    assert_int_equal(second.drops, 1);
    tu_finish(loop);
    assert_int_equal(second.drops, 1);
}

static void test_observer_via_plugin(void **state) {
    (void)state;
    coio_loop *loop = loop_with_log();
    assert_status(coio_loop_load_plugin(loop, plugin_path("tplug"), "observe"), COIO_OK);
    coio_task_options o = COIO_TASK_OPTIONS_INIT;
    o.name = "watched";
    coio_future *t;
    assert_status(coio_spawn(loop, child_body, NULL, &o, &t), COIO_OK);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_OK);
    coio_future_release(t);
    tu_finish(loop);
    assert_string_equal(log_text, "attach tplug observe\n"
                                  "created tplug watched\n"
                                  "done tplug watched data=watched\n"
                                  "detach tplug\n");
}

/* ---- services --------------------------------------------------------------------------- */

typedef struct svc {
    uint32_t size;
    int id;
} svc;

static char drop_order[64];

static void svc_drop(void *iface) {
    size_t n = strlen(drop_order);
    snprintf(drop_order + n, sizeof drop_order - n, "%d", ((const svc *)iface)->id);
}

static void test_provide_query(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    static const svc v1 = {sizeof(svc), 1}, v2 = {sizeof(svc), 2}, other = {sizeof(svc), 3};
    const void *got = NULL;
    assert_status(coio_loop_query(loop, "thing", 0, &got), COIO_ENOTSUP);
    assert_status(coio_loop_provide(loop, "thing", 1, &v1, svc_drop), COIO_OK);
    assert_status(coio_loop_provide(loop, "thing", 2, &v2, svc_drop), COIO_OK);
    assert_status(coio_loop_provide(loop, "other", 1, &other, svc_drop), COIO_OK);
    assert_status(coio_loop_provide(loop, "thing", 2, &v1, svc_drop), COIO_EBUSY);
    assert_status(coio_loop_query(loop, "thing", 0, &got), COIO_OK);
    assert_ptr_equal(got, &v2); /* the highest version */
    assert_status(coio_loop_query(loop, "thing", 2, &got), COIO_OK);
    assert_ptr_equal(got, &v2);
    got = NULL;
    assert_status(coio_loop_query(loop, "thing", 3, &got), COIO_ENOTSUP);
    assert_null(got);
    assert_status(coio_loop_query(loop, "other", 1, &got), COIO_OK);
    assert_ptr_equal(got, &other);
    /* Bad input. */
    assert_status(coio_loop_provide(NULL, "x", 1, &v1, NULL), COIO_EINVAL);
    assert_status(coio_loop_provide(loop, NULL, 1, &v1, NULL), COIO_EINVAL);
    assert_status(coio_loop_provide(loop, "", 1, &v1, NULL), COIO_EINVAL);
    assert_status(coio_loop_provide(loop, "x", 1, NULL, NULL), COIO_EINVAL);
    assert_status(coio_loop_query(NULL, "x", 1, &got), COIO_EINVAL);
    assert_status(coio_loop_query(loop, NULL, 1, &got), COIO_EINVAL);
    assert_status(coio_loop_query(loop, "x", 1, NULL), COIO_EINVAL);
    drop_order[0] = 0;
    assert_status(coio_loop_close(loop), COIO_OK);
    assert_string_equal(drop_order, "321"); /* reverse order, each once */
    assert_status(coio_loop_query(loop, "thing", 0, &got), COIO_ECLOSED);
    assert_status(coio_loop_provide(loop, "x", 1, &v1, svc_drop), COIO_ECLOSED);
    assert_status(coio_loop_release(loop), COIO_OK);
    assert_string_equal(drop_order, "321");
}

/* ---- custom futures --------------------------------------------------------------------- */

typedef struct op_state {
    int cancels, drops;
    int answer; /* what the cancel hook returns */
    char msg[32];
} op_state;

static int op_cancel(coio_future *f, void *state, const char *msg) {
    op_state *s = state;
    s->cancels++;
    snprintf(s->msg, sizeof s->msg, "%s", msg ? msg : "(null)");
    if (s->answer == 2) { /* cancels from inside its own hook: plain, no recursion */
        assert_status(coio_future_cancel(f, "inner"), 1);
        return COIO_CANCEL_NOW;
    }
    return s->answer;
}

static void op_drop(void *state) {
    ((op_state *)state)->drops++;
}

static int op_repr(const coio_future *f, void *state, char *buf, size_t size) {
    (void)f;
    (void)state;
    return snprintf(buf, size, "<op>");
}

static const coio_future_ops ops = {sizeof(coio_future_ops), op_cancel, op_drop, op_repr};

static void test_custom_future_cancel_now(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    op_state s = {0};
    coio_future *f;
    assert_status(coio_future_new_custom(loop, &ops, &s, &f), COIO_OK);
    assert_false(coio_future_done(f));
    assert_status(coio_future_cancel(f, "stop"), 1);
    assert_int_equal(s.cancels, 1);
    assert_string_equal(s.msg, "stop");
    assert_true(coio_future_cancelled(f));
    assert_string_equal(tu_error_message(f), "stop");
    assert_status(coio_future_cancel(f, "again"), 0);
    assert_int_equal(s.cancels, 1);
    assert_int_equal(s.drops, 0);
    coio_future_release(f);
    assert_int_equal(s.drops, 1);
    tu_finish(loop);
}

static void test_custom_future_cancel_later(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    op_state s = {0};
    s.answer = COIO_CANCEL_LATER;
    coio_future *f;
    assert_status(coio_future_new_custom(loop, &ops, &s, &f), COIO_OK);
    assert_status(coio_future_cancel(f, "later"), 1);
    assert_false(coio_future_done(f)); /* the operation stops by itself */
    /* The creator finishes it: a plain cancel now, the hook is not called again. */
    assert_status(coio_future_cancel(f, "later"), 1);
    assert_int_equal(s.cancels, 1);
    assert_true(coio_future_cancelled(f));
    coio_future_release(f);
    assert_int_equal(s.drops, 1);

    /* A hook that cancels the future itself. */
    op_state s2 = {0};
    s2.answer = 2;
    assert_status(coio_future_new_custom(loop, &ops, &s2, &f), COIO_OK);
    assert_status(coio_future_cancel(f, "outer"), 1);
    assert_int_equal(s2.cancels, 1);
    assert_string_equal(tu_error_message(f), "inner");
    coio_future_release(f);
    tu_finish(loop);
}

static int await_body(coio_future *self, void *arg) {
    (void)self;
    return coio_await(arg, NULL);
}

static void test_custom_future_awaited_and_results(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    op_state s = {0};
    coio_future *f;
    assert_status(coio_future_new_custom(loop, &ops, &s, &f), COIO_OK);
    /* A task cancelled while it awaits the future cancels it through the hook. */
    coio_future *t;
    assert_status(coio_spawn(loop, await_body, f, NULL, &t), COIO_OK);
    tu_run_one_pass(loop);
    assert_status(coio_future_cancel(t, "bye"), 1);
    assert_int_equal(s.cancels, 1);
    assert_string_equal(s.msg, "bye");
    assert_status(coio_loop_run_until_complete(loop, t), COIO_ECANCELLED);
    coio_future_release(t);
    coio_future_release(f);
    assert_int_equal(s.drops, 1);

    /* Completed with a result: no hook runs; a NULL cancel hook is a plain cancel. */
    /* An older caller's struct, allocated at its own size (the sanitizers see any read
     * beyond it): only size and cancel. */
    unsigned char *old_ops = malloc(offsetof(coio_future_ops, drop));
    uint32_t old_size = offsetof(coio_future_ops, drop);
    void *no_cancel = NULL;
    memcpy(old_ops, &old_size, sizeof old_size);
    memcpy(old_ops + offsetof(coio_future_ops, cancel), &no_cancel, sizeof no_cancel);
    const coio_future_ops *minimal = (const void *)old_ops;
    assert_status(coio_future_new_custom(loop, minimal, NULL, &f), COIO_OK);
    assert_status(coio_future_set_result(f, (void *)7, NULL), COIO_OK);
    void *v;
    assert_status(coio_future_result(f, &v), COIO_OK);
    assert_ptr_equal(v, (void *)7);
    assert_status(coio_future_cancel(f, NULL), 0);
    coio_future_release(f);
    assert_status(coio_future_new_custom(loop, minimal, NULL, &f), COIO_OK);
    assert_status(coio_future_cancel(f, NULL), 1);
    coio_future_release(f);
    free(old_ops);

    /* Bad input. */
    coio_future_ops bad = ops;
    bad.size = sizeof(coio_future_ops) + 1;
    assert_status(coio_future_new_custom(loop, &bad, NULL, &f), COIO_EINVAL);
    bad.size = 0;
    assert_status(coio_future_new_custom(loop, &bad, NULL, &f), COIO_EINVAL);
    assert_status(coio_future_new_custom(NULL, &ops, NULL, &f), COIO_EINVAL);
    assert_status(coio_future_new_custom(loop, NULL, NULL, &f), COIO_EINVAL);
    assert_status(coio_future_new_custom(loop, &ops, NULL, NULL), COIO_EINVAL);
    assert_status(coio_loop_close(loop), COIO_OK);
    assert_status(coio_future_new_custom(loop, &ops, NULL, &f), COIO_ECLOSED);
    assert_status(coio_loop_release(loop), COIO_OK);
}

static int op_repr_refuse(const coio_future *f, void *state, char *buf, size_t size) {
    (void)f;
    (void)state;
    (void)buf;
    (void)size;
    return -1;
}

/* coio_future_repr shows a custom future as its repr hook writes it, also where the future
 * appears inside another repr (a task's wait_for=); a hook that returns a negative length,
 * or an ops struct too old to have the hook, gets the default form. */
static void test_custom_future_repr(void **state) {
    (void)state;
    coio_loop *loop = tu_loop_virtual();
    op_state s = {0};
    coio_future *f, *t;
    char buf[128];
    assert_status(coio_future_new_custom(loop, &ops, &s, &f), COIO_OK);
    assert_int_equal(coio_future_repr(f, buf, sizeof buf), 4);
    assert_string_equal(buf, "<op>");
    assert_int_equal(coio_future_repr(f, buf, 3), 4); /* snprintf-style truncation */
    assert_string_equal(buf, "<o");
    assert_status(coio_spawn(loop, await_body, f, NULL, &t), COIO_OK);
    tu_run_one_pass(loop);
    assert_true(coio_future_repr(t, buf, sizeof buf) > 0);
    assert_non_null(strstr(buf, " wait_for=<op>"));
    assert_status(coio_future_set_result(f, NULL, NULL), COIO_OK);
    assert_status(coio_loop_run_until_complete(loop, t), COIO_OK);
    coio_future_release(t);
    coio_future_release(f);

    coio_future_ops refuse = ops;
    refuse.repr = op_repr_refuse;
    assert_status(coio_future_new_custom(loop, &refuse, &s, &f), COIO_OK);
    assert_true(coio_future_repr(f, buf, sizeof buf) > 0);
    assert_string_equal(buf, "<Future pending>");
    coio_future_release(f);

    coio_future_ops old = ops;
    old.size = offsetof(coio_future_ops, repr); /* a caller from before the hook */
    assert_status(coio_future_new_custom(loop, &old, &s, &f), COIO_OK);
    assert_true(coio_future_repr(f, buf, sizeof buf) > 0);
    assert_string_equal(buf, "<Future pending>");
    coio_future_release(f);
    tu_finish(loop);
}

int main(void) {
    const char *dir = getenv("TEST_PLUGIN_DIR");
    if (!dir) {
        printf("1..0 # SKIP TEST_PLUGIN_DIR not set\n");
        return 0;
    }
    snprintf(plugin_dir, sizeof plugin_dir, "%s", dir);
    unsetenv("COIO_PLUGINS");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_attach_detach),
        cmocka_unit_test(test_dlopen_once_attach_per_loop),
        cmocka_unit_test(test_unload_order),
        cmocka_unit_test(test_load_by_name),
        cmocka_unit_test(test_failure_reasons),
        cmocka_unit_test(test_attach_failure_rolls_back),
        cmocka_unit_test(test_frozen_plugin_loads),
        cmocka_unit_test(test_frozen_plugin_with_appended_slot),
        cmocka_unit_test(test_env_plugins),
        cmocka_unit_test(test_observer_sees_tasks),
        cmocka_unit_test(test_observer_removed_with_tasks_running),
        cmocka_unit_test(test_observer_sees_tasks_destroyed_at_close),
        cmocka_unit_test(test_observer_bad_input),
        cmocka_unit_test(test_observer_added_in_hook),
        cmocka_unit_test(test_observer_via_plugin),
        cmocka_unit_test(test_provide_query),
        cmocka_unit_test(test_custom_future_cancel_now),
        cmocka_unit_test(test_custom_future_cancel_later),
        cmocka_unit_test(test_custom_future_awaited_and_results),
        cmocka_unit_test(test_custom_future_repr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
