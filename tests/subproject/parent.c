/* The parent project's program: a loop, a callback, a remote call from the loop thread. */
#include <coio.h>
#include <stdio.h>

static void hello(void *what) {
    printf("hello from %s\n", (const char *)what);
}

static void stop(void *loop) {
    coio_loop_stop(loop);
}

int main(void) {
    coio_loop *loop;
    coio_remote *remote;
    if (coio_loop_new(&loop, NULL) != COIO_OK) return 1;
    if (coio_loop_remote(loop, &remote) != COIO_OK) return 1;
    coio_call_soon(loop, hello, "a subproject", NULL, NULL);
    coio_remote_call_soon(remote, hello, "a remote handle", NULL);
    coio_call_soon(loop, stop, loop, NULL, NULL);
    int rc = coio_loop_run_forever(loop);
    coio_loop_release(loop);
    coio_remote_release(remote);
    return rc == COIO_OK ? 0 : 1;
}
