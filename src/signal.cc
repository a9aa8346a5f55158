// Signal handlers: asyncio's loop.add_signal_handler / remove_signal_handler.
//
// One ev_signal per signal number that has a handler.  libev catches the signal with its own
// handler, which marks it pending and writes the loop's wakeup pipe (so a loop blocked in its
// poll wakes up, and a signal that arrives while the loop is not polling is seen by the next
// poll).  The watcher's callback then puts the handler's call on the ready queue, as asyncio's
// _handle_signal does with _add_callback_signalsafe: it runs in FIFO order with everything else.
//
// libev attaches a signal to one loop at a time (and aborts on a second), so a process-wide
// registry, under a mutex, records which coio loop owns each signal; another loop gets
// COIO_EBUSY instead.
#include <csignal>
#include <mutex>
#include <new>
#include <unistd.h>

#ifdef __linux__
#include <sys/syscall.h>
#endif

#include "loop.hh"
#include "signal.hh"

namespace coio::detail {

namespace {

// One registration.  Referenced by its slot while it is the signal's handler, and by the ready
// queue entry that will call it (at most one: arrivals before that call coalesce into it).
struct SigHandler {
    coio_callback fn;
    void *arg;
    coio_free_fn drop;
    std::uint32_t refs;
    bool installed; // still the handler of its signal
    bool queued;    // a ready queue entry will call it
    bool running;   // inside fn (a removal then waits for it to return to drop)
};

struct SigSlot {
    ev_signal w;   // first: the libev callback gets &w
    SigHandler *h; // null: no handler (the watcher is stopped)
};

// The process-wide owner of each signal among coio loops.
std::mutex g_mu;
Loop *g_owner[NSIG];
// libev's own signal handler, learnt from the disposition it installs (to recognise signals
// that another libev loop of the process watches).
void (*g_ev_handler)(int);

void unref(SigHandler *h) {
    if (--h->refs == 0) delete h;
}

// The registration ends: its drop runs once.
void end(SigHandler *h) {
    coio_free_fn drop = h->drop;
    h->drop = nullptr;
    if (drop) drop(h->arg);
    unref(h);
}

// h is no longer its signal's handler.  A queued call will not run; from inside its own call
// the drop waits for the call to return.
void retire(SigHandler *h) {
    h->installed = false;
    if (!h->running) end(h);
}

// The ready queue entry: calls the handler (unless it was removed since it was queued).
void run(void *p) {
    auto *h = static_cast<SigHandler *>(p);
    h->queued = false; // an arrival from now on is a new call
    if (!h->installed) return;
    h->running = true;
    try {
        h->fn(h->arg);
    } catch (...) { // a binding's exception: reported by invoke_callback
        h->running = false;
        if (!h->installed) end(h);
        throw;
    }
    h->running = false;
    if (!h->installed) end(h);
}

// The entry's reference (also what ready_discard calls when the loop closes).
void unref_entry(void *p) {
    unref(static_cast<SigHandler *>(p));
}

void on_signal(struct ev_loop *, ev_signal *w, int) {
    auto *slot = reinterpret_cast<SigSlot *>(w);
    auto *loop = static_cast<Loop *>(w->data);
    SigHandler *h = slot->h;
    if (!h || h->queued) return; // the call already queued covers this arrival too
    try {
        ready_push_callback(loop, run, h, unref_entry);
    } catch (const std::bad_alloc &) {
        coio_exception_context ctx = COIO_EXCEPTION_CONTEXT_INIT;
        ctx.message = "signal handler call dropped: out of memory";
        ctx.code = COIO_ENOMEM;
        loop_report(loop, &ctx);
        return;
    }
    h->queued = true;
    h->refs++;
}

bool is_handler(void (*fn)(int)) {
    return fn != SIG_DFL && fn != SIG_IGN;
}

// Another libev loop of this process (not a coio loop) watches signum: starting a watcher
// would make libev abort.  ev_default_loop always watches SIGCHLD; any other is recognised by
// libev's handler in the disposition, once a coio loop has shown what that handler is.
bool foreign_libev_owner(int signum, const struct sigaction &cur) {
    if (signum == SIGCHLD && ev_default_loop_uc_()) return true;
    return g_ev_handler && !(cur.sa_flags & SA_SIGINFO) && cur.sa_handler == g_ev_handler;
}

// Starts the slot's watcher on loop, which must not own signum yet.  False (nothing done) if
// another loop owns it.
bool claim(Loop *loop, SigSlot &slot, int signum) {
    std::lock_guard<std::mutex> g(g_mu);
    if (g_owner[signum]) return false;
    struct sigaction before = {};
    sigaction(signum, nullptr, &before);
    if (foreign_libev_owner(signum, before)) return false;
    g_owner[signum] = loop;
    ev_signal_init(&slot.w, on_signal, signum);
    slot.w.data = loop;
    ev_signal_start(loop->ev, &slot.w);
    if (!g_ev_handler) {
        // With EVFLAG_SIGNALFD libev changes no disposition: nothing to learn then.
        struct sigaction after = {};
        sigaction(signum, nullptr, &after);
        if (!(after.sa_flags & SA_SIGINFO) && is_handler(after.sa_handler) &&
            after.sa_handler != before.sa_handler)
            g_ev_handler = after.sa_handler;
    }
    return true;
}

// Stops the slot's watcher: libev lets go of signum, its disposition is SIG_DFL again (asyncio
// restores SIG_DFL too, default_int_handler for SIGINT being Python's), and any loop may
// claim it.
void release(Loop *loop, SigSlot &slot, int signum) {
    std::lock_guard<std::mutex> g(g_mu);
    ev_signal_stop(loop->ev, &slot.w);
    // libev already did this unless it used signalfd (and then left the disposition alone).
    struct sigaction dfl = {};
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(signum, &dfl, nullptr);
    g_owner[signum] = nullptr;
}

} // namespace

struct SignalHandlers {
    SigSlot slots[NSIG] = {};
};

bool signal_number_valid(int signum) {
    // asyncio's signal.valid_signals(): what sigfillset() includes (glibc keeps two real-time
    // signals for itself).
    if (signum < 1 || signum >= NSIG) return false;
    sigset_t all;
    sigfillset(&all);
    return sigismember(&all, signum) == 1;
}

bool signal_catchable(int signum) {
    return signal_number_valid(signum) && signum != SIGKILL && signum != SIGSTOP;
}

bool signal_on_main_thread() {
#ifdef __linux__
    return syscall(SYS_gettid) == getpid();
#elif defined(__APPLE__) || defined(__FreeBSD__) || defined(__OpenBSD__)
    return pthread_main_np() == 1;
#else
    return true;
#endif
}

int signal_add(Loop *loop, int signum, coio_callback fn, void *arg, coio_free_fn drop) {
    if (!loop->signals) loop->signals = new SignalHandlers;
    auto *h = new SigHandler{fn, arg, drop, 1, true, false, false};
    SigSlot &slot = loop->signals->slots[signum];
    if (!slot.h && !claim(loop, slot, signum)) {
        delete h; // the caller keeps arg
        return COIO_EBUSY;
    }
    SigHandler *old = slot.h;
    slot.h = h;
    if (old) retire(old); // asyncio: the new handler replaces the old one
    return COIO_OK;
}

bool signal_remove(Loop *loop, int signum) {
    if (!loop->signals) return false;
    SigSlot &slot = loop->signals->slots[signum];
    SigHandler *h = slot.h;
    if (!h) return false;
    slot.h = nullptr;
    release(loop, slot, signum);
    retire(h);
    return true;
}

void signals_close(Loop *loop) {
    SignalHandlers *s = loop->signals;
    if (!s) return;
    // The loop is closed already: drops that try to add or remove a handler get COIO_ECLOSED.
    for (int signum = 1; signum < NSIG; signum++) {
        SigSlot &slot = s->slots[signum];
        SigHandler *h = slot.h;
        if (!h) continue;
        slot.h = nullptr;
        release(loop, slot, signum);
        retire(h);
    }
    loop->signals = nullptr;
    delete s;
}

} // namespace coio::detail
