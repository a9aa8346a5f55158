/* Shared helpers for the cmocka suites. */
#ifndef COIO_TESTUTIL_H
#define COIO_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <coio.h>

/* A loop in virtual time (the usual test loop) or real time. */
coio_loop *tu_loop_virtual(void);
coio_loop *tu_loop_real(void);

/* A recorder of callback invocations: each `tu_record` callback appends its tag. */
typedef struct tu_log {
    int n;
    int tags[256];
} tu_log;

typedef struct tu_rec {
    tu_log *log;
    int tag;
} tu_rec;

/* coio_callback that appends rec->tag to rec->log. */
void tu_record(void *rec);

/* A drop counter: tu_count_drop increments *(int *)p. */
void tu_count_drop(void *p);

/* An exception handler that counts reports and keeps the last message (static storage). */
typedef struct tu_reports {
    int n;
    int last_code;
    char last_message[256];
    char last_error[256];
} tu_reports;
void tu_capture_reports(coio_loop *loop, tu_reports *r);

#endif
