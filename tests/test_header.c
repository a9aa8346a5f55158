/* coio.h compiles clean on its own, with every warning an error, in strict ISO modes: this
 * file is built as C99 and (test_header.cc) as C++17, both -pedantic-errors.  At run time it
 * checks that the layout both languages see is the one the library was built with. */
#include <coio.h>

#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
#define LANG "C++17"
#else
#define LANG "C99"
#endif

static int ntests;
static int nfailed;

static void check(int ok, const char *what) {
    ntests++;
    if (!ok) nfailed++;
    printf("%s %d - %s: %s\n", ok ? "ok" : "not ok", ntests, LANG, what);
}

int main(void) {
    coio_loop_options lo = COIO_LOOP_OPTIONS_INIT;
    coio_task_options to = COIO_TASK_OPTIONS_INIT;
    coio_exception_context ec = COIO_EXCEPTION_CONTEXT_INIT;
    coio_loop *loop = NULL;
    int rc;
    printf("1..6\n");
    check(lo.size == sizeof lo && to.size == sizeof to && ec.size == sizeof ec,
          "the *_INIT macros");
    /* The flexible array member: data starts right after len, as the library writes it. */
    check(offsetof(coio_bytes, data) == sizeof(size_t), "coio_bytes.data follows len");
    check(sizeof(coio_bytes) == sizeof(size_t), "sizeof(coio_bytes) has no data bytes");
    check(coio_version_number() == COIO_VERSION_NUMBER, "the library's version is the header's");
    rc = coio_loop_new(&loop, &lo);
    check(rc == COIO_OK, "a loop from the header's options");
    check(coio_loop_release(loop) == COIO_OK, "released");
    return nfailed ? 1 : 0;
}
