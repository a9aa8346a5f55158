/* The ABI beside the symbol list (tests/abi.symbols): the layout of every public struct and
 * the values of the public constants, as libcoio.so.1 shipped them.  Programs and bindings
 * compiled against an earlier coio.h pass these structs and numbers to the library, so none
 * of them may change (option structs may only grow at the end).  The offsets are those of
 * the LP64 ABIs (x86-64, AArch64) and of 32-bit ILP32 ones, computed from the sizes and
 * alignments of pointers, size_t and double. */
#include "testutil.h"

#include <stddef.h>
#include <sys/socket.h>

#include <coio_plugin.h>

#define P sizeof(void *)
#define Z sizeof(size_t)

static void test_loop_options(void **state) {
    (void)state;
    assert_int_equal(offsetof(coio_loop_options, size), 0);
    assert_int_equal(offsetof(coio_loop_options, flags), 4);
    assert_int_equal(offsetof(coio_loop_options, backend), 8);
    /* 12 rounded up to a double's alignment: 16 on LP64 and ARM, 12 on i386 */
    assert_int_equal(offsetof(coio_loop_options, slow_callback_duration),
                     (12 + _Alignof(double) - 1) / _Alignof(double) * _Alignof(double));
    coio_loop_options o = COIO_LOOP_OPTIONS_INIT;
    assert_int_equal(o.size, sizeof(coio_loop_options));
}

static void test_exception_context(void **state) {
    (void)state;
    assert_int_equal(offsetof(coio_exception_context, size), 0);
    assert_int_equal(offsetof(coio_exception_context, message), P);
    assert_int_equal(offsetof(coio_exception_context, code), 2 * P);
    assert_int_equal(offsetof(coio_exception_context, error), 3 * P);
    assert_int_equal(offsetof(coio_exception_context, future), 4 * P);
    assert_int_equal(offsetof(coio_exception_context, handle), 5 * P);
    coio_exception_context c = COIO_EXCEPTION_CONTEXT_INIT;
    assert_int_equal(c.size, sizeof(coio_exception_context));
}

static void test_task_options(void **state) {
    (void)state;
    assert_int_equal(offsetof(coio_task_options, size), 0);
    assert_int_equal(offsetof(coio_task_options, flags), 4);
    assert_int_equal(offsetof(coio_task_options, name), 8);
    assert_int_equal(offsetof(coio_task_options, stack_size), 8 + P);
    assert_int_equal(offsetof(coio_task_options, drop), 8 + P + Z);
    coio_task_options o = COIO_TASK_OPTIONS_INIT;
    assert_int_equal(o.size, sizeof(coio_task_options));
}

static void test_results(void **state) {
    (void)state;
    assert_int_equal(offsetof(coio_wait_result, ndone), 0);
    assert_int_equal(offsetof(coio_wait_result, done), Z);
    assert_int_equal(offsetof(coio_wait_result, npending), Z + P);
    assert_int_equal(offsetof(coio_wait_result, pending), 2 * Z + P);
    assert_int_equal(sizeof(coio_wait_result), 2 * Z + 2 * P);
    assert_int_equal(offsetof(coio_bytes, len), 0);
    assert_int_equal(offsetof(coio_bytes, data), Z);
    assert_int_equal(offsetof(coio_accepted, fd), 0);
    assert_int_equal(offsetof(coio_accepted, addrlen), 4);
    assert_int_equal(offsetof(coio_accepted, addr), 8);
    assert_int_equal(sizeof(coio_accepted), 8 + sizeof(struct sockaddr_storage));
}

static void test_statuses(void **state) {
    (void)state;
    const int want[] = {COIO_OK,        COIO_EINVAL,    COIO_ENOMEM,  COIO_ESTATE, COIO_ECANCELLED,
                        COIO_EFAILED,   COIO_ETIMEDOUT, COIO_ECLOSED, COIO_EBUSY,  COIO_ELOOP,
                        COIO_ETHREAD,   COIO_ENOTSUP,   COIO_ESYS,    COIO_EFULL,  COIO_EEMPTY,
                        COIO_ESHUTDOWN, COIO_EBROKEN};
    for (int i = 0; i < (int)(sizeof want / sizeof want[0]); i++)
        assert_int_equal(want[i], -i);
}

static void test_constants(void **state) {
    (void)state;
    assert_true(COIO_NO_TIMEOUT == -1.0);
    assert_int_equal(COIO_BACKEND_AUTO, 0);
    assert_int_equal(COIO_BACKEND_SELECT, 0x01);
    assert_int_equal(COIO_BACKEND_POLL, 0x02);
    assert_int_equal(COIO_BACKEND_EPOLL, 0x04);
    assert_int_equal(COIO_BACKEND_KQUEUE, 0x08);
    assert_int_equal(COIO_BACKEND_PORT, 0x20);
    assert_int_equal(COIO_BACKEND_LINUXAIO, 0x40);
    assert_int_equal(COIO_BACKEND_IOURING, 0x80);
    assert_int_equal(COIO_LOOP_DEBUG, 0x1);
    assert_int_equal(COIO_LOOP_VIRTUAL_TIME, 0x2);
    assert_int_equal(COIO_STEP_YIELD, 1);
    assert_int_equal(COIO_STEP_AWAIT, 2);
    assert_int_equal(COIO_TASK_EAGER, 0x1);
    assert_int_equal(COIO_RETURN_EXCEPTIONS, 1);
    assert_int_equal(COIO_FIRST_COMPLETED, 1);
    assert_int_equal(COIO_FIRST_EXCEPTION, 2);
    assert_int_equal(COIO_ALL_COMPLETED, 3);
    assert_int_equal(COIO_SEMAPHORE_BOUNDED, 0x1);
    assert_int_equal(COIO_QUEUE_FIFO, 0);
    assert_int_equal(COIO_QUEUE_LIFO, 1);
    assert_int_equal(COIO_QUEUE_PRIORITY, 2);
    assert_int_equal(COIO_LOOP_NO_PLUGINS, 0x4);
    assert_int_equal(COIO_CALLBACK_SOON, 1);
    assert_int_equal(COIO_CALLBACK_TIMER, 2);
    assert_int_equal(COIO_CALLBACK_IO, 3);
    assert_int_equal(COIO_CALLBACK_DONE, 4);
    assert_int_equal(COIO_CANCEL_NOW, 0);
    assert_int_equal(COIO_CANCEL_LATER, 1);
    assert_int_equal(COIO_PLUGIN_ABI, 1);
}

/* The plugin structs: the observer and future ops grow at the end; coio_host's slots follow
 * src/coio_host_slots.def (tests/check_host_slots.py holds their order). */
static void test_plugin_structs(void **state) {
    (void)state;
    assert_int_equal(offsetof(coio_observer, size), 0);
    assert_int_equal(offsetof(coio_observer, pass_begin), P);
    assert_int_equal(offsetof(coio_observer, pass_end), 2 * P);
    assert_int_equal(offsetof(coio_observer, callback_run), 3 * P);
    assert_int_equal(offsetof(coio_observer, task_created), 4 * P);
    assert_int_equal(offsetof(coio_observer, task_step_begin), 5 * P);
    assert_int_equal(offsetof(coio_observer, task_step_end), 6 * P);
    assert_int_equal(offsetof(coio_observer, task_done), 7 * P);
    assert_int_equal(offsetof(coio_observer, task_data_drop), 8 * P);
    assert_int_equal(sizeof(coio_observer), 9 * P);
    coio_observer o = COIO_OBSERVER_INIT;
    assert_int_equal(o.size, sizeof(coio_observer));
    assert_int_equal(offsetof(coio_future_ops, cancel), P);
    assert_int_equal(offsetof(coio_future_ops, drop), 2 * P);
    assert_int_equal(offsetof(coio_future_ops, repr), 3 * P);
    coio_future_ops f = COIO_FUTURE_OPS_INIT;
    assert_int_equal(f.size, sizeof(coio_future_ops));
    assert_int_equal(offsetof(coio_plugin_info, size), 0);
    assert_int_equal(offsetof(coio_plugin_info, abi), Z);
    assert_int_equal(offsetof(coio_plugin_info, name), 2 * Z);
    assert_int_equal(offsetof(coio_plugin_info, version), 2 * Z + P);
    assert_int_equal(offsetof(coio_plugin_info, attach), 2 * Z + 2 * P);
    assert_int_equal(offsetof(coio_plugin_info, detach), 2 * Z + 3 * P);
    assert_int_equal(offsetof(coio_host, size), 0);
    assert_int_equal(offsetof(coio_host, abi), Z);
    assert_int_equal(offsetof(coio_host, add_reader), 2 * Z); /* the first slot */
    assert_int_equal(offsetof(coio_host, future_new_custom), 2 * Z + 166 * P);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loop_options),   cmocka_unit_test(test_exception_context),
        cmocka_unit_test(test_task_options),   cmocka_unit_test(test_results),
        cmocka_unit_test(test_statuses),       cmocka_unit_test(test_constants),
        cmocka_unit_test(test_plugin_structs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
