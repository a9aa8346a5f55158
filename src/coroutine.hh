// The hot half of stackful coroutines, inline: resuming a fiber and suspending it.
//
// A switch between stacks must not leave the CPU's return predictor holding the other stack's
// return addresses (jump_fcontext_uncalled, below).  Inlining the resume into the task step
// and the suspend into coio_await keeps the frames around a switch few.
#pragma once

#include <boost/context/detail/fcontext.hpp>

#include <cstdint>

#include "future.hh"
#include "loop.hh"
#include "task.hh"

// AddressSanitizer must be told about every switch between stacks (its fiber interface), or
// it checks coroutine code against the wrong stack bounds: false reports after a no-return
// call (longjmp, a C++ throw), stack errors not attributed to their frame.  Off in other
// builds: the annotations compile to nothing.
#include "mapping.hh"
#ifdef COIO_ASAN
#define COIO_ASAN_FIBERS 1
#endif
#ifdef COIO_ASAN_FIBERS
#include <sanitizer/common_interface_defs.h>
#endif

namespace coio::detail {

namespace ctx = boost::context::detail;

struct Coroutine {
    coio_coroutine_fn fn;
    void *arg;
    coio_free_fn drop;
    Task *task;
    Loop *loop;
    struct StackClass *stack_class; // where the stack goes back to
    ctx::fcontext_t fctx;           // the suspended coroutine (null before its first resume)
    ctx::fcontext_t caller;         // the scheduler side, while it runs
    char *stack;                    // the mapping: guard page, then the usable stack
    std::size_t stack_size;         // usable bytes
    Future *last_failed;            // the last awaited future that failed (a reference)
    int resume_status;              // what the step resumes it with
    int body_rc;
    bool finished;
    bool yielding;           // it switched out in a bare yield (coroutine_yield), not an await
    bool guarded;            // a guard page below the stack; else a canary at its bottom
    unsigned valgrind_stack; // the id of the registered stack
#ifdef COIO_ASAN_FIBERS
    void *asan_fake_stack;     // the body's fake stack while it is suspended
    const void *caller_bottom; // the stack that resumed it (to switch back to)
    std::size_t caller_size;
#endif
};

// The sanitizer side of a switch: before it, the stack being entered (from = null: the one
// being left is left for good); after it, in the context that was resumed.
inline void fiber_switch_start(void **from_fake, const void *bottom, std::size_t size) {
#ifdef COIO_ASAN_FIBERS
    __sanitizer_start_switch_fiber(from_fake, bottom, size);
#else
    (void)from_fake, (void)bottom, (void)size;
#endif
}
inline void fiber_switch_finish(void *fake, const void **old_bottom, std::size_t *old_size) {
#ifdef COIO_ASAN_FIBERS
    __sanitizer_finish_switch_fiber(fake, old_bottom, old_size);
#else
    (void)fake, (void)old_bottom, (void)old_size;
#endif
}

// Boost.Context's jump_fcontext, entered by a jump instead of a call (x86-64).
//
// Why: a call pushes its return address on the CPU's return-stack predictor, and the side
// that resumes on the other stack pops that address for its own next return, which goes
// elsewhere: a mispredicted return after every switch.  (A stackful yield took 35 ns with the
// call, 20 ns with the jump: bench/README.md.)
// Entered by a jump, with the return address pushed on the memory stack by hand (the very
// layout jump_fcontext expects, as after a call), a switch leaves the predictor alone, and
// each side's returns pair with its own calls: a body that called coio_co_sleep returns into
// the body predicted.  The switch itself is Boost's (registers, control words, the stack);
// this is only how it is called.  Other architectures call it.
//
// The red zone is stepped over (the push must not overwrite what the compiler keeps below
// the stack pointer); every register the ABI lets a call clobber is declared clobbered.  For
// the few instructions in between, the frame is not what the unwind tables say: a profiler's
// backtrace taken there is cut short, nothing else unwinds through a switch.
#if defined(__x86_64__) && defined(__LP64__)
#ifdef __AVX512F__
#define COIO_AVX512_CLOBBERS                                                                       \
    , "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm24", "xmm25",    \
        "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31", "k0", "k1", "k2", "k3", "k4", "k5",  \
        "k6", "k7"
#else
#define COIO_AVX512_CLOBBERS
#endif
// Built for indirect-branch tracking, the landing (reached by jump_fcontext's indirect jump)
// is marked as a target.
#if defined(__CET__) && (__CET__ & 1)
#define COIO_SWITCH_LANDING "endbr64\n\t"
#else
#define COIO_SWITCH_LANDING
#endif
inline ctx::transfer_t jump_fcontext_uncalled(ctx::fcontext_t to, void *data) {
    void *fctx, *out;
    asm volatile("lea -128(%%rsp), %%rsp\n\t"
                 "lea 1f(%%rip), %%rax\n\t"
                 "push %%rax\n\t"
                 "jmp jump_fcontext@PLT\n"
                 "1:\n\t" COIO_SWITCH_LANDING "lea 128(%%rsp), %%rsp"
                 : "=a"(fctx), "=d"(out), "+D"(to), "+S"(data)
                 :
                 : "rcx", "r8", "r9", "r10", "r11", "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3",
                   "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12",
                   "xmm13", "xmm14", "xmm15", "st", "st(1)", "st(2)", "st(3)", "st(4)", "st(5)",
                   "st(6)", "st(7)", "mm0", "mm1", "mm2", "mm3", "mm4", "mm5", "mm6",
                   "mm7" COIO_AVX512_CLOBBERS);
    return {fctx, out};
}
#undef COIO_AVX512_CLOBBERS
#undef COIO_SWITCH_LANDING
#else
inline ctx::transfer_t jump_fcontext_uncalled(ctx::fcontext_t to, void *data) {
    return ctx::jump_fcontext(to, data);
}
#endif

// The coroutine running on this thread.  initial-exec: the overflow signal handler reads it,
// and that TLS model needs no allocation on access.
extern constinit thread_local Coroutine *tls_current __attribute__((tls_model("initial-exec")));

// The canary at the bottom of a stack without a guard page, checked at every switch out.
inline constexpr std::uint64_t kStackCanary = 0xc0105eedc0105eedull;
[[noreturn]] void coroutine_smashed(Coroutine *co); // reports the overflow, aborts

int coroutine_start(Task *t, Coroutine *co);    // the first resume: map its stack
int coroutine_finished(Task *t, Coroutine *co); // the body returned: its step's result
void coroutine_note_failed(Coroutine *co, Future *f);

// The task's step: resume the fiber until it awaits (COIO_STEP_AWAIT) or returns.
inline int coroutine_resume(Task *t, int status, Coroutine *co) {
    if (!co->fctx) [[unlikely]] {
        if (int rc = coroutine_start(t, co)) return rc;
    }
    co->resume_status = status;
    Coroutine *prev = tls_current;
    tls_current = co;
    [[maybe_unused]] void *fake = nullptr;
    fiber_switch_start(&fake, co->stack, co->stack_size);
    ctx::transfer_t r = jump_fcontext_uncalled(co->fctx, co);
    fiber_switch_finish(fake, nullptr, nullptr);
    tls_current = prev;
    co->fctx = r.fctx;
    if (!co->guarded && *reinterpret_cast<const std::uint64_t *>(co->stack) != kStackCanary)
        [[unlikely]]
        coroutine_smashed(co);
    if (!co->finished) [[likely]] {
        if (!co->yielding) return COIO_STEP_AWAIT;
        co->yielding = false;
        return COIO_STEP_YIELD;
    }
    return coroutine_finished(t, co);
}

// Switches from the running body back to its step (coroutine_resume), and on again once the
// next step resumes it.
inline void coroutine_switch_out(Coroutine *co) {
#ifdef COIO_ASAN_FIBERS
    fiber_switch_start(&co->asan_fake_stack, co->caller_bottom, co->caller_size);
#endif
    ctx::transfer_t r = jump_fcontext_uncalled(co->caller, nullptr);
#ifdef COIO_ASAN_FIBERS
    fiber_switch_finish(co->asan_fake_stack, &co->caller_bottom, &co->caller_size);
#endif
    co->caller = r.fctx;
}

// The coroutine whose body runs now and may suspend, or null (see coroutine_await).
inline Coroutine *coroutine_suspendable() {
    Coroutine *co = tls_current;
    if (!co) return nullptr;
    Loop *loop = co->loop; // the task's: a coroutine runs on the loop it was made for
    return loop->current_task == co->task && !loop->no_suspend ? co : nullptr;
}

// The loop of the coroutine running on this thread, if its body is what runs now; else null.
inline Loop *co_running_loop() {
    Coroutine *co = coroutine_suspendable();
    return co ? co->loop : nullptr;
}

// coio_co_sleep(<= 0) on co (coroutine_suspendable): asyncio.sleep(0), a bare yield (its
// __sleep0) with no future behind it.  The step returns COIO_STEP_YIELD, so the task's next
// step comes on the next pass, after what is ready now; COIO_ECANCELLED if that step delivers
// a cancellation.
inline int coroutine_yield(Coroutine *co) {
    co->yielding = true;
    coroutine_switch_out(co);
    return co->resume_status == COIO_ECANCELLED ? COIO_ECANCELLED : COIO_OK;
}

// coio_await: suspend until f is done (its step registers the wait), then read f's outcome.
inline int coroutine_await(Future *f, void **value) {
    // Not on a coroutine, or inside something else running on its stack (a step-driven
    // task started eagerly from the body, a drop or the exception handler called from the
    // body's API call): there is nothing here to suspend.
    Coroutine *co = coroutine_suspendable();
    if (!co) return COIO_ENOTSUP;
    Task *t = co->task;
    if (!f || f == t) return COIO_EINVAL;
    if (f->loop != co->loop) return COIO_ELOOP;
    if (f->state == Future::Pending) {
        future_ref(f);
        co->loop->step_awaiting = f; // taken by the step when the body switches out
        coroutine_switch_out(co);
        // A cancellation delivered while f is not cancelled itself (asyncio throws it in).
        if (co->resume_status == COIO_ECANCELLED && f->state != Future::Cancelled)
            return COIO_ECANCELLED;
    }
    int rc = future_outcome(f);
    if (rc == COIO_ECANCELLED) [[unlikely]] // (also when f was done already: no step saw it)
        task_note_delivered(t, f->error ? f->error->message : nullptr);
    if (rc == COIO_OK && value) *value = f->value;
    if (rc == COIO_EFAILED) coroutine_note_failed(co, f);
    return rc;
}

} // namespace coio::detail
