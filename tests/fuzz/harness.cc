// coio op-sequence fuzz harness (libFuzzer entry point LLVMFuzzerTestOneInput).
//
// The input bytes are a program: each op is one byte (its number modulo the op count) followed
// by the bytes its operands take (slot numbers, delays, flags).  Ops act on small pools of
// slots: loops, futures (tasks and combinator results included), handles, sync primitives,
// queues, as_completed iterators and task groups.  Callbacks, task bodies (stackful coio_spawn
// coroutines and coio_task_new steps), drops and the exception handler read further ops from
// the same byte stream, so they call back into the library (nesting is depth-bounded).
// Running a loop is only done at the top level, always with a watchdog timer: every loop is in
// virtual time, so nothing here ever waits on the wall clock.
//
// Every registration's (arg, drop) is a Token: the harness checks that each drop runs exactly
// once (never for a registration that failed), on the loop thread, and that no callback or body
// runs after its drop.  At the end of an input everything is torn down in an order the input
// picks, and the checks run; a violation aborts with a message.  Leaks are ASan/LSan's or
// valgrind's to report; a loop that is never freed also shows up as the drop of its exception
// handler never running.
//
// Only the public API (coio.h) is used.
#include <coio.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>
#include <unordered_map>
#include <vector>

namespace {

// ---- input ------------------------------------------------------------------------------

struct Input {
    const uint8_t *p = nullptr;
    size_t n = 0, i = 0;
    bool done() const { return i >= n; }
    uint8_t u8() { return i < n ? p[i++] : 0; }
    unsigned pick(unsigned m) { return u8() % m; }
    double delay() {
        static const double d[] = {0, 0, 0.001, 0.5, 1, 2, -1, 5};
        return d[u8() & 7];
    }
};

Input in;
int budget;          // ops left for this input (nested ones included)
int g_depth;         // nesting of harness entry points on the current stack
bool g_teardown;     // no new loops once teardown started
bool g_quiet_nested; // last teardown passes: callbacks and drops run no ops
bool g_in_co;        // the current stack is a coroutine's (drops there must not await)
pthread_t g_main;
constexpr int kMaxDepth = 4;     // callbacks and drops
constexpr int kMaxBodyDepth = 6; // task bodies (eager ones nest)
constexpr unsigned kMagic = 0xC0105EEDu;

[[noreturn]] void die(const char *what, int id) {
    std::fprintf(stderr, "coio fuzz: %s (token %d)\n", what, id);
    std::abort();
}

// ---- tokens -------------------------------------------------------------------------------

enum TokKind {
    TK_VALUE,
    TK_PAYLOAD,
    TK_CB,
    TK_DONE,
    TK_STEP,
    TK_CO,
    TK_ITEM,
    TK_EXARG,
    TK_EXRES,
    TK_EXC,
    TK_READER,
    TK_SIGNAL
};

struct Token {
    unsigned magic = kMagic;
    int id = 0;
    int kind = 0;
    bool registered = false; // the registering call succeeded: exactly one drop expected
    bool result_token = false;
    std::atomic<int> drops{0};
    std::atomic<int> produced{0}; // executor result: fn ran and returned it
    Token *res = nullptr;         // executor arg: its result token
    int calls = 0;
    // task state
    coio_timeout *tm = nullptr;
    coio_loop *loop = nullptr;
    int fd = -1;
    int dir = 0;
    bool finished = false;
    coio_future *held = nullptr; // a body's reference across an await, released by its drop
};

std::vector<Token *> toks;

Token *tok_new(int kind) {
    auto *t = new Token;
    t->id = int(toks.size());
    t->kind = kind;
    toks.push_back(t);
    return t;
}

Token *tok_check(void *p) {
    auto *t = static_cast<Token *>(p);
    if (!t || t->magic != kMagic) die("drop/callback with a foreign argument", -1);
    return t;
}

// Marks the outcome of a registering call.
void tok_reg(Token *t, int rc) {
    t->registered = rc == COIO_OK;
}

void run_nested(int maxops);
bool g_trace; // COIO_FUZZ_TRACE=1: one line per op on stderr (for reading a crash input)

void tok_drop(void *p) {
    Token *t = tok_check(p);
    if (!pthread_equal(pthread_self(), g_main)) {
        // Only an executor result may be freed off the loop thread (its thread is unspecified).
        if (t->kind != TK_EXRES) die("drop ran on another thread", t->id);
        if (t->drops.fetch_add(1) + 1 > 1) die("drop ran twice", t->id);
        return;
    }
    if (t->drops.fetch_add(1) + 1 > 1) die("drop ran twice", t->id);
    if (g_trace)
        std::fprintf(stderr, "%*sdrop token %d kind %d\n", 2 * g_depth, "", t->id, t->kind);
    if (coio_future *f = t->held) { // the body was abandoned inside its await
        t->held = nullptr;
        coio_future_release(f);
    }
    run_nested(2);
}

// ---- pools ------------------------------------------------------------------------------

constexpr int NL = 2, NF = 8, NH = 4, NP = 2;
coio_loop *loops[NL];
Token *loop_exc[NL];
coio_future *futs[NF];
coio_handle *hands[NH];
coio_event *evs[NP];
coio_lock *locks[NP];
coio_semaphore *sems[NP];
coio_condition *conds[NP];
coio_barrier *bars[NP];
coio_queue *queues[NP];
coio_as_completed_iter *iters[NP];
coio_task_group *groups[NP];
int sv[2] = {-1, -1};
unsigned char rbuf[2][64];
unsigned char sbuf[96 * 1024];

// Objects a call is working on right now: nested ops do not free them (futures are
// reference-counted and are the library's to keep alive; these are freed explicitly).
const void *busy[64];
int nbusy;
struct Busy {
    explicit Busy(const void *p) {
        if (nbusy < 64) busy[nbusy] = p;
        nbusy++;
    }
    ~Busy() { nbusy--; }
};
bool is_busy(const void *p) {
    for (int i = 0; i < nbusy && i < 64; i++)
        if (busy[i] == p) return true;
    return false;
}

void fut_put(unsigned slot, coio_future *f) {
    coio_future *old = futs[slot];
    futs[slot] = f;
    coio_future_release(old); // may run drops that call back in
}

coio_future *fut_take(unsigned slot) {
    coio_future *f = futs[slot];
    futs[slot] = nullptr;
    return f;
}

coio_loop *pick_loop() {
    uint8_t b = in.u8();
    if ((b & 15) == 15) return nullptr;
    return loops[b & 1];
}

coio_future *pick_fut() {
    uint8_t b = in.u8();
    return futs[b % NF];
}

// Gathers of gathers: cancelling one reaches a shared child once per path to it, as in
// asyncio (each gather cancels each child each time it is reached, and a task child counts
// every cancel), so a deep tree of gathers sharing children takes exponential time.  That
// is a fuzz timeout, not a bug: gathers are nested at most kMaxGatherDepth deep.
constexpr int kMaxGatherDepth = 5;
std::unordered_map<const coio_future *, int> gather_depth; // by address (reuse: harmless)

int depth_of(const coio_future *f) {
    auto it = gather_depth.find(f);
    return it == gather_depth.end() ? 0 : it->second;
}

// ---- execution contexts ---------------------------------------------------------------

enum { CX_TOP, CX_NESTED, CX_CO, CX_STEP };

struct Ctx {
    int kind = CX_TOP;
    coio_future *task = nullptr; // the body's own task (borrowed: the task holds it running)
    Token *st = nullptr;         // the body's token (task state)
    coio_timeout *tm_local = nullptr;
    coio_timeout **tm = &tm_local;
    int outer = 0; // g_depth when the body was (re)entered
    bool outer_co = false;
    // step tasks: the op decided what the step returns
    int step_ret = 0;
    bool step_decided = false;
    bool co_return = false;
    int co_status = COIO_OK;
};

void exec_op(Ctx &c);

void run_ops(Ctx &c, int maxops) {
    for (int k = 0; k < maxops && budget > 0 && !in.done(); k++) {
        budget--;
        exec_op(c);
        if (c.step_decided || c.co_return ) break;
    }
}

void leave_timeout(Ctx &c) {
    if (*c.tm) {
        int rc = coio_timeout_exit(*c.tm, COIO_OK);
        (void)rc;
        *c.tm = nullptr; // freed, or (ESTATE: not ours to leave) the task's to free
    }
}

void run_nested(int maxops) {
    if (g_quiet_nested || g_depth >= kMaxDepth || budget <= 0 || in.done()) return;
    int saved = g_depth;
    g_depth = saved + 1;
    Ctx c;
    c.kind = CX_NESTED;
    run_ops(c, 1 + int(in.pick(unsigned(maxops))));
    leave_timeout(c);
    g_depth = saved;
}

// ---- callbacks ----------------------------------------------------------------------------

void check_live(Token *t, const char *what) {
    if (t->drops.load() != 0) die(what, t->id);
    if (!pthread_equal(pthread_self(), g_main)) die("callback on another thread", t->id);
}

void cb_soon(void *arg) {
    Token *t = tok_check(arg);
    check_live(t, "callback ran after its drop");
    t->calls++;
    run_nested(3);
}

void cb_done(coio_future *f, void *arg) {
    Token *t = tok_check(arg);
    check_live(t, "done callback ran after its drop");
    if (!f) die("done callback without its future", t->id);
    if (!coio_future_done(f)) die("done callback on a pending future", t->id);
    t->calls++;
    run_nested(3);
}

void cb_reader(void *arg) {
    Token *t = tok_check(arg);
    check_live(t, "fd callback ran after its drop");
    // Level triggered: a reader that stays would keep the loop busy forever.
    if (++t->calls >= 3 || budget <= 0 || in.done()) {
        if (t->dir == 0)
            coio_remove_reader(t->loop, t->fd);
        else
            coio_remove_writer(t->loop, t->fd);
        return;
    }
    run_nested(2);
}

void cb_signal(void *arg) {
    Token *t = tok_check(arg);
    check_live(t, "signal callback ran after its drop");
}

void exc_handler(coio_loop *, const coio_exception_context *ctx, void *arg) {
    Token *t = tok_check(arg);
    check_live(t, "exception handler ran after its drop");
    if (!ctx || !ctx->message) die("exception context without a message", t->id);
    // The context's future is borrowed: the header says a reference may be taken.
    if (ctx->future && !g_quiet_nested && budget > 0 && !in.done() && (in.u8() & 7) == 0) {
        budget--;
        fut_put(in.pick(NF), coio_future_ref(ctx->future));
    }
    run_nested(2);
}

void *work_fn(void *arg) {
    // Another thread: touch nothing but atomics.
    auto *t = static_cast<Token *>(arg);
    if (t->magic != kMagic || !t->res) std::abort();
    t->res->produced.store(1);
    return t->res;
}

void wd_stop(void *arg) {
    coio_loop_stop(static_cast<coio_loop *>(arg));
}

// ---- task bodies ---------------------------------------------------------------------------

// A stackful body is entered (started or resumed) from whatever stack the loop runs on, and
// leaves it (awaits or returns) back to that stack: the nesting state is saved and restored
// at each switch.
void co_enter(Ctx &c) {
    c.outer = g_depth;
    c.outer_co = g_in_co;
    g_depth = c.outer + 1;
    g_in_co = true;
}

void co_leave(Ctx &c) {
    g_depth = c.outer;
    g_in_co = c.outer_co;
}

int co_body(coio_future *self, void *arg) {
    Token *t = tok_check(arg);
    check_live(t, "coroutine body ran after its drop");
    Ctx c;
    c.kind = CX_CO;
    c.task = self;
    c.st = t;
    c.tm = &t->tm;
    co_enter(c);
    // Eager bodies started from bodies nest on one stack: past kMaxBodyDepth they do nothing.
    while (g_depth <= kMaxBodyDepth && budget > 0 && !in.done() && !c.co_return ) {
        budget--;
        exec_op(c);
    }
    leave_timeout(c);
    co_leave(c);
    t->finished = true;
    return c.co_return ? c.co_status : COIO_OK;
}

int step_body(coio_future *task, coio_future *awaited, int resume_status, void *arg) {
    Token *t = tok_check(arg);
    check_live(t, "step ran after its drop");
    if (t->finished) die("step ran after the body finished", t->id);
    (void)awaited;
    (void)resume_status;
    Ctx c;
    c.kind = CX_STEP;
    c.task = task;
    c.st = t;
    c.tm = &t->tm;
    int saved = g_depth;
    g_depth = saved + 1;
    if (g_depth <= kMaxBodyDepth) run_ops(c, 1 + int(in.pick(4)));
    int ret;
    if (c.step_decided) {
        ret = c.step_ret;
    } else if (budget <= 0 || in.done()) {
        ret = COIO_OK;
    } else {
        ret = (in.u8() & 3) ? COIO_STEP_YIELD : COIO_OK;
    }
    if (ret != COIO_STEP_YIELD && ret != COIO_STEP_AWAIT) {
        leave_timeout(c);
        t->finished = true;
    }
    g_depth = saved;
    return ret;
}

// Await in a stackful body: the body leaves the stack it was entered from and is entered
// again from wherever the loop resumes it.
int co_await (Ctx &c, coio_future *f) {
    co_leave(c);
    int rc = coio_await(f, nullptr);
    co_enter(c);
    return rc;
}

// A bare yield in a stackful body (coio_co_sleep(0)), left and entered again as co_await is.
int co_yield_once(Ctx &c) {
    co_leave(c);
    int rc = coio_co_sleep(0);
    co_enter(c);
    if (rc != COIO_OK && rc != COIO_ECANCELLED && rc != COIO_ENOTSUP)
        die("coio_co_sleep(0) in a body failed", rc);
    return rc;
}

// ---- sockets ------------------------------------------------------------------------------

bool sock_ready() {
    if (sv[0] >= 0) return true;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) {
        sv[0] = sv[1] = -1;
        return false;
    }
    return true;
}

// ---- ops -------------------------------------------------------------------------------

void new_loop(unsigned i) {
    if (loops[i] || g_teardown) return;
    coio_loop_options o = COIO_LOOP_OPTIONS_INIT;
    o.flags = COIO_LOOP_VIRTUAL_TIME | (i == 1 ? COIO_LOOP_DEBUG : 0u);
    coio_loop *l = nullptr;
    if (coio_loop_new(&l, &o) != COIO_OK) return;
    Token *t = tok_new(TK_EXC);
    tok_reg(t, coio_loop_set_exception_handler(l, exc_handler, t, tok_drop));
    coio_loop_set_executor_size(l, 1);
    loops[i] = l;
    loop_exc[i] = t;
}

void release_loop(unsigned i) {
    coio_loop *l = loops[i];
    if (!l || is_busy(l)) return;
    Busy b(l);
    loops[i] = nullptr; // the drops release runs must not find it (it may be freed meanwhile)
    if (coio_loop_release(l) != COIO_OK && !loops[i]) loops[i] = l;
}

// Runs loop i from the top level, bounded by a watchdog.
void run_loop(unsigned i, int how) {
    coio_loop *l = loops[i];
    if (!l || coio_loop_is_closed(l)) return;
    Busy b(l);
    coio_handle *wd = nullptr;
    if (coio_call_later(l, 100.0, wd_stop, l, nullptr, &wd) != COIO_OK) return;
    if (how == 0) {
        coio_future *f = pick_fut();
        if (f) {
            coio_future_ref(f); // the caller's own reference across the run
            coio_loop_run_until_complete(l, f);
            coio_future_release(f);
        }
    } else if (how == 1) {
        coio_loop_run_forever(l);
    } else {
        coio_loop_stop(l);
        coio_loop_run_forever(l); // one pass
    }
    coio_handle_cancel(wd);
    coio_handle_release(wd);
}

coio_task_options task_opts(Token *t, bool co) {
    coio_task_options o = COIO_TASK_OPTIONS_INIT;
    uint8_t b = in.u8();
    if (b & 1) o.flags = COIO_TASK_EAGER;
    if (b & 2) o.name = "fz";
    if (co) {
        o.stack_size = 256 * 1024;
        o.drop = tok_drop;
    }
    (void)t;
    return o;
}

void op_spawn(Ctx &, int kind, coio_task_group *g) {
    coio_loop *l = pick_loop();
    unsigned slot = in.pick(NF);
    coio_future *task = nullptr;
    int rc;
    if (kind == 0) {
        Token *t = tok_new(TK_CO);
        coio_task_options o = task_opts(t, true);
        t->registered = true; // decided below
        if (g) {
            Busy b(g);
            rc = coio_task_group_spawn(g, co_body, t, &o, &task);
        } else {
            rc = coio_spawn(l, co_body, t, &o, &task);
        }
        tok_reg(t, rc);
    } else {
        Token *t = tok_new(TK_STEP);
        coio_task_options o = task_opts(t, false);
        if (g)
            rc = coio_task_group_task_new(g, step_body, t, tok_drop, &o, &task);
        else
            rc = coio_task_new(l, step_body, t, tok_drop, &o, &task);
        tok_reg(t, rc);
    }
    if (rc == COIO_OK) fut_put(slot, task);
}

void op_misuse(Ctx &c) {
    // NULL handles, bad values: each must be a clean status, never a crash, never a drop.
    Token *t = tok_new(TK_CB);
    int rc = 0;
    coio_future *out = nullptr;
    switch (in.pick(24)) {
    case 0:
        rc = coio_call_soon(nullptr, cb_soon, t, tok_drop, nullptr);
        break;
    case 1:
        rc = coio_future_set_result(nullptr, t, tok_drop);
        break;
    case 2:
        rc = coio_future_add_done_callback(nullptr, cb_done, t, tok_drop);
        break;
    case 3:
        rc = coio_call_later(loops[0], NAN, cb_soon, t, tok_drop, nullptr);
        break;
    case 4:
        rc = coio_call_at(loops[1], INFINITY, cb_soon, t, tok_drop, nullptr);
        break;
    case 5:
        rc = coio_spawn(nullptr, co_body, t, nullptr, &out);
        break;
    case 6:
        rc = coio_task_new(loops[0], nullptr, t, tok_drop, nullptr, &out);
        break;
    case 7:
        rc = coio_queue_put_nowait(nullptr, t, tok_drop);
        break;
    case 8:
        rc = coio_run_in_executor(loops[0], nullptr, t, tok_drop, nullptr, &out);
        break;
    case 9:
        rc = coio_future_set_error_payload(nullptr, 1, "x", t, tok_drop);
        break;
    // Only where no body runs on this stack: elsewhere these would really await.
    case 10:
        rc = c.kind == CX_TOP ? coio_await(pick_fut(), nullptr) : -1;
        break;
    case 11: {
        coio_future *a = pick_fut(), *b = pick_fut();
        rc = c.kind == CX_TOP ? coio_step_await(a, b) : -1;
        break;
    }
    case 12:
        rc = coio_gather(loops[0], nullptr, 2, 0, &out);
        break;
    case 13:
        rc = coio_wait(loops[1], nullptr, 0, -1, COIO_ALL_COMPLETED, &out);
        break;
    case 14:
        rc = coio_wait_for(nullptr, 1.0, &out);
        break;
    case 15:
        rc = coio_shield(nullptr, &out);
        break;
    case 16:
        rc = coio_sleep(loops[0], NAN, &out);
        break;
    case 17:
        rc = coio_timeout_enter(nullptr, 1.0, nullptr);
        break;
    case 18:
        rc = coio_task_group_spawn(nullptr, co_body, t, nullptr, nullptr);
        break;
    case 19:
        rc = coio_add_reader(loops[0], -1, cb_soon, t, tok_drop);
        break;
    case 20:
        rc = coio_queue_new(loops[0], 7, 0, nullptr);
        break;
    case 21:
        rc = coio_barrier_new(loops[1], 0, nullptr);
        break;
    case 22:
        rc = c.kind == CX_TOP ? coio_co_sendall(-1, sbuf, 1, nullptr) : -1;
        break;
    default:
        rc = coio_loop_run_until_complete(nullptr, nullptr);
        break;
    }
    if (rc >= 0) die("misuse accepted", t->id);
    if (out) die("misuse wrote an out-parameter", t->id);
    t->registered = false;
}

void exec_op(Ctx &c) {
    uint8_t op = in.u8();
    if (g_trace)
        std::fprintf(stderr, "%*s[%zu] op %u (ctx %d)\n", 2 * g_depth, "", in.i - 1, op % 96u,
                     c.kind);
    switch (op % 96) {
    // ---- loops
    case 0:
        new_loop(in.pick(NL));
        break;
    case 1: {
        coio_loop *l = pick_loop();
        Busy b(l);
        coio_loop_close(l); // EBUSY while running; drops may call back in
        break;
    }
    case 2:
        release_loop(in.pick(NL));
        break;
    case 3:
    case 4: {
        unsigned i = in.pick(NL);
        int how = int(in.pick(3));
        if (c.kind == CX_TOP) {
            run_loop(i, how);
        } else if (loops[i] && (coio_loop_is_running(loops[i]) || coio_loop_is_closed(loops[i]))) {
            // Nested: EBUSY / ECLOSED (a loop that is neither would really run, unguarded).
            if (coio_loop_run_forever(loops[i]) == COIO_OK) die("nested run accepted", -1);
        }
        break;
    }
    case 5:
        coio_loop_stop(pick_loop());
        break;
    case 6: {
        coio_loop *l = pick_loop();
        coio_loop_set_debug(l, in.u8() & 1);
        break;
    }
    case 7: {
        coio_loop *l = pick_loop();
        (void)coio_loop_time(l);
        (void)coio_loop_is_running(l);
        (void)coio_loop_get_debug(l);
        coio_future *ts[4] = {};
        long n = coio_loop_all_tasks(l, ts, 4);
        for (long k = 0; k < n && k < 4; k++)
            coio_future_release(ts[k]);
        break;
    }
    // ---- handles
    case 8:
    case 9:
    case 10: {
        coio_loop *l = pick_loop();
        Token *t = tok_new(TK_CB);
        unsigned slot = in.pick(NH + 1);
        coio_handle *h = nullptr;
        coio_handle **hp = slot < NH ? &h : nullptr;
        int rc;
        if (op % 96 == 8)
            rc = coio_call_soon(l, cb_soon, t, tok_drop, hp);
        else if (op % 96 == 9)
            rc = coio_call_later(l, in.delay(), cb_soon, t, tok_drop, hp);
        else
            rc = coio_call_at(l, in.delay() + 1, cb_soon, t, tok_drop, hp);
        tok_reg(t, rc);
        if (rc == COIO_OK && h) {
            coio_handle *old = hands[slot];
            hands[slot] = h;
            coio_handle_release(old);
        }
        break;
    }
    case 11: {
        coio_loop *l = pick_loop();
        Token *t = tok_new(TK_CB);
        tok_reg(t, coio_call_soon_threadsafe(l, cb_soon, t, tok_drop));
        break;
    }
    case 12: {
        coio_handle *h = hands[in.pick(NH)];
        if (h) coio_handle_cancel(h);
        break;
    }
    case 13: {
        unsigned s = in.pick(NH);
        coio_handle *h = hands[s];
        hands[s] = nullptr;
        coio_handle_release(h);
        break;
    }
    // ---- futures
    case 14:
    case 15: {
        coio_future *f = nullptr;
        unsigned slot = in.pick(NF);
        if (coio_future_new(pick_loop(), &f) == COIO_OK) fut_put(slot, f);
        break;
    }
    case 16: {
        unsigned a = in.pick(NF), b = in.pick(NF);
        fut_put(b, coio_future_ref(futs[a]));
        break;
    }
    case 17:
    case 18:
        fut_put(in.pick(NF), nullptr);
        break;
    case 19: {
        coio_future *f = pick_fut();
        Token *t = tok_new(TK_VALUE);
        coio_free_fn d = (in.u8() & 3) ? tok_drop : nullptr;
        int done = f && coio_future_done(f);
        int rc = coio_future_set_result(f, t, d);
        tok_reg(t, rc);
        if (t->registered && !f) die("set_result on NULL accepted", t->id);
        if (done && rc != COIO_ESTATE && rc != COIO_ECLOSED) // closed: either answer
            die("set_result on a done future is accepted", rc);
        if (!d) t->registered = false; // nothing to drop
        break;
    }
    case 20: {
        static const char *msgs[] = {nullptr, "boom", ""};
        coio_future *f = pick_fut();
        int code = int(in.pick(20)) - 5;
        coio_future_set_error(f, code, msgs[in.pick(3)]);
        break;
    }
    case 21: {
        Token *t = tok_new(TK_PAYLOAD);
        coio_future *f = pick_fut();
        tok_reg(t, coio_future_set_error_payload(f, COIO_EFAILED - int(in.pick(3)), "payload", t,
                                                 tok_drop));
        break;
    }
    case 22:
    case 23: {
        static const char *msgs[] = {nullptr, "stop", "a longer cancellation message"};
        coio_future *f = pick_fut();
        int done = f && coio_future_done(f);
        int rc = coio_future_cancel(f, msgs[in.pick(3)]);
        if (done && rc != 0) die("cancel of a done future is not 0", rc);
        if (!f && rc != COIO_EINVAL) die("cancel of NULL is not EINVAL", rc);
        break;
    }
    case 24: {
        coio_future *f = pick_fut();
        void *v = nullptr;
        int code = 0;
        const char *msg = nullptr;
        size_t n = 0;
        int err = 0;
        int pending = f && !coio_future_done(f);
        int rc = coio_future_result(f, (in.u8() & 1) ? &v : nullptr);
        if (pending && rc != COIO_ESTATE) die("result of a pending future is not ESTATE", rc);
        if (!pending && f && rc == COIO_ESTATE) die("result of a done future is ESTATE", rc);
        if (!f && rc != COIO_EINVAL) die("result of NULL is not EINVAL", rc);
        coio_future_error(f, &code, &msg);
        coio_future_error_payload(f, &v);
        coio_future_result_size(f, &n);
        coio_future_errno(f, &err);
        (void)coio_future_done(f);
        (void)coio_future_cancelled(f);
        (void)coio_future_loop(f);
        (void)coio_future_is_task(f);
        break;
    }
    case 25: {
        coio_future *f = pick_fut();
        void *v = nullptr;
        coio_free_fn d = nullptr;
        int pending = f && !coio_future_done(f);
        int rc = coio_future_take_result(f, &v, &d);
        // Its man page: ESTATE for a pending future, also on a closed loop (issue 11 #9).
        if (pending && rc != COIO_ESTATE) die("take_result of a pending future is not ESTATE", rc);
        if (rc == COIO_OK && d) d(v); // now ours to drop
        break;
    }
    case 26:
    case 27: {
        coio_future *f = pick_fut();
        Token *t = tok_new(TK_DONE);
        tok_reg(t, coio_future_add_done_callback(f, cb_done, t, tok_drop));
        break;
    }
    case 28: {
        // Remove a done callback registered earlier (maybe on another future, maybe gone).
        coio_future *f = pick_fut();
        Token *pickt = nullptr;
        unsigned want = in.u8();
        for (size_t k = toks.size(); k-- > 0;) {
            if (toks[k]->kind == TK_DONE && want-- == 0) {
                pickt = toks[k];
                break;
            }
        }
        if (!pickt) {
            for (size_t k = toks.size(); k-- > 0;)
                if (toks[k]->kind == TK_DONE) {
                    pickt = toks[k];
                    break;
                }
        }
        if (pickt) coio_future_remove_done_callback(f, cb_done, pickt);
        break;
    }
    // ---- tasks
    case 29:
    case 30:
        op_spawn(c, 0, nullptr);
        break;
    case 31:
    case 32:
        op_spawn(c, 1, nullptr);
        break;
    case 33: {
        coio_future *f = pick_fut();
        (void)coio_task_cancelling(f);
        if (in.u8() & 1) coio_task_uncancel(f);
        (void)coio_task_name(f);
        if (in.u8() & 1) coio_task_set_name(f, "renamed");
        (void)coio_current_task(pick_loop());
        break;
    }
    case 34: {
        coio_future *f = nullptr;
        unsigned slot = in.pick(NF);
        coio_loop *l = pick_loop();
        if (coio_sleep(l, in.delay(), &f) == COIO_OK) fut_put(slot, f);
        break;
    }
    // ---- body-only ops: await / step decisions / returns
    case 35:
    case 36:
    case 37: {
        coio_future *f = pick_fut();
        if (c.kind == CX_CO && op % 96 == 37) {
            co_yield_once(c); // coio_co_sleep(0): a bare yield, no future
        } else if (c.kind == CX_CO) {
            co_await (c, f); // f may be freed meanwhile: not touched afterwards
        } else if (c.kind == CX_STEP) {
            if (coio_step_await(c.task, f) == COIO_OK) {
                c.step_ret = COIO_STEP_AWAIT;
                c.step_decided = true;
            }
        } else if (!g_in_co) {
            if (coio_await(f, nullptr) >= 0) die("await outside a coroutine accepted", -1);
        }
        break;
    }
    case 38: {
        static const int st[] = {COIO_OK,
                                 COIO_ECANCELLED,
                                 COIO_EFAILED,
                                 COIO_ETIMEDOUT,
                                 COIO_STEP_YIELD,
                                 COIO_STEP_AWAIT,
                                 7,
                                 COIO_EINVAL};
        int s = st[in.pick(8)];
        if (c.kind == CX_CO) {
            c.co_return = true;
            c.co_status = s;
        } else if (c.kind == CX_STEP) {
            c.step_ret = s;
            c.step_decided = true;
        }
        break;
    }
    case 39: {
        // A body sets its own outcome (ESTATE from anywhere else).
        coio_future *self = c.task ? c.task : pick_fut();
        Token *t = tok_new(TK_VALUE);
        if (in.u8() & 1)
            tok_reg(t, coio_future_set_result(self, t, tok_drop));
        else
            tok_reg(t, coio_future_set_error_payload(self, 3, "own", t, tok_drop));
        break;
    }
    case 40: {
        // Timeout scopes (only the body that entered one touches it).
        if (!*c.tm) {
            coio_loop *l = c.task ? coio_future_loop(c.task) : pick_loop();
            coio_timeout *tm = nullptr;
            int rc = (in.u8() & 1) ? coio_timeout_enter(l, in.delay(), &tm)
                                   : coio_timeout_enter_at(l, in.delay() + 1, &tm);
            if (rc == COIO_OK) *c.tm = tm;
        } else {
            double w = 0;
            switch (in.pick(4)) {
            case 0:
                coio_timeout_reschedule(*c.tm, in.delay());
                break;
            case 1:
                coio_timeout_when(*c.tm, &w);
                (void)coio_timeout_expired(*c.tm);
                break;
            default: {
                static const int st[] = {COIO_OK, COIO_ECANCELLED, COIO_EFAILED, 5};
                int rc = coio_timeout_exit(*c.tm, st[in.pick(4)]);
                if (rc != COIO_ESTATE) *c.tm = nullptr;
                break;
            }
            }
        }
        break;
    }
    case 41: {
        // Task groups: created in a body; spawned into from anywhere; exited by the parent.
        unsigned gi = in.pick(NP);
        if (!groups[gi]) {
            coio_task_group *g = nullptr;
            if (coio_task_group_new(c.task ? coio_future_loop(c.task) : pick_loop(), &g) == COIO_OK)
                groups[gi] = g;
        } else {
            unsigned slot = in.pick(NF);
            static const int st[] = {COIO_OK, COIO_ECANCELLED, COIO_EFAILED, 1};
            coio_future *out = nullptr;
            coio_task_group *g = groups[gi];
            int rc;
            {
                Busy b(g);
                rc = coio_task_group_exit(g, st[in.pick(4)], &out);
            }
            if (rc == COIO_OK) {
                if (c.kind == CX_CO && (in.u8() & 1)) {
                    // A reference of the body's own across the await, kept where the body's
                    // drop finds it: a body abandoned at loop close never returns from the
                    // await, and a reference left on its stack would leak the exit task and
                    // its loop (coio_spawn(3), CLOSING THE LOOP).
                    c.st->held = coio_future_ref(out);
                    fut_put(slot, out);
                    co_await (c, out);
                    coio_future_release(c.st->held);
                    c.st->held = nullptr;
                } else {
                    fut_put(slot, out);
                }
            }
        }
        break;
    }
    case 42:
    case 43: {
        coio_task_group *g = groups[in.pick(NP)];
        op_spawn(c, int(in.pick(2)), g ? g : nullptr);
        break;
    }
    case 44: {
        unsigned gi = in.pick(NP);
        coio_task_group *g = groups[gi];
        if (in.u8() & 1) {
            coio_future *errs[3] = {};
            long n = coio_task_group_errors(g, errs, 3);
            for (long k = 0; k < n && k < 3; k++)
                coio_future_release(errs[k]);
        } else if (g) {
            groups[gi] = nullptr;
            coio_task_group_free(g); // allowed from anywhere (#6: even from an eager child)
        }
        break;
    }
    // ---- combinators
    case 45:
    case 46: {
        coio_future *fs[4];
        unsigned n = in.pick(5);
        for (unsigned k = 0; k < n; k++)
            fs[k] = pick_fut();
        coio_loop *l = pick_loop();
        unsigned slot = in.pick(NF);
        coio_future *out = nullptr;
        int ret_exc = in.u8() & 1;
        int depth = 0;
        for (unsigned k = 0; k < n; k++)
            depth = std::max(depth, depth_of(fs[k]) + 1);
        if (depth > kMaxGatherDepth) break;
        if (coio_gather(l, fs, n, ret_exc, &out) == COIO_OK) {
            gather_depth[out] = depth;
            fut_put(slot, out);
        }
        break;
    }
    case 47: {
        coio_future *fs[4];
        unsigned n = in.pick(5);
        for (unsigned k = 0; k < n; k++)
            fs[k] = pick_fut();
        coio_loop *l = pick_loop();
        unsigned slot = in.pick(NF);
        double to = in.delay();
        coio_future *out = nullptr;
        if (coio_wait(l, fs, n, to, 1 + int(in.pick(3)), &out) == COIO_OK) fut_put(slot, out);
        break;
    }
    case 48: {
        coio_future *fs[4];
        unsigned n = in.pick(5);
        for (unsigned k = 0; k < n; k++)
            fs[k] = pick_fut();
        unsigned i = in.pick(NP);
        if (iters[i] || is_busy(iters[i])) break;
        coio_as_completed_iter *it = nullptr;
        coio_loop *l = pick_loop();
        if (coio_as_completed(l, fs, n, in.delay(), &it) == COIO_OK) iters[i] = it;
        break;
    }
    case 49: {
        unsigned i = in.pick(NP);
        unsigned slot = in.pick(NF);
        coio_as_completed_iter *it = iters[i];
        if (in.u8() & 1) {
            if (!it) break;
            Busy b(it);
            coio_future *nx = nullptr;
            if (coio_as_completed_next(it, &nx) == COIO_OK) fut_put(slot, nx);
        } else if (it && !is_busy(it)) {
            iters[i] = nullptr;
            coio_as_completed_free(it);
        }
        break;
    }
    case 50:
    case 51: {
        coio_future *f = pick_fut();
        unsigned slot = in.pick(NF);
        coio_future *out = nullptr;
        if (coio_wait_for(f, in.delay(), &out) == COIO_OK) fut_put(slot, out);
        break;
    }
    case 52: {
        coio_future *f = pick_fut();
        unsigned slot = in.pick(NF);
        coio_future *out = nullptr;
        if (coio_shield(f, &out) == COIO_OK) fut_put(slot, out);
        break;
    }
    // ---- event / lock / semaphore / condition / barrier
    case 53: {
        unsigned i = in.pick(NP);
        if (evs[i]) {
            if (is_busy(evs[i])) break;
            coio_event *e = evs[i];
            evs[i] = nullptr;
            coio_event_free(e);
        } else {
            coio_event_new(pick_loop(), &evs[i]);
        }
        break;
    }
    case 54: {
        coio_event *e = evs[in.pick(NP)];
        Busy b(e);
        switch (in.pick(3)) {
        case 0:
            coio_event_set(e);
            break;
        case 1:
            coio_event_clear(e);
            break;
        default: {
            unsigned slot = in.pick(NF);
            coio_future *f = nullptr;
            if (coio_event_wait(e, &f) == COIO_OK) fut_put(slot, f);
        }
        }
        break;
    }
    case 55: {
        unsigned i = in.pick(NP);
        if (locks[i]) {
            if (is_busy(locks[i])) break;
            coio_lock *l = locks[i];
            locks[i] = nullptr;
            coio_lock_free(l);
        } else {
            coio_lock_new(pick_loop(), &locks[i]);
        }
        break;
    }
    case 56: {
        coio_lock *l = locks[in.pick(NP)];
        Busy b(l);
        if (in.u8() & 1) {
            coio_lock_release(l);
        } else {
            unsigned slot = in.pick(NF);
            coio_future *f = nullptr;
            if (coio_lock_acquire(l, &f) == COIO_OK) fut_put(slot, f);
        }
        break;
    }
    case 57: {
        unsigned i = in.pick(NP);
        if (sems[i]) {
            if (is_busy(sems[i])) break;
            coio_semaphore *s = sems[i];
            sems[i] = nullptr;
            coio_semaphore_free(s);
        } else {
            coio_loop *l = pick_loop();
            unsigned v = in.pick(3);
            coio_semaphore_new(l, v, in.u8() & 1, &sems[i]);
        }
        break;
    }
    case 58: {
        coio_semaphore *s = sems[in.pick(NP)];
        Busy b(s);
        if (in.u8() & 1) {
            coio_semaphore_release(s);
        } else {
            unsigned slot = in.pick(NF);
            coio_future *f = nullptr;
            if (coio_semaphore_acquire(s, &f) == COIO_OK) fut_put(slot, f);
        }
        (void)coio_semaphore_value(s);
        (void)coio_semaphore_locked(s);
        break;
    }
    case 59: {
        unsigned i = in.pick(NP);
        if (conds[i]) {
            if (is_busy(conds[i])) break;
            coio_condition *cd = conds[i];
            conds[i] = nullptr;
            coio_condition_free(cd);
        } else {
            coio_lock *l = (in.u8() & 1) ? locks[in.pick(NP)] : nullptr;
            if (l && is_busy(l)) break;
            coio_condition_new(pick_loop(), l, &conds[i]);
        }
        break;
    }
    case 60: {
        coio_condition *cd = conds[in.pick(NP)];
        Busy b(cd);
        switch (in.pick(5)) {
        case 0:
            coio_condition_notify(cd, in.pick(3));
            break;
        case 1:
            coio_condition_notify_all(cd);
            break;
        case 2: {
            coio_lock *l = coio_condition_lock(cd);
            unsigned slot = in.pick(NF);
            coio_future *f = nullptr;
            if (l && coio_lock_acquire(l, &f) == COIO_OK) fut_put(slot, f);
            break;
        }
        case 3:
            coio_lock_release(coio_condition_lock(cd));
            break;
        default: {
            unsigned slot = in.pick(NF);
            coio_future *f = nullptr;
            if (coio_condition_wait(cd, &f) == COIO_OK) fut_put(slot, f);
        }
        }
        break;
    }
    case 61: {
        unsigned i = in.pick(NP);
        if (bars[i]) {
            if (is_busy(bars[i])) break;
            coio_barrier *b = bars[i];
            bars[i] = nullptr;
            coio_barrier_free(b);
        } else {
            coio_loop *l = pick_loop();
            coio_barrier_new(l, 1 + in.pick(3), &bars[i]);
        }
        break;
    }
    case 62: {
        coio_barrier *br = bars[in.pick(NP)];
        Busy b(br);
        switch (in.pick(4)) {
        case 0:
            coio_barrier_reset(br);
            break;
        case 1:
            coio_barrier_abort(br);
            break;
        default: {
            unsigned slot = in.pick(NF);
            coio_future *f = nullptr;
            if (coio_barrier_wait(br, &f) == COIO_OK) fut_put(slot, f);
        }
        }
        (void)coio_barrier_n_waiting(br);
        (void)coio_barrier_broken(br);
        (void)coio_barrier_parties(br);
        break;
    }
    // ---- queues
    case 63: {
        unsigned i = in.pick(NP);
        if (queues[i]) {
            if (is_busy(queues[i])) break;
            coio_queue *q = queues[i];
            queues[i] = nullptr;
            coio_queue_free(q);
        } else {
            coio_loop *l = pick_loop();
            int kind = int(in.pick(3));
            coio_queue_new(l, kind, in.pick(3), &queues[i]);
        }
        break;
    }
    case 64:
    case 65: {
        coio_queue *q = queues[in.pick(NP)];
        Busy b(q);
        Token *t = tok_new(TK_ITEM);
        unsigned slot = in.pick(NF);
        coio_future *f = nullptr;
        int rc;
        switch (in.pick(4)) {
        case 0:
            rc = coio_queue_put(q, t, tok_drop, &f);
            break;
        case 1:
            rc = coio_queue_put_priority(q, double(in.pick(4)), t, tok_drop, &f);
            break;
        case 2:
            rc = coio_queue_put_nowait(q, t, tok_drop);
            break;
        default:
            rc = coio_queue_put_priority_nowait(q, double(in.pick(4)), t, tok_drop);
            break;
        }
        tok_reg(t, rc);
        if (f) fut_put(slot, f);
        break;
    }
    case 66:
    case 67: {
        coio_queue *q = queues[in.pick(NP)];
        Busy b(q);
        unsigned slot = in.pick(NF);
        if (in.u8() & 1) {
            coio_future *f = nullptr;
            if (coio_queue_get(q, &f) == COIO_OK) fut_put(slot, f);
        } else {
            void *v = nullptr;
            coio_free_fn d = nullptr;
            if (coio_queue_get_nowait(q, &v, &d) == COIO_OK && d) d(v);
        }
        break;
    }
    case 68: {
        coio_queue *q = queues[in.pick(NP)];
        Busy b(q);
        switch (in.pick(4)) {
        case 0:
            coio_queue_task_done(q);
            break;
        case 1: {
            unsigned slot = in.pick(NF);
            coio_future *f = nullptr;
            if (coio_queue_join(q, &f) == COIO_OK) fut_put(slot, f);
            break;
        }
        case 2:
            coio_queue_shutdown(q, in.u8() & 1);
            break;
        default:
            (void)coio_queue_size(q);
            (void)coio_queue_empty(q);
            (void)coio_queue_full(q);
            (void)coio_queue_maxsize(q);
        }
        break;
    }
    // ---- sockets
    case 69:
    case 70: {
        if (!sock_ready()) break;
        coio_loop *l = pick_loop();
        int side = in.u8() & 1;
        unsigned slot = in.pick(NF);
        coio_future *f = nullptr;
        int rc;
        switch (in.pick(6)) {
        case 0:
            rc = coio_sock_recv(l, sv[side], 1 + in.pick(32), &f);
            break;
        case 1:
            rc = coio_sock_recv_into(l, sv[side], rbuf[side], sizeof rbuf[side], &f);
            break;
        case 2:
            rc = coio_sock_sendall(l, sv[side], sbuf, (in.u8() & 1) ? sizeof sbuf : 5, &f);
            break;
        case 3:
            rc = coio_wait_readable(l, sv[side], &f);
            break;
        case 4:
            rc = coio_wait_writable(l, sv[side], &f);
            break;
        default:
            rc = coio_sock_accept(l, sv[side], &f);
            break;
        }
        if (rc == COIO_OK) fut_put(slot, f);
        break;
    }
    case 71: {
        if (!sock_ready()) break;
        coio_loop *l = pick_loop();
        int side = in.u8() & 1;
        int dir = in.u8() & 1;
        Token *t = tok_new(TK_READER);
        t->loop = l;
        t->fd = sv[side];
        t->dir = dir;
        int rc = dir ? coio_add_writer(l, sv[side], cb_reader, t, tok_drop)
                     : coio_add_reader(l, sv[side], cb_reader, t, tok_drop);
        tok_reg(t, rc);
        break;
    }
    case 72: {
        if (!sock_ready()) break;
        coio_loop *l = pick_loop();
        int side = in.u8() & 1;
        if (in.u8() & 1)
            coio_remove_reader(l, sv[side]);
        else
            coio_remove_writer(l, sv[side]);
        break;
    }
    case 73: {
        if (!sock_ready()) break;
        int side = in.u8() & 1;
        if (c.kind == CX_CO) {
            size_t n = 0;
            int err = 0;
            bool recv = in.u8() & 1;
            size_t len = (in.u8() & 1) ? sizeof sbuf : 3;
            co_leave(c);
            if (recv)
                coio_co_recv_into(sv[side], rbuf[side], sizeof rbuf[side], &n, &err);
            else
                coio_co_sendall(sv[side], sbuf, len, &err);
            co_enter(c);
        } else {
            // Plain (non-blocking) traffic from outside the loop.
            ssize_t r = (in.u8() & 1) ? write(sv[side], "abcdef", 1 + in.pick(6))
                                      : read(sv[side], rbuf[side], sizeof rbuf[side]);
            (void)r;
        }
        break;
    }
    // ---- executor
    case 74: {
        coio_loop *l = pick_loop();
        unsigned slot = in.pick(NF);
        Token *a = tok_new(TK_EXARG);
        Token *r = tok_new(TK_EXRES);
        r->result_token = true;
        a->res = r;
        coio_future *f = nullptr;
        coio_free_fn rd = (in.u8() & 1) ? tok_drop : nullptr;
        int rc = coio_run_in_executor(l, work_fn, a, tok_drop, rd, &f);
        tok_reg(a, rc);
        r->registered = rc == COIO_OK && rd;
        if (rc == COIO_OK) fut_put(slot, f);
        break;
    }
    case 75: {
        coio_loop *l = pick_loop();
        coio_loop_set_executor_size(l, in.pick(3));
        break;
    }
    // ---- signals (never raised: registration bookkeeping only)
    case 76: {
        coio_loop *l = pick_loop();
        if (in.u8() & 1) {
            Token *t = tok_new(TK_SIGNAL);
            tok_reg(t, coio_add_signal_handler(l, SIGUSR2, cb_signal, t, tok_drop));
        } else {
            coio_remove_signal_handler(l, SIGUSR2);
        }
        break;
    }
    // ---- exception handler
    case 77: {
        coio_loop *l = pick_loop();
        coio_exception_context x = COIO_EXCEPTION_CONTEXT_INIT;
        x.message = "fuzz report";
        x.future = pick_fut();
        coio_loop_call_exception_handler(l, &x);
        break;
    }
    case 78:
        op_misuse(c);
        break;
    case 79: {
        // Wrong loop on purpose: a future of one loop into the other's combinators.
        coio_future *f = pick_fut();
        if (!f) break;
        coio_loop *other = coio_future_loop(f) == loops[0] ? loops[1] : loops[0];
        coio_future *out = nullptr;
        int rc = coio_gather(other, &f, 1, 0, &out);
        if (rc == COIO_OK && other != coio_future_loop(f))
            die("gather accepted a foreign future", -1);
        if (rc == COIO_OK) fut_put(in.pick(NF), out);
        break;
    }
    default: {
        // The rest of the op space: the most bug-prone ops again (weights).
        switch (op % 8) {
        case 0:
        case 1: {
            Token *t = tok_new(TK_DONE);
            tok_reg(t, coio_future_add_done_callback(pick_fut(), cb_done, t, tok_drop));
            break;
        }
        case 2:
            coio_future_cancel(pick_fut(), "again");
            break;
        case 3:
            fut_put(in.pick(NF), nullptr);
            break;
        case 4: {
            coio_future *f = pick_fut();
            unsigned slot = in.pick(NF);
            coio_future *out = nullptr;
            if (coio_wait_for(f, in.delay(), &out) == COIO_OK) fut_put(slot, out);
            break;
        }
        case 5: {
            coio_future *f = pick_fut();
            if (c.kind == CX_CO) co_await (c, f);
            break;
        }
        case 6: {
            coio_future *f = nullptr;
            unsigned slot = in.pick(NF);
            if (coio_future_new(pick_loop(), &f) == COIO_OK) fut_put(slot, f);
            break;
        }
        default: {
            Token *t = tok_new(TK_VALUE);
            tok_reg(t, coio_future_set_result(pick_fut(), t, tok_drop));
        }
        }
    }
    }
}

// ---- teardown and checks -----------------------------------------------------------------

void free_objects() {
    for (auto &it : iters)
        if (it) {
            auto *x = it;
            it = nullptr;
            coio_as_completed_free(x);
        }
    for (auto &g : groups)
        if (g) {
            auto *x = g;
            g = nullptr;
            coio_task_group_free(x);
        }
    for (auto &h : hands)
        if (h) {
            auto *x = h;
            h = nullptr;
            coio_handle_release(x);
        }
    for (unsigned i = 0; i < NF; i++)
        if (futs[i]) coio_future_release(fut_take(i));
    for (auto &q : queues)
        if (q) {
            auto *x = q;
            q = nullptr;
            coio_queue_free(x);
        }
    for (auto &b : bars)
        if (b) {
            auto *x = b;
            b = nullptr;
            coio_barrier_free(x);
        }
    for (auto &cd : conds)
        if (cd) {
            auto *x = cd;
            cd = nullptr;
            coio_condition_free(x);
        }
    for (auto &s : sems)
        if (s) {
            auto *x = s;
            s = nullptr;
            coio_semaphore_free(x);
        }
    for (auto &l : locks)
        if (l) {
            auto *x = l;
            l = nullptr;
            coio_lock_free(x);
        }
    for (auto &e : evs)
        if (e) {
            auto *x = e;
            e = nullptr;
            coio_event_free(x);
        }
}

bool anything_left() {
    for (auto *l : loops)
        if (l) return true;
    for (auto *f : futs)
        if (f) return true;
    for (auto *h : hands)
        if (h) return true;
    for (int i = 0; i < NP; i++)
        if (evs[i] || locks[i] || sems[i] || conds[i] || bars[i] || queues[i] || iters[i] ||
            groups[i])
            return true;
    return false;
}

void teardown(int order) {
    g_teardown = true;
    for (int pass = 0; anything_left(); pass++) {
        if (pass >= 4) g_quiet_nested = true;
        if (pass > 50) die("teardown does not converge", -1);
        switch (order) {
        case 0: // close every loop, then free objects, then release loops
            for (auto *l : loops)
                coio_loop_close(l);
            free_objects();
            for (unsigned i = 0; i < NL; i++)
                release_loop(i);
            break;
        case 1: // objects first, loops still open
            free_objects();
            for (unsigned i = 0; i < NL; i++)
                release_loop(i);
            break;
        case 2: // release loops first (release closes), objects after
            for (unsigned i = 0; i < NL; i++)
                release_loop(i);
            free_objects();
            break;
        default: // drain each loop a little (virtual time), then as 0
            if (pass == 0)
                for (unsigned i = 0; i < NL; i++)
                    run_loop(i, 1);
            for (auto *l : loops)
                coio_loop_close(l);
            for (unsigned i = NL; i-- > 0;)
                release_loop(i);
            free_objects();
            break;
        }
    }
    if (sv[0] >= 0) {
        close(sv[0]);
        close(sv[1]);
        sv[0] = sv[1] = -1;
    }
}

void check_tokens() {
    for (Token *t : toks) {
        int d = t->drops.load();
        int want = t->registered ? 1 : 0;
        // An executor result exists only if fn ran; result_drop frees it, seen or not.
        if (t->result_token) want = t->registered && t->produced.load() ? 1 : 0;
        if (d != want) {
            std::fprintf(stderr, "coio fuzz: token %d kind %d registered %d: %d drops\n", t->id,
                         t->kind, int(t->registered), d);
            if (!getenv("COIO_FUZZ_NO_TOKEN_ABORT"))
                die(d > want ? "drop ran for a failed registration" : "drop never ran (leak)",
                    t->id);
        }
    }
    for (Token *t : toks)
        delete t;
    toks.clear();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static bool once = [] {
        g_main = pthread_self();
        const char *tr = std::getenv("COIO_FUZZ_TRACE");
        g_trace = tr && *tr == '1';
        std::signal(SIGPIPE, SIG_IGN);
        return true;
    }();
    (void)once;
    if (size < 2) return 0;
    in = Input{};
    in.p = data + 1;
    in.n = size - 1;
    int order = data[0] & 3;
    budget = 1500;
    g_depth = 0;
    g_teardown = false;
    gather_depth.clear();
    g_quiet_nested = false;
    nbusy = 0;
    new_loop(0);
    new_loop(1);
    Ctx top;
    top.kind = CX_TOP;
    while (!in.done() && budget > 0) {
        budget--;
        exec_op(top);
    }
    leave_timeout(top);
    teardown(order);
    check_tokens();
    return 0;
}
