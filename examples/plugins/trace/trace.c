/* coio-trace: a coio plugin that writes a Chrome trace-event JSON file (open it in
 * https://ui.perfetto.dev or chrome://tracing) and warns about slow steps and callbacks.
 *
 *     COIO_PLUGINS='trace=out.json' ./program
 *     COIO_PLUGINS='trace=file=out.json,slow=0.05' ./program
 *
 * Config: comma-separated; a bare word or file=PATH is the output file (default
 * coio-trace-PID.json, -PID-N.json for the N-th loop); slow=SECONDS is the threshold of
 * asyncio's debug-mode warning "Executing <Task pending name='Task-1'> took 0.123 seconds"
 * (default 0.1, as asyncio's slow_callback_duration; slow=off disables it).  The warning goes
 * through the loop's exception handler (by default one line on stderr).
 *
 * What the trace shows: one track per task (named after it) with a slice per step of its body
 * and instants where it was created (args: its parent) and where it ended; on the loop's
 * track an instant per callback run (args: kind, duration); a counter track "ready" with the
 * ready-queue length at the start of each pass.
 *
 * It uses coio only through the host table (it includes <coio_plugin.h> and does not link
 * libcoio), as every plugin does. */
#define _GNU_SOURCE
#include <coio_plugin.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static const coio_host *H;
static int nloops; /* loops traced in this process, for default file names */

typedef struct trace {
    coio_loop *loop;
    FILE *out;
    int pid;
    long tid;        /* the loop's thread: callbacks, passes */
    long next_track; /* a synthetic thread id per task */
    double slow;     /* seconds; < 0: no warnings */
    long last_ready; /* the counter's last value (-1: none yet) */
    int events;      /* written so far (for the commas) */
} trace;

typedef struct task_track {
    long track;
    double step_start;
} task_track;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double us(double seconds) {
    return seconds * 1e6;
}

/* A JSON string body (without quotes). */
static void put_json_string(FILE *out, const char *s) {
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
}

/* Starts an event: the separator, then the fields every event has. */
static void begin_event(trace *t, const char *ph, const char *name, long tid, double ts) {
    fputs(t->events++ ? ",\n" : "\n", t->out);
    fprintf(t->out, "{\"ph\":\"%s\",\"pid\":%d,\"tid\":%ld,\"ts\":%.3f,\"name\":\"", ph, t->pid,
            tid, us(ts));
    put_json_string(t->out, name);
    fputc('"', t->out);
}

static void warn_slow(trace *t, const char *what, double dt) {
    char msg[256];
    snprintf(msg, sizeof msg, "Executing %s took %.3f seconds", what, dt);
    coio_exception_context ctx = COIO_EXCEPTION_CONTEXT_INIT;
    ctx.message = msg;
    H->loop_call_exception_handler(t->loop, &ctx);
}

/* ---- observer hooks --------------------------------------------------------------------- */

static void on_pass_begin(void *arg, coio_loop *loop, size_t ready) {
    trace *t = arg;
    (void)loop;
    if ((long)ready == t->last_ready) return;
    t->last_ready = (long)ready;
    begin_event(t, "C", "ready", t->tid, now());
    fprintf(t->out, ",\"args\":{\"ready\":%zu}}", ready);
}

static const char *callback_kind(int kind) {
    switch (kind) {
    case COIO_CALLBACK_TIMER:
        return "timer";
    case COIO_CALLBACK_IO:
        return "io";
    case COIO_CALLBACK_DONE:
        return "done";
    default:
        return "soon";
    }
}

static void on_callback(void *arg, coio_loop *loop, int kind, double start, double duration) {
    trace *t = arg;
    (void)loop;
    begin_event(t, "i", "callback", t->tid, start);
    fprintf(t->out, ",\"s\":\"t\",\"args\":{\"kind\":\"%s\",\"dur_us\":%.3f}}", callback_kind(kind),
            us(duration));
    if (t->slow >= 0 && duration >= t->slow)
        warn_slow(t,
                  kind == COIO_CALLBACK_DONE    ? "<Future done callback>"
                  : kind == COIO_CALLBACK_TIMER ? "<TimerHandle>"
                                                : "<Handle>",
                  duration);
}

static void on_task_created(void *arg, coio_future *task, const char *name, coio_future *parent,
                            void **data) {
    trace *t = arg;
    (void)task;
    task_track *tt = calloc(1, sizeof *tt);
    if (!tt) return; /* traced without its own track */
    tt->track = t->next_track++;
    *data = tt;
    begin_event(t, "M", "thread_name", tt->track, 0);
    fputs(",\"args\":{\"name\":\"", t->out);
    put_json_string(t->out, name);
    fputs("\"}}", t->out);
    begin_event(t, "i", "created", tt->track, now());
    fputs(",\"s\":\"t\",\"args\":{\"parent\":\"", t->out);
    put_json_string(t->out, parent ? H->task_name(parent) : "");
    fputs("\"}}", t->out);
}

static void on_step_begin(void *arg, coio_future *task, const char *name, void *data) {
    (void)arg;
    (void)task;
    (void)name;
    task_track *tt = data;
    if (tt) tt->step_start = now();
}

static const char *step_outcome(int status) {
    if (status == COIO_STEP_AWAIT) return "await";
    if (status == COIO_STEP_YIELD) return "yield";
    return H->status_name(status);
}

static void on_step_end(void *arg, coio_future *task, const char *name, void *data, int status) {
    trace *t = arg;
    (void)task;
    task_track *tt = data;
    if (!tt) return; /* created before the plugin attached */
    double end = now(), dt = end - tt->step_start;
    begin_event(t, "X", name, tt->track, tt->step_start);
    fprintf(t->out, ",\"cat\":\"task\",\"dur\":%.3f,\"args\":{\"step\":\"%s\"}}", us(dt),
            step_outcome(status));
    if (t->slow >= 0 && dt >= t->slow) {
        /* asyncio's repr of the task after the step (the step that ends it: finished). */
        const char *state = status == COIO_STEP_AWAIT || status == COIO_STEP_YIELD ? "pending"
                            : status == COIO_ECANCELLED                            ? "cancelled"
                                                                                   : "finished";
        char what[160];
        snprintf(what, sizeof what, "<Task %s name='%s'>", state, name);
        warn_slow(t, what, dt);
    }
}

static void on_task_done(void *arg, coio_future *task, const char *name, void *data) {
    trace *t = arg;
    (void)name;
    task_track *tt = data;
    if (!tt) return;
    begin_event(t, "i", "done", tt->track, now());
    fprintf(t->out, ",\"s\":\"t\",\"args\":{\"state\":\"%s\"}}",
            !H->future_done(task)       ? "destroyed pending"
            : H->future_cancelled(task) ? "cancelled"
                                        : "finished");
    free(tt);
}

static void on_task_data_drop(void *arg, coio_future *task, void *data) {
    (void)arg;
    (void)task;
    free(data);
}

static const coio_observer observer = {
    .size = sizeof(coio_observer),
    .pass_begin = on_pass_begin,
    .callback_run = on_callback,
    .task_created = on_task_created,
    .task_step_begin = on_step_begin,
    .task_step_end = on_step_end,
    .task_done = on_task_done,
    .task_data_drop = on_task_data_drop,
};

/* ---- attach / detach -------------------------------------------------------------------- */

/* Parses the config into path (may stay empty) and t->slow.  COIO_EINVAL on a bad item. */
static int parse_config(trace *t, const char *config, char *path, size_t size) {
    t->slow = 0.1;
    if (!config) return COIO_OK;
    char buf[1024];
    if (strlen(config) >= sizeof buf) return COIO_EINVAL;
    strcpy(buf, config);
    char *save = NULL;
    for (char *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        if (strncmp(item, "slow=", 5) == 0) {
            const char *v = item + 5;
            if (strcmp(v, "off") == 0) {
                t->slow = -1;
                continue;
            }
            char *end;
            errno = 0;
            t->slow = strtod(v, &end);
            if (errno || end == v || *end || !(t->slow >= 0)) return COIO_EINVAL;
        } else if (strncmp(item, "file=", 5) == 0) {
            snprintf(path, size, "%s", item + 5);
        } else if (!strchr(item, '=')) {
            snprintf(path, size, "%s", item);
        } else {
            return COIO_EINVAL; /* an unknown key */
        }
    }
    return COIO_OK;
}

static int attach(coio_loop *loop, const char *config, void **state) {
    /* How a plugin checks for a slot its header has and an older host might not. */
    if (!COIO_HOST_HAS(H, loop_add_observer)) return COIO_ENOTSUP;
    trace *t = calloc(1, sizeof *t);
    if (!t) return COIO_ENOMEM;
    char path[1024] = "";
    int rc = parse_config(t, config, path, sizeof path);
    if (rc != COIO_OK) {
        free(t);
        return rc;
    }
    int n = ++nloops;
    if (!path[0]) {
        if (n == 1)
            snprintf(path, sizeof path, "coio-trace-%d.json", (int)getpid());
        else
            snprintf(path, sizeof path, "coio-trace-%d-%d.json", (int)getpid(), n);
    }
    t->out = fopen(path, "w");
    if (!t->out) {
        free(t);
        return COIO_ESYS;
    }
    t->loop = loop;
    t->pid = (int)getpid();
    t->tid = (long)syscall(SYS_gettid);
    t->next_track = 1000000L * n;
    t->last_ready = -1;
    fputs("{\"displayTimeUnit\":\"ms\",\"traceEvents\":[", t->out);
    begin_event(t, "M", "process_name", t->tid, 0);
    fputs(",\"args\":{\"name\":\"coio\"}}", t->out);
    begin_event(t, "M", "thread_name", t->tid, 0);
    fputs(",\"args\":{\"name\":\"loop\"}}", t->out);
    rc = H->loop_add_observer(loop, &observer, t, NULL);
    if (rc != COIO_OK) {
        fclose(t->out);
        remove(path);
        free(t);
        return rc;
    }
    *state = t;
    return COIO_OK;
}

static void detach(coio_loop *loop, void *state) {
    trace *t = state;
    /* Tasks still running now keep no track data: task_data_drop frees it. */
    H->loop_remove_observer(loop, &observer, t);
    fputs("\n]}\n", t->out);
    fclose(t->out);
    free(t);
}

static const coio_plugin_info info = COIO_PLUGIN_INFO_INIT("trace", "1.0", attach, detach);

const coio_plugin_info *coio_plugin_init(const coio_host *host) {
    H = host;
    return &info;
}
