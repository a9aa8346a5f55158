#include "testutil.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

coio_loop *tu_loop_virtual(void) {
    coio_loop_options o = COIO_LOOP_OPTIONS_INIT;
    o.flags = COIO_LOOP_VIRTUAL_TIME;
    coio_loop *l = NULL;
    assert_int_equal(coio_loop_new(&l, &o), COIO_OK);
    return l;
}

coio_loop *tu_loop_real(void) {
    coio_loop *l = NULL;
    assert_int_equal(coio_loop_new(&l, NULL), COIO_OK);
    return l;
}

void tu_record(void *p) {
    tu_rec *r = p;
    if (r->log->n < 256) r->log->tags[r->log->n++] = r->tag;
}

void tu_count_drop(void *p) {
    ++*(int *)p;
}

static void capture(coio_loop *loop, const coio_exception_context *ctx, void *arg) {
    (void)loop;
    tu_reports *r = arg;
    r->n++;
    r->last_code = ctx->code;
    snprintf(r->last_message, sizeof r->last_message, "%s", ctx->message ? ctx->message : "");
    snprintf(r->last_error, sizeof r->last_error, "%s", ctx->error ? ctx->error : "");
}

void tu_capture_reports(coio_loop *loop, tu_reports *r) {
    memset(r, 0, sizeof *r);
    assert_int_equal(coio_loop_set_exception_handler(loop, capture, r, NULL), COIO_OK);
}

double tu_wall_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void tu_run_one_pass(coio_loop *loop) {
    assert_int_equal(coio_loop_stop(loop), COIO_OK);
    assert_int_equal(coio_loop_run_forever(loop), COIO_OK);
}

void tu_finish(coio_loop *loop) {
    assert_int_equal(coio_loop_close(loop), COIO_OK);
    assert_int_equal(coio_loop_release(loop), COIO_OK);
}

coio_future *tu_sleep(coio_loop *loop, double delay) {
    coio_future *f = NULL;
    assert_status(coio_sleep(loop, delay, &f), COIO_OK);
    assert_non_null(f);
    return f;
}

void tu_complete_result(void *p) {
    tu_completer *c = p;
    assert_status(coio_future_set_result(c->f, c->value, NULL), COIO_OK);
}

void tu_complete_error(void *p) {
    tu_completer *c = p;
    assert_status(
        coio_future_set_error_payload(c->f, c->code, c->message, c->payload, c->payload_drop),
        COIO_OK);
}

void tu_complete_cancel(void *p) {
    tu_completer *c = p;
    assert_int_equal(coio_future_cancel(c->f, c->message), 1);
}

static void tick(void *p) {
    tu_ticker *t = p;
    t->n++;
    if (t->n < t->limit) assert_status(coio_call_soon(t->loop, tick, t, NULL, NULL), COIO_OK);
}

void tu_start_ticker(tu_ticker *t, coio_loop *loop, int limit) {
    t->loop = loop;
    t->n = 0;
    t->limit = limit;
    assert_status(coio_call_soon(loop, tick, t, NULL, NULL), COIO_OK);
}

int tu_error_code(coio_future *f) {
    int code = 12345;
    assert_status(coio_future_error(f, &code, NULL), COIO_OK);
    return code;
}

void tu_assert_pending(coio_future *f) {
    assert_int_equal(coio_future_done(f), 0);
}

void tu_assert_done_null(coio_future *f) {
    void *v = &v;
    assert_int_equal(coio_future_done(f), 1);
    assert_status(coio_future_result(f, &v), COIO_OK);
    assert_null(v);
}

const char *tu_error_message(coio_future *f) {
    const char *msg = NULL;
    assert_status(coio_future_error(f, NULL, &msg), COIO_OK);
    return msg;
}
