// Stackful coroutines: a task whose step resumes a fiber (Boost.Context fcontext) that runs
// the body on its own stack until it awaits a pending future or returns.
//
// Stacks are mmap'd with a PROT_NONE guard page below them and pooled per loop.  A SIGSEGV on
// a guard page is reported naming the task (from a handler on an alternate signal stack),
// then the process dies by the signal: an overflow is never silent corruption.
#include <boost/context/detail/fcontext.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include <vector>

#include "coroutine.hh"
#include "future.hh"
#include "loop.hh"
#include "task.hh"

// Valgrind must be told where coroutine stacks are, or it misreads switches between them.
// The client requests are a few no-op instructions when not running under it.
#ifdef COIO_ASAN_FIBERS
#include <sanitizer/asan_interface.h>
#endif

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define COIO_STACK_REGISTER(lo, hi) VALGRIND_STACK_REGISTER(lo, hi)
#define COIO_STACK_DEREGISTER(id) VALGRIND_STACK_DEREGISTER(id)
#define COIO_ON_VALGRIND() (RUNNING_ON_VALGRIND != 0)
#else
#define COIO_STACK_REGISTER(lo, hi) 0u
#define COIO_STACK_DEREGISTER(id) ((void)(id))
#define COIO_ON_VALGRIND() false
#endif

namespace coio::detail {

static constexpr std::size_t kDefaultStack = 64 * 1024;
static constexpr std::size_t kMinStack = 16 * 1024;
static constexpr std::size_t kMinSmallStack = 4 * 1024; // COIO_TASK_NO_GUARD_PAGE
static constexpr std::size_t kMaxStack = std::size_t(1) << 30;
// Stacks a size class keeps mapped once all its coroutines have finished (more are unmapped
// then, batch by batch).
static constexpr std::size_t kKeepStacks = 1024;
static constexpr std::size_t kFirstBatch = 8;            // stacks in a class's first batch
static constexpr std::size_t kMaxBatchBytes = 32u << 20; // batches double up to this size

// ---- overflow reporting -----------------------------------------------------------------

constinit thread_local Coroutine *tls_current = nullptr;
static thread_local bool tls_altstack __attribute__((tls_model("initial-exec"))) = false;
static struct sigaction g_old_segv, g_old_bus;

static void write_str(const char *s) {
    ssize_t r = write(STDERR_FILENO, s, std::strlen(s));
    (void)r;
}

static void write_num(unsigned long long v) {
    char buf[24];
    int i = sizeof buf;
    buf[--i] = '\0';
    do
        buf[--i] = char('0' + v % 10);
    while ((v /= 10) && i > 0);
    write_str(buf + i);
}

static void on_fault(int sig, siginfo_t *info, void *uctx) {
    Coroutine *co = tls_current;
    auto *addr = static_cast<char *>(info->si_addr);
    if (co && co->stack && addr >= co->stack - page_size() && addr < co->stack + page_size()) {
        write_str("coio: stack overflow in task ");
        if (co->task->extra && co->task->extra->name) {
            write_str(co->task->extra->name);
        } else {
            write_str("Task-");
            write_num(co->task->id);
        }
        write_str(" (stack of ");
        write_num(co->stack_size);
        write_str(" bytes; raise coio_task_options.stack_size)\n");
        signal(sig, SIG_DFL);
        return; // the faulting access repeats and the default action ends the process
    }
    const struct sigaction &old = sig == SIGSEGV ? g_old_segv : g_old_bus;
    if (old.sa_flags & SA_SIGINFO) {
        old.sa_sigaction(sig, info, uctx);
    } else if (old.sa_handler == SIG_DFL || old.sa_handler == SIG_IGN) {
        signal(sig, SIG_DFL); // re-faults into the default action
    } else {
        old.sa_handler(sig);
    }
}

// Installs the fault handler once per process and an alternate signal stack once per thread
// that runs coroutines (the handler cannot run on the stack that just overflowed).
static void ensure_overflow_reporting() {
    static std::once_flag once;
    std::call_once(once, [] {
        struct sigaction sa;
        std::memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_fault;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGSEGV, &sa, &g_old_segv);
        sigaction(SIGBUS, &sa, &g_old_bus);
    });
    if (tls_altstack) return;
    tls_altstack = true;
    stack_t old;
    if (sigaltstack(nullptr, &old) == 0 && !(old.ss_flags & SS_DISABLE)) return; // has one
    // Owned by the thread: disabled and freed when the thread exits.
    struct AltStack {
        void *mem = nullptr;
        ~AltStack() {
            if (!mem) return;
            stack_t off;
            std::memset(&off, 0, sizeof off);
            off.ss_flags = SS_DISABLE;
            sigaltstack(&off, nullptr);
            std::free(mem);
        }
    };
    static thread_local AltStack alt;
    std::size_t size = 64 * 1024;
    alt.mem = std::malloc(size);
    if (!alt.mem) return;
    stack_t ss;
    ss.ss_sp = alt.mem;
    ss.ss_size = size;
    ss.ss_flags = 0;
    if (sigaltstack(&ss, nullptr) != 0) {
        std::free(alt.mem);
        alt.mem = nullptr;
    }
}

// ---- stacks -----------------------------------------------------------------------------

// Stacks are carved from batches: one mmap per batch of stacks of one size class (usable size,
// guarded or not), batches doubling from kFirstBatch stacks up to kMaxBatchBytes.  A guarded
// class gives each stack a guard page below it when the batch is mapped: MADV_GUARD_INSTALL
// where the kernel has it (Linux 6.13: the guard lives in the page tables, the batch stays one
// entry of vm.max_map_count; a few process_madvise calls per batch from 6.14, else a madvise
// per stack), else mprotect(PROT_NONE) (each stack then takes two entries of
// vm.max_map_count); an unguarded one packs the stacks back to back (one map entry per batch)
// with a canary word at the bottom of each, checked every time the coroutine switches out.
// Each stack's top page, the one its first resume writes, is faulted in with the batch where
// the kernel can.  A finished coroutine's stack goes back on its class's free list (no system
// call); when the last coroutine of a class finishes and the class holds more than
// kKeepStacks, the batches past the first kKeepStacks stacks are unmapped (one munmap per
// batch).  Closing the loop unmaps everything.
struct StackBatch {
    char *base;
    std::size_t bytes;
    std::size_t count;
};

struct StackClass {
    std::size_t size; // usable bytes
    bool guarded;
    std::size_t next_batch = kFirstBatch;
    std::size_t mapped = 0, live = 0;
    std::vector<char *> free;        // capacity >= mapped: pushing never allocates
    std::vector<StackBatch> batches; // in mapping order
};

struct StackPool {
    std::vector<StackClass *> classes; // (owned) not moved by a new class: coroutines point here
    StackClass *last = nullptr;        // the class found last (most programs use one)
    ~StackPool() {
        for (StackClass *c : classes)
            delete c;
    }
};

static std::size_t slot_bytes(const StackClass &c) {
    return c.size + (c.guarded ? page_size() : 0);
}

static StackClass *stack_class_slow(Loop *loop, std::size_t size, bool guarded) {
    if (!loop->stack_pool) loop->stack_pool = new StackPool;
    StackPool *pool = loop->stack_pool;
    for (StackClass *c : pool->classes)
        if (c->size == size && c->guarded == guarded) return pool->last = c;
    pool->classes.reserve(pool->classes.size() + 1);
    auto *c = new StackClass;
    c->size = size;
    c->guarded = guarded;
    pool->classes.push_back(c);
    return pool->last = c;
}

static inline StackClass *stack_class(Loop *loop, std::size_t size, bool guarded) {
    StackPool *pool = loop->stack_pool;
    if (pool && pool->last && pool->last->size == size && pool->last->guarded == guarded) [[likely]]
        return pool->last;
    return stack_class_slow(loop, size, guarded);
}

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102 // Linux 6.13
#endif

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 // Linux 5.14
#endif

// Gives `advice` to the n ranges [first + i * stride, + len), as many as the kernel takes in
// each system call: process_madvise on this process (PIDFD_SELF: Linux 6.14 lets a process
// give itself any advice this way).  Returns how many ranges, from the first, were advised;
// the caller advises the rest one by one, or goes without.  A kernel (or a seccomp filter,
// or valgrind, which does not know the call) that refuses it once is not asked again.
static std::size_t advise_ranges(char *first, std::size_t stride, std::size_t n, std::size_t len,
                                 int advice) {
#ifdef SYS_process_madvise
    static std::atomic<bool> refused{COIO_ON_VALGRIND()};
    constexpr int kPidfdSelf = -10001; // PIDFD_SELF_THREAD_GROUP (<linux/fcntl.h>)
    // Ranges a call (UIO_MAXIOV is 1024): 512 bytes of stack, which may be a small coroutine
    // stack (a body starting an eager task maps the batch on its own stack).
    constexpr std::size_t kChunk = 32;
    std::size_t done = 0;
    while (done < n && !refused.load(std::memory_order_relaxed)) {
        iovec iov[kChunk];
        std::size_t k = std::min(kChunk, n - done);
        for (std::size_t i = 0; i < k; i++)
            iov[i] = {first + (done + i) * stride, len};
        long r = syscall(SYS_process_madvise, kPidfdSelf, iov, k, advice, 0u);
        if (r < 0) {
            refused.store(true, std::memory_order_relaxed);
            break;
        }
        done += std::size_t(r) / len; // short: the range after the last advised one failed
        if (std::size_t(r) < k * len) break;
    }
    return done;
#else
    (void)first, (void)stride, (void)n, (void)len, (void)advice;
    return 0;
#endif
}

static std::atomic<bool> no_guard_advice{false}; // the kernel refused it once: mprotect

// Makes [p, p + len) a guard: any access faults (SIGSEGV).
static bool guard_page(char *p, std::size_t len) {
    if (!no_guard_advice.load(std::memory_order_relaxed)) {
        if (madvise(p, len, MADV_GUARD_INSTALL) == 0) return true;
        if (errno != EINVAL) return false;
        no_guard_advice.store(true, std::memory_order_relaxed);
    }
    return mprotect(p, len, PROT_NONE) == 0;
}

// Maps a batch onto c's free list (highest address on top: an unguarded stack that overflows
// runs into its neighbour in the batch, not off the mapping).  False if nothing could be mapped.
static bool map_batch(StackClass &c) {
    std::size_t ps = page_size(), slot = slot_bytes(c);
    std::size_t n = c.next_batch;
    if (n > 1 && n * slot > kMaxBatchBytes) n = std::max<std::size_t>(1, kMaxBatchBytes / slot);
    c.batches.reserve(c.batches.size() + 1);
    c.free.reserve(c.mapped + n);
    void *mem = MAP_FAILED;
    for (; n; n /= 2) { // near the system's limits, take what still fits
        mem = mmap(nullptr, n * slot, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
        if (mem != MAP_FAILED) break;
    }
    if (mem == MAP_FAILED) return false;
    auto *base = static_cast<char *>(mem);
    std::size_t got = n;
    if (c.guarded) {
        // The guards in a few system calls where the kernel can, else one call per stack.
        std::size_t i = no_guard_advice.load(std::memory_order_relaxed)
                            ? 0
                            : advise_ranges(base, slot, n, ps, MADV_GUARD_INSTALL);
        for (; i < n; i++) {
            if (!guard_page(base + i * slot, ps)) { // out of map entries
                got = i;
                break;
            }
        }
        if (got < n) munmap(base + got * slot, (n - got) * slot);
        if (!got) return false;
    }
    // Fault in each stack's top page now, the one its first resume writes (its frame and
    // context): a few system calls for the batch instead of a page fault per stack, which
    // costs a third more.  Best effort; each stack's other pages are faulted in as they are used.
    advise_ranges(base + slot - ps, slot, got, ps, MADV_POPULATE_WRITE);
    c.batches.push_back({base, got * slot, got});
    for (std::size_t i = 0; i < got; i++)
        c.free.push_back(base + i * slot + (c.guarded ? ps : 0));
    c.mapped += got;
    if (n == c.next_batch && c.next_batch * 2 * slot <= kMaxBatchBytes) c.next_batch *= 2;
    return true;
}

// Stacks leave with their shadow clean: the next mapping at that address starts unpoisoned.
static void unmap_batch(const StackBatch &b) {
    mapping_unpoison(b.base, b.bytes);
    munmap(b.base, b.bytes);
}

// Unmaps the batches past the first kKeepStacks stacks of a class none of whose stacks is in
// use, and rebuilds its free list from the rest.
static void trim_class(StackClass &c) {
    std::size_t keep = 0, kept = 0;
    while (keep < c.batches.size() && kept + c.batches[keep].count <= kKeepStacks)
        kept += c.batches[keep++].count;
    for (std::size_t i = keep; i < c.batches.size(); i++)
        unmap_batch(c.batches[i]);
    c.batches.resize(keep);
    c.free.clear();
    std::size_t off = c.guarded ? page_size() : 0, slot = slot_bytes(c);
    for (const StackBatch &b : c.batches)
        for (std::size_t i = 0; i < b.count; i++)
            c.free.push_back(b.base + i * slot + off);
    c.mapped = kept;
}

// A stack is handed out clean.  Under ASan that means unpoisoned: a finished body's first
// frame never returns (it jumps away for good), so its redzones would stay poisoned in a
// pooled stack and trip the next coroutine that reuses it.
static void stack_register(Coroutine *co) {
#ifdef COIO_ASAN_FIBERS
    __asan_unpoison_memory_region(co->stack, co->stack_size);
#endif
    co->valgrind_stack = COIO_STACK_REGISTER(co->stack, co->stack + co->stack_size);
    if (!co->guarded) *reinterpret_cast<std::uint64_t *>(co->stack) = kStackCanary;
}

static bool stack_alloc(Loop *loop, Coroutine *co) {
    StackClass *c;
    try {
        c = stack_class(loop, co->stack_size, co->guarded);
        if (c->free.empty() && !map_batch(*c)) return false;
    } catch (const std::bad_alloc &) {
        return false;
    }
    co->stack = c->free.back();
    co->stack_class = c;
    c->free.pop_back();
    c->live++;
    stack_register(co);
    return true;
}

static void stack_release(Loop *loop, Coroutine *co) {
    if (!co->stack) return;
    COIO_STACK_DEREGISTER(co->valgrind_stack);
    char *stack = co->stack;
    co->stack = nullptr;
    // After the loop closed its batches are gone (an abandoned body's stack went with them).
    if (!loop->stack_pool) return;
    StackClass *c = co->stack_class;
    c->free.push_back(stack); // capacity reserved
    if (--c->live == 0 && c->mapped > kKeepStacks) trim_class(*c);
}

void stacks_release_all(Loop *loop) {
    StackPool *pool = loop->stack_pool;
    if (!pool) return;
    loop->stack_pool = nullptr;
    for (StackClass *c : pool->classes)
        for (const StackBatch &b : c->batches)
            unmap_batch(b);
    delete pool;
}

// An unguarded stack's canary was overwritten: report like a guard-page fault, then abort.
[[noreturn]] void coroutine_smashed(Coroutine *co) {
    write_str("coio: stack overflow in task ");
    if (co->task->extra && co->task->extra->name) {
        write_str(co->task->extra->name);
    } else {
        write_str("Task-");
        write_num(co->task->id);
    }
    write_str(" (stack of ");
    write_num(co->stack_size);
    write_str(" bytes without a guard page: its canary was overwritten; raise "
              "coio_task_options.stack_size)\n");
    std::abort();
}

// ---- the fiber --------------------------------------------------------------------------

static void entry(ctx::transfer_t t) {
    auto *co = static_cast<Coroutine *>(t.data);
#ifdef COIO_ASAN_FIBERS
    fiber_switch_finish(nullptr, &co->caller_bottom, &co->caller_size);
#endif
    co->caller = t.fctx;
    try {
        co->body_rc = co->fn(reinterpret_cast<coio_future *>(co->task), co->arg);
    } catch (...) { // a C++ exception thrown through the body
        co->body_rc = COIO_EFAILED;
    }
    co->finished = true;
#ifdef COIO_ASAN_FIBERS
    fiber_switch_start(nullptr, co->caller_bottom, co->caller_size); // left for good
#endif
    jump_fcontext_uncalled(co->caller, nullptr);
    std::abort(); // never resumed after it finished
}

std::size_t coroutine_stack_size(std::size_t requested, bool guarded) {
    std::size_t ps = page_size();
    std::size_t size = requested ? requested : kDefaultStack;
    std::size_t min = guarded ? kMinStack : kMinSmallStack;
    if (size < min) size = min;
    return (size + ps - 1) / ps * ps;
}

static_assert(sizeof(Coroutine) <= kCoroutineBytes, "raise kCoroutineBytes (task.hh)");

Coroutine *coroutine_new(Loop *loop, coio_coroutine_fn fn, void *arg, coio_free_fn drop,
                         std::size_t stack_size, bool guarded) {
    auto *co = static_cast<Coroutine *>(loop->pools.coroutine.alloc());
    std::memset(static_cast<void *>(co), 0, sizeof(Coroutine));
    co->loop = loop;
    co->fn = fn;
    co->arg = arg;
    co->drop = drop;
    co->guarded = guarded;
    co->stack_size = coroutine_stack_size(stack_size, guarded);
    return co;
}

bool coroutine_stack_size_valid(std::size_t requested) {
    return requested <= kMaxStack;
}

// The first resume: the stack and the fiber on it.
int coroutine_start(Task *t, Coroutine *co) {
    co->task = t;
    if (!stack_alloc(t->loop, co)) {
        task_stash_error(t, COIO_ENOMEM, "cannot map a coroutine stack", nullptr);
        return COIO_EFAILED;
    }
    ensure_overflow_reporting();
    co->fctx = ctx::make_fcontext(co->stack + co->stack_size, co->stack_size, entry);
    return COIO_OK;
}

// The body returned: free its stack and turn what it returned into the step's result.
int coroutine_finished(Task *t, Coroutine *co) {
    stack_release(t->loop, co);
    // COIO_EFAILED with no error of its own: the last failed await's error propagates.
    if (co->body_rc == COIO_EFAILED && !t->error && co->last_failed)
        task_stash_error(t, co->last_failed->error->code, co->last_failed->error->message,
                         co->last_failed);
    // COIO_STEP_* are not statuses a body returns: such a task fails, saying so.
    if (co->body_rc == COIO_STEP_YIELD || co->body_rc == COIO_STEP_AWAIT) {
        task_stash_error(t, COIO_EINVAL, "coroutine returned a COIO_STEP_* value", nullptr);
        return COIO_EFAILED;
    }
    return co->body_rc;
}

void (*coroutine_body(const void *co))() {
    return reinterpret_cast<void (*)()>(static_cast<const Coroutine *>(co)->fn);
}

int coroutine_step(coio_future *task, coio_future *, int status, void *co) {
    return coroutine_resume(reinterpret_cast<Task *>(task), status, static_cast<Coroutine *>(co));
}

Task *spawn_coroutine(Loop *loop, coio_coroutine_fn fn, void *arg, const coio_task_options &o) {
    Coroutine *co =
        coroutine_new(loop, fn, arg, o.drop, o.stack_size, !(o.flags & COIO_TASK_NO_GUARD_PAGE));
    Task *t;
    try {
        t = task_new(loop, coroutine_step, co, coroutine_free, &o);
    } catch (...) {
        coroutine_forget_arg(co);
        coroutine_free(co);
        throw;
    }
    future_ref(t); // the caller's
    try {
        task_start(t, o.flags & COIO_TASK_EAGER);
    } catch (...) {
        coroutine_forget_arg(co);
        future_unref(t);
        task_abandon(t);
        throw;
    }
    return t;
}

void coroutine_forget_arg(void *arg) {
    static_cast<Coroutine *>(arg)->drop = nullptr;
}

void coroutine_free(void *arg) {
    auto *co = static_cast<Coroutine *>(arg);
    // A body suspended when the loop closed is abandoned with its stack (C has no unwinding).
    if (co->task) stack_release(co->loop, co);
    if (co->last_failed) future_unref(co->last_failed);
    Loop *loop = co->loop; // alive: the task, or the failing spawn, holds a reference
    if (co->drop) co->drop(co->arg);
    loop->pools.coroutine.release(co);
}

void coroutine_note_failed(Coroutine *co, Future *f) {
    Future *old = co->last_failed;
    future_ref(f);
    co->last_failed = f;
    if (old) future_unref(old); // may run user code (a report, drops): co is updated
}

} // namespace coio::detail
