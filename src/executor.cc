// The thread-pool executor: asyncio's loop.run_in_executor(None, fn, arg).
//
// A loop's executor is created on first use: a FIFO of jobs under one mutex, and worker threads
// started on demand up to the executor size (asyncio's ThreadPoolExecutor: an idle thread is
// reused before a new one starts).  Idle workers wait on a condition variable.
//
// Threads never touch a Future: a worker touches only its job record (fn, arg, result) and the
// executor's queue.  When fn returns, the worker hands the job to the loop thread through the
// loop's call_soon_threadsafe queue as one entry (deliver, job, finish), as asyncio's
// wrap_future does: it wakes a loop blocked in its poll, is seen at the start of the next pass
// otherwise, and keeps FIFO order with what fn itself sent through call_soon_threadsafe.  On the
// loop thread `deliver` completes the future and `finish` ends the job (drop(arg), the future
// reference, the record); when the loop closes first, the entry is discarded: only `finish`
// runs, and the future is cancelled.  The job holds a reference to its future, so a future
// released by its user while the job runs stays valid until then.
//
// Job records come from the loop's pool of small objects and are only allocated and released
// on the loop thread.  The pool's state, the future and the loop's other structures are
// likewise only touched there; between threads everything goes through the executor mutex or
// the loop's thread-safe queue.
//
// If that queue cannot take an entry (out of memory), the worker parks the job on the
// executor's own list and wakes the loop through the executor's ev_async instead.
#include <condition_variable>
#include <csignal>
#include <mutex>
#include <new>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include "executor.hh"
#include "future.hh"
#include "loop.hh"

namespace coio::detail {

namespace {

struct ExecFuture;

struct Job {
    enum State : std::uint8_t { Queued, Running, Removed };

    Job *prev, *next; // the queue (or the parked list), under the executor mutex
    coio_work_fn fn;
    void *arg;
    coio_free_fn drop;
    coio_free_fn result_drop; // cleared once the future owns the result
    void *result;             // written by the worker before the hand-off
    Loop *loop;
    ExecFuture *future; // a reference; loop thread only
    State state;        // under the executor mutex
    bool threw;         // fn let a C++ exception escape (bindings)
};
static_assert(sizeof(Job) <= kSmallCustomFuture, "job records share the custom-future pool");

// The future run_in_executor returns: cancelling it removes a job that has not started.
struct ExecFuture : CustomFuture {
    Job *job; // while the future is pending
};

struct Worker {
    pthread_t tid;
    Worker *next;
    Executor *ex;
    bool exited; // under the mutex: returned (to be joined)
};

} // namespace

// The loop's thread pool (Loop::executor).
struct Executor {
    Loop *loop;
    std::mutex mu;
    std::condition_variable cv; // idle workers wait here
    // Under mu:
    Job *head = nullptr, *tail = nullptr; // jobs not started, FIFO
    std::size_t queued = 0;
    Job *parked = nullptr;     // finished jobs the loop's queue could not take
    Worker *workers = nullptr; // every thread not joined yet
    unsigned size;             // the maximum number of threads
    unsigned nthreads = 0;     // threads that have not decided to exit
    unsigned waiting = 0;      // threads blocked on cv
    unsigned exited = 0;       // threads that returned and wait to be joined
    bool closing = false;
    // Loop thread only:
    ev_async wake; // a parked job is waiting
};

namespace {

// asyncio: min(32, (os.process_cpu_count() or 1) + 4).
unsigned default_size() {
    static const unsigned n = [] {
        long cpus = 0;
#ifdef CPU_COUNT
        cpu_set_t set;
        if (sched_getaffinity(0, sizeof set, &set) == 0) cpus = CPU_COUNT(&set);
#endif
        if (cpus <= 0) cpus = sysconf(_SC_NPROCESSORS_ONLN);
        if (cpus <= 0) cpus = 1;
        return unsigned(cpus + 4 < 32 ? cpus + 4 : 32);
    }();
    return n;
}

// ---- the queue (under mu) ----------------------------------------------------------------

void push_job(Executor *ex, Job *j) {
    j->next = nullptr;
    j->prev = ex->tail;
    if (ex->tail)
        ex->tail->next = j;
    else
        ex->head = j;
    ex->tail = j;
    ex->queued++;
}

void unlink_job(Executor *ex, Job *j) {
    if (j->prev)
        j->prev->next = j->next;
    else
        ex->head = j->next;
    if (j->next)
        j->next->prev = j->prev;
    else
        ex->tail = j->prev;
    ex->queued--;
}

// ---- the loop side of a job --------------------------------------------------------------

const char kThrew[] = "executor job: unhandled C++ exception";

// Completes the future with the job's outcome, unless it is done already (cancelled, or set
// by hand): then the result stays with the job and `finish` drops it.
void deliver(void *p) {
    auto *j = static_cast<Job *>(p);
    ExecFuture *f = j->future;
    if (f->state != Future::Pending) return;
    try {
        if (j->threw)
            future_set_error(f, COIO_EFAILED, kThrew, nullptr, nullptr);
        else
            future_set_result(f, j->result, j->result_drop);
    } catch (...) {
        return; // out of memory: `finish` tries to cancel it instead
    }
    f->job = nullptr;
    j->result_drop = nullptr; // the future owns the result now
}

// Ends a job that has run (after `deliver`, or alone when the loop closed first) or will never
// run: the future, if still pending, is cancelled; a result nobody took is dropped; then
// drop(arg), the record and the job's reference to the future.
void finish(void *p) {
    auto *j = static_cast<Job *>(p);
    ExecFuture *f = j->future;
    Loop *loop = j->loop;
    if (f->state == Future::Pending) {
        f->job = nullptr;
        try {
            future_cancel(f, nullptr);
        } catch (...) {
            coio_exception_context ctx = COIO_EXCEPTION_CONTEXT_INIT;
            ctx.message = "executor job outcome lost: out of memory";
            ctx.code = COIO_ENOMEM;
            ctx.future = reinterpret_cast<coio_future *>(f);
            loop_report(loop, &ctx);
        }
    }
    coio_free_fn result_drop = j->result_drop, drop = j->drop;
    void *result = j->result, *arg = j->arg;
    loop->pools.custom.release(j);
    if (result_drop) result_drop(result);
    if (drop) drop(arg);
    future_unref(f);
}

// The cancel of an ExecFuture (coio_future_cancel, a task cancelling what it awaits, ...): the
// future is cancelled; a job that has not started is removed and ends now (fn never runs);
// one that runs goes on, and its result is dropped when it arrives.
bool exec_cancel(Future *fut, const char *msg) {
    if (fut->state != Future::Pending) return false;
    auto *f = static_cast<ExecFuture *>(fut);
    Job *j = f->job;
    future_cancel(f, msg); // may throw: nothing changed yet
    f->job = nullptr;
    if (!j) return true;
    bool removed = false;
    if (Executor *ex = f->loop->executor) { // (none once executor_close began)
        std::lock_guard<std::mutex> g(ex->mu);
        if (j->state == Job::Queued) {
            unlink_job(ex, j);
            j->state = Job::Removed;
            j->result_drop = nullptr; // no result will ever come
            removed = true;
        }
    }
    if (removed) finish(j);
    return true;
}

constexpr FutureOps kExecOps{exec_cancel, nullptr, nullptr};

// ---- workers -----------------------------------------------------------------------------

// Hands a finished job to the loop thread.
void hand_off(Executor *ex, Job *j) {
    try {
        if (loop_call_soon_threadsafe(ex->loop, deliver, j, finish) == COIO_OK) return;
    } catch (...) {
    }
    // The loop's queue could not take it (out of memory): park it and wake the loop through
    // our own watcher (executor_close also collects parked jobs, after the last thread).
    {
        std::lock_guard<std::mutex> g(ex->mu);
        j->next = ex->parked;
        ex->parked = j;
    }
    ev_async_send(ex->loop->ev, &ex->wake);
}

void *worker_main(void *p) {
    auto *w = static_cast<Worker *>(p);
    Executor *ex = w->ex;
#ifdef __GLIBC__
    pthread_setname_np(pthread_self(), "coio-executor");
#endif
    std::unique_lock<std::mutex> lk(ex->mu);
    for (;;) {
        // Closing, or above a lowered size: exit (before taking another job).
        if (ex->closing || ex->nthreads > ex->size) break;
        Job *j = ex->head;
        if (!j) {
            ex->waiting++;
            ex->cv.wait(lk);
            ex->waiting--;
            continue;
        }
        unlink_job(ex, j);
        j->state = Job::Running;
        lk.unlock();
        try {
            j->result = j->fn(j->arg);
        } catch (...) {
            j->threw = true;
        }
        hand_off(ex, j);
        lk.lock();
    }
    ex->nthreads--;
    w->exited = true;
    ex->exited++;
    return nullptr;
}

// Starts a worker (mu held).  Returns 0 or the pthread_create error; throws std::bad_alloc.
int spawn(Executor *ex) {
    auto *w = new Worker{};
    w->ex = ex;
    // Workers block the asynchronous signals (libev's advice for threaded programs): signal
    // handlers run on the loop's side, and blocking calls in jobs see no EINTR.  Faults and
    // other synchronous signals stay deliverable.
    sigset_t all, old;
    sigfillset(&all);
    for (int s : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT})
        sigdelset(&all, s);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int err = pthread_create(&w->tid, nullptr, worker_main, w);
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    if (err) {
        delete w;
        return err;
    }
    ex->nthreads++; // before the thread can look (it needs mu)
    w->next = ex->workers;
    ex->workers = w;
    return 0;
}

// Unlinks the workers that returned (mu held), to be joined without the lock.
Worker *take_exited(Executor *ex) {
    Worker *done = nullptr;
    for (Worker **pw = &ex->workers; ex->exited && *pw;) {
        Worker *w = *pw;
        if (!w->exited) {
            pw = &w->next;
            continue;
        }
        *pw = w->next;
        w->next = done;
        done = w;
        ex->exited--;
    }
    return done;
}

void join_all(Worker *w) {
    while (w) {
        Worker *next = w->next;
        pthread_join(w->tid, nullptr);
        delete w;
        w = next;
    }
}

void on_parked(struct ev_loop *, ev_async *w, int) {
    auto *ex = static_cast<Executor *>(w->data);
    Job *j;
    {
        std::lock_guard<std::mutex> g(ex->mu);
        j = ex->parked;
        ex->parked = nullptr;
    }
    while (j) {
        Job *next = j->next;
        deliver(j);
        finish(j);
        j = next;
    }
}

// The loop's executor, created on first use (no thread yet).  Throws std::bad_alloc.
Executor *get(Loop *loop) {
    if (loop->executor) return loop->executor;
    auto *ex = new Executor;
    ex->loop = loop;
    ex->size = default_size();
    ev_async_init(&ex->wake, on_parked);
    ex->wake.data = ex;
    ev_async_start(loop->ev, &ex->wake);
    loop->executor = ex;
    return ex;
}

} // namespace

int executor_submit(Loop *loop, coio_work_fn fn, void *arg, coio_free_fn drop,
                    coio_free_fn result_drop, Future **out) {
    if (loop->closed) return COIO_ECLOSED;
    Executor *ex = get(loop);
    auto *f = custom_future_new<ExecFuture>(loop, &kExecOps);
    Job *j;
    try {
        j = static_cast<Job *>(loop->pools.custom.alloc());
    } catch (...) {
        future_unref(f);
        throw;
    }
    *j = Job{};
    j->fn = fn;
    j->arg = arg;
    j->drop = drop;
    j->result_drop = result_drop;
    j->loop = loop;
    j->future = f;
    j->state = Job::Queued;
    f->job = j;
    future_ref(f); // the job's

    int err = 0;
    Worker *exited;
    {
        std::lock_guard<std::mutex> g(ex->mu);
        push_job(ex, j);
        // asyncio's _adjust_thread_count: an idle thread for every queued job, else a new
        // thread while below the size.
        if (ex->waiting >= ex->queued) {
            ex->cv.notify_one();
        } else {
            if (ex->waiting) ex->cv.notify_one();
            if (ex->nthreads < ex->size) {
                try {
                    err = spawn(ex);
                } catch (const std::bad_alloc &) {
                    err = ENOMEM;
                }
            }
            // No thread at all to run it: the call fails and takes nothing.
            if (err && ex->nthreads == 0)
                unlink_job(ex, j);
            else
                err = 0;
        }
        exited = take_exited(ex);
    }
    join_all(exited);
    if (err) {
        f->job = nullptr;
        loop->pools.custom.release(j);
        future_unref(f);
        future_unref(f);
        return err == ENOMEM ? COIO_ENOMEM : COIO_ESYS;
    }
    *out = f;
    return COIO_OK;
}

int executor_set_size(Loop *loop, unsigned n) {
    if (loop->closed) return COIO_ECLOSED;
    Executor *ex = get(loop);
    Worker *exited;
    {
        std::lock_guard<std::mutex> g(ex->mu);
        ex->size = n ? n : default_size();
        if (ex->nthreads > ex->size) {
            ex->cv.notify_all(); // the idle ones exit now, the busy ones when their job ends
        } else {
            // Raised: start threads for the jobs that wait (failures leave them queued: a
            // thread exists whenever jobs are queued).
            std::size_t want = ex->queued > ex->waiting ? ex->queued - ex->waiting : 0;
            for (; want > 0 && ex->nthreads < ex->size; want--) {
                try {
                    if (spawn(ex)) break;
                } catch (const std::bad_alloc &) {
                    break;
                }
            }
        }
        exited = take_exited(ex);
    }
    join_all(exited);
    return COIO_OK;
}

unsigned executor_size(const Loop *loop) {
    if (loop->closed) return 0;
    const Executor *ex = loop->executor;
    return ex ? ex->size : default_size();
}

void executor_close(Loop *loop) {
    Executor *ex = loop->executor;
    loop->executor = nullptr; // for good: the loop reads as closed before any drop runs
    if (!ex) return;
    Job *queued;
    Worker *workers;
    {
        std::lock_guard<std::mutex> g(ex->mu);
        ex->closing = true;
        queued = ex->head;
        for (Job *j = queued; j; j = j->next) {
            j->state = Job::Removed;
            j->result_drop = nullptr;
        }
        ex->head = ex->tail = nullptr;
        ex->queued = 0;
        workers = ex->workers;
        ex->workers = nullptr;
        ex->cv.notify_all();
    }
    // From here user code runs (drops): the loop reads as closed to it, so that nothing can be
    // scheduled on it, nor can it be closed a second time from inside this close.
    loop->closed = true;
    // Jobs not started: fn never runs; their futures are cancelled.
    while (queued) {
        Job *next = queued->next;
        finish(queued);
        queued = next;
    }
    // Running jobs finish; their hand-offs wait in the loop's queue, which loop_close discards
    // next (`finish`: futures cancelled, results and args dropped).
    join_all(workers);
    Job *parked = ex->parked; // no thread left: no lock needed
    ev_async_stop(loop->ev, &ex->wake);
    delete ex;
    while (parked) {
        Job *next = parked->next;
        finish(parked);
        parked = next;
    }
}

} // namespace coio::detail
