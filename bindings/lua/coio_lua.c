/* coio for Lua 5.4 and LuaJIT (5.1 API): `require "coio"`.
 *
 * Tasks are Lua coroutines driven by coio's step protocol (coio_task_new): each step resumes
 * the coroutine; an await primitive registers the future with coio_step_await and yields; the
 * step then returns COIO_STEP_AWAIT and the loop resumes the coroutine when the future is done.
 * Every coio object is a full userdata whose __gc (and __close on 5.4) drops the coio
 * reference.  Lua values handed to coio (callbacks, results, queue items, error values) are
 * registry references released exactly once by the coio drop.
 *
 * Lua errors never cross libcoio: code that coio calls (steps, callbacks, done callbacks, the
 * exception handler) enters Lua only through lua_resume or lua_pcall, and does any Lua work
 * that may raise (allocation, __tostring) inside a protected call.
 *
 * See README.md for the Lua API.
 */
#include <coio.h>

#include <lauxlib.h>
#include <lua.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Lua 5.1 / LuaJIT compatibility ---------------------------------------------------- */

#if LUA_VERSION_NUM >= 504
#define newud(L, sz) lua_newuserdatauv((L), (sz), 1)
#define getuv(L, i) lua_getiuservalue((L), (i), 1)
#define setuv(L, i) lua_setiuservalue((L), (i), 1)
#define rawlen(L, i) lua_rawlen((L), (i))
#else
#define newud(L, sz) lua_newuserdata((L), (sz))
#define getuv(L, i) lua_getfenv((L), (i))
#define setuv(L, i) lua_setfenv((L), (i))
#define rawlen(L, i) lua_objlen((L), (i))
#endif

static int absindex(lua_State *L, int i) {
    return (i > 0 || i <= LUA_REGISTRYINDEX) ? i : lua_gettop(L) + i + 1;
}

/* Resumes co with nargs values on its stack; *nres: the values it yielded or returned. */
static int co_resume(lua_State *co, int nargs, int *nres) {
#if LUA_VERSION_NUM >= 504
    return lua_resume(co, NULL, nargs, nres);
#else
    int st = lua_resume(co, nargs);
    *nres = lua_gettop(co);
    return st;
#endif
}

/* ---- Module state ------------------------------------------------------------------------ */

/* Upvalues of every C function of the module. */
#define UV_MOD lua_upvalueindex(1)
#define UV_FUTMT lua_upvalueindex(2)
#define UV_CACHE lua_upvalueindex(3)

typedef struct LTask LTask;

typedef struct Mod {
    lua_State *L;       /* a thread of our own (anchored by ref): runs callbacks and handlers */
    int thread_ref;     /* registry ref anchoring L */
    int cache_ref;      /* registry ref: weak-valued table, lightuserdata(coio pointer) -> ud */
    int payload_ref;    /* registry ref: table, lightuserdata(LVal) -> true, our error payloads */
    int cancel_mt_ref;  /* registry ref: CancelledError's metatable */
    LTask *cur;         /* the task whose step is running */
    coio_loop *running; /* the loop a loop:run_* call drives */
    int exc_ref;        /* the Lua error value being reported (LUA_NOREF if none) */
    int mod_ref, futmt_ref; /* registry refs: this userdata, the future metatable */
    int fn_ref[4];          /* registry refs: the FN_* entry functions, made in luaopen */
} Mod;

/* The C functions that code called by coio runs under lua_pcall.  They are made once, in
 * luaopen_coio, so that nothing before the lua_pcall allocates (in LuaJIT even
 * lua_pushcfunction does): an allocation failure there would raise outside any protection. */
enum { FN_DONECB, FN_HANDLER, FN_REPORT, FN_FINISH };

#define MOD(L) ((Mod *)lua_touserdata((L), UV_MOD))

enum { K_PLAIN, K_TRUE, K_INDEX, K_GATHER, K_WAIT, K_ASNEXT, K_DELEGATE };

typedef struct LFut {
    coio_future *f; /* NULL once released */
    int kind;
} LFut;

struct LTask {
    Mod *m;
    lua_State *co;
    int coref;
    int nargs;         /* values on co's stack before the first step (function + arguments) */
    int state;         /* TS_* */
    int awaiting;      /* an await primitive called coio_step_await in this step */
    int yielding;      /* sleep(0) yielded for one pass in this step */
    int aw_yield;      /* the last await was such a yield (no future) */
    int rs;            /* the resume status of the last await */
    coio_future *task; /* borrowed: set at each step */
    coio_future *aw;   /* what the last await primitive awaited (a reference) */
    int aw_kind;
};

enum { TS_NEW, TS_RUN, TS_AWAIT, TS_BARE };

/* A Lua value (or several) owned by coio: a future's result, a queue item, an error payload. */
typedef struct LVal {
    Mod *m;
    int ref; /* the value, or a table of n values */
    int n;   /* 1: ref is the value; otherwise ref is a table holding n values */
} LVal;

typedef struct LLoop {
    coio_loop *loop;
} LLoop;

typedef struct LHandle {
    coio_handle *h;
} LHandle;

/* A callback: fn (n == 0) or {fn, args...} (n args). */
typedef struct LCb {
    Mod *m;
    coio_loop *loop;
    int ref;
    int n;
} LCb;

static const char *const MT_LOOP = "coio.Loop";
static const char *const MT_HANDLE = "coio.Handle";
static const char *const MT_EVENT = "coio.Event";
static const char *const MT_LOCK = "coio.Lock";
static const char *const MT_SEM = "coio.Semaphore";
static const char *const MT_COND = "coio.Condition";
static const char *const MT_BARRIER = "coio.Barrier";
static const char *const MT_QUEUE = "coio.Queue";
static const char *const MT_TG = "coio.TaskGroup";
static const char *const MT_TM = "coio.Timeout";
static const char *const MT_ASC = "coio.AsCompleted";

/* ---- Small helpers --------------------------------------------------------------------- */

/* The luv/LuaSocket failure triple. */
static int fail(lua_State *L, int status) {
    lua_pushnil(L);
    lua_pushstring(L, coio_strerror(status));
    lua_pushinteger(L, status);
    return 3;
}

/* A string for any error value; never raises (runs __tostring only under pcall). */
static int tostring_p(lua_State *L) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
    switch (lua_type(L, 1)) {
    case LUA_TSTRING:
    case LUA_TNUMBER:
        lua_pushvalue(L, 1);
        lua_tostring(L, -1);
        return 1;
    case LUA_TNIL:
        lua_pushliteral(L, "nil");
        return 1;
    case LUA_TBOOLEAN:
        lua_pushstring(L, lua_toboolean(L, 1) ? "true" : "false");
        return 1;
    default:
        lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
        return 1;
    }
}

/* Pushes a string describing the value at idx (never raises past here except on OOM, which
 * callers run under a protected call anyway). */
static void push_errstring(lua_State *L, int idx) {
    idx = absindex(L, idx);
    lua_pushcfunction(L, tostring_p);
    lua_pushvalue(L, idx);
    if (lua_pcall(L, 1, 1, 0) != 0 || lua_type(L, -1) != LUA_TSTRING) {
        lua_pop(L, 1);
        lua_pushliteral(L, "(error object cannot be converted to a string)");
    }
}

static void cache_get(lua_State *L, const void *p) {
    lua_pushlightuserdata(L, (void *)p);
    lua_rawget(L, UV_CACHE);
}

static void cache_set(lua_State *L, const void *p, int idx) {
    idx = absindex(L, idx);
    lua_pushlightuserdata(L, (void *)p);
    lua_pushvalue(L, idx);
    lua_rawset(L, UV_CACHE);
}

/* Forgets p unless the cache maps it to another userdata already. */
static void cache_forget(lua_State *L, const void *p, int idx) {
    idx = absindex(L, idx);
    lua_pushlightuserdata(L, (void *)p);
    lua_rawget(L, UV_CACHE);
    int same = lua_rawequal(L, -1, idx);
    lua_pop(L, 1);
    if (same) {
        lua_pushlightuserdata(L, (void *)p);
        lua_pushnil(L);
        lua_rawset(L, UV_CACHE);
    }
}

/* A userdata's uservalue table: pushes it and returns 1, or pushes nothing and returns 0.
 * Uservalues are always tables (LuaJIT's userdata environments can only be tables); a new
 * userdata's environment there is the cache table, which stands for "none". */
static int get_uvtable(lua_State *L, int i) {
    getuv(L, i);
    if (lua_istable(L, -1) && !lua_rawequal(L, -1, UV_CACHE)) return 1;
    lua_pop(L, 1);
    return 0;
}

/* Pushes the entry function FN_* (no allocation). */
static void push_entry(lua_State *L, const Mod *m, int fn) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, m->fn_ref[fn]);
}

/* ---- Values owned by coio -------------------------------------------------------------- */

static void lval_drop(void *p) {
    LVal *v = p;
    if (!v) return;
    lua_State *L = v->m->L;
    luaL_unref(L, LUA_REGISTRYINDEX, v->ref);
    free(v);
}

/* Error payloads are also recorded, so that a payload can be told ours without reading it. */
static void payload_drop(void *p) {
    LVal *v = p;
    if (!v) return;
    lua_State *L = v->m->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, v->m->payload_ref);
    lua_pushlightuserdata(L, v);
    lua_pushnil(L);
    lua_rawset(L, -3);
    lua_pop(L, 1);
    lval_drop(v);
}

/* Takes n values from the top of L's stack into an LVal (NULL for none or a single nil). */
static LVal *lval_new(lua_State *L, Mod *m, int n) {
    if (n == 0) return NULL;
    if (n == 1 && lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return NULL;
    }
    LVal *v = malloc(sizeof *v);
    if (!v) {
        lua_pop(L, n);
        luaL_error(L, "out of memory");
    }
    v->m = m;
    v->n = n;
    if (n > 1) {
        lua_createtable(L, n, 0);
        lua_insert(L, -n - 1);
        for (int i = n; i >= 1; i--)
            lua_rawseti(L, -i - 1, i);
    }
    v->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return v;
}

/* Pushes an LVal's values; returns how many (a NULL value is one nil). */
static int lval_push(lua_State *L, const LVal *v) {
    if (!v) {
        lua_pushnil(L);
        return 1;
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, v->ref);
    if (v->n == 1) return 1;
    luaL_checkstack(L, v->n, "too many results");
    int t = lua_gettop(L);
    for (int i = 1; i <= v->n; i++)
        lua_rawgeti(L, t, i);
    lua_remove(L, t);
    return v->n;
}

/* ---- asyncio's repr of Lua results (coio_future_repr calls these) ---------------------- */

/* Formats the Lua value at idx as Python's repr() would show it: strings as str, integers,
 * floats, booleans as True/False, nil as None, anything else as <type at 0x...>.  Never
 * raises and runs no Lua code (no __tostring). */
static long repr_value(lua_State *L, int idx, char *buf, size_t size) {
    switch (lua_type(L, idx)) {
    case LUA_TSTRING:
        return coio_repr_str(lua_tostring(L, idx), buf, size);
    case LUA_TNUMBER: {
#if LUA_VERSION_NUM >= 503
        if (lua_isinteger(L, idx))
            return snprintf(buf, size, LUA_INTEGER_FMT, lua_tointeger(L, idx));
#endif
        double d = lua_tonumber(L, idx);
#if LUA_VERSION_NUM < 503
        if (d == floor(d) && fabs(d) < 1e15) return snprintf(buf, size, "%.0f", d); /* an int */
#endif
        if (isnan(d)) return snprintf(buf, size, "nan");
        if (isinf(d)) return snprintf(buf, size, d > 0 ? "inf" : "-inf");
        char tmp[64];
        int n = snprintf(tmp, sizeof tmp, "%.17g", d);
        for (int prec = 1; prec < 17; prec++) { /* the shortest form that reads back, as Python */
            char t2[64];
            snprintf(t2, sizeof t2, "%.*g", prec, d);
            if (strtod(t2, NULL) == d) {
                n = snprintf(tmp, sizeof tmp, "%s", t2);
                break;
            }
        }
        if (!strpbrk(tmp, ".en")) n = snprintf(tmp + n, sizeof tmp - (size_t)n, ".0") + n;
        return snprintf(buf, size, "%s", tmp);
    }
    case LUA_TBOOLEAN:
        return snprintf(buf, size, "%s", lua_toboolean(L, idx) ? "True" : "False");
    case LUA_TNIL:
        return snprintf(buf, size, "None");
    default:
        return snprintf(buf, size, "<%s at %p>", luaL_typename(L, idx), lua_topointer(L, idx));
    }
}

/* Adds a formatted piece's length n to *len (snprintf-style bookkeeping); -1 on failure. */
static int repr_piece(long n, long *len) {
    if (n < 0) return -1;
    *len += n;
    return 0;
}

#define REPR_AT(buf, size, len)                                                                    \
    ((size) > (size_t)(len) ? (buf) + (len) : NULL),                                               \
        ((size) > (size_t)(len) ? (size) - (size_t)(len) : 0)

/* coio_repr_fn for an LVal result: one value as itself, several as a tuple. */
static long lval_repr(const void *value, char *buf, size_t size) {
    const LVal *v = value;
    if (!v) return snprintf(buf, size, "None");
    lua_State *L = v->m->L;
    if (!lua_checkstack(L, 3)) return -1;
    int top = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, v->ref);
    long len = 0;
    int bad = 0;
    if (v->n == 1) {
        bad = repr_piece(repr_value(L, -1, buf, size), &len);
    } else {
        bad |= repr_piece(snprintf(REPR_AT(buf, size, len), "("), &len);
        for (int i = 1; i <= v->n && !bad; i++) {
            lua_rawgeti(L, top + 1, i);
            if (i > 1) bad |= repr_piece(snprintf(REPR_AT(buf, size, len), ", "), &len);
            bad |= repr_piece(repr_value(L, -1, REPR_AT(buf, size, len)), &len);
            lua_pop(L, 1);
        }
        bad |= repr_piece(snprintf(REPR_AT(buf, size, len), ")"), &len);
    }
    lua_settop(L, top);
    return bad ? -1 : len;
}

static int is_our_payload(lua_State *L, Mod *m, void *p) {
    if (!p) return 0;
    lua_rawgeti(L, LUA_REGISTRYINDEX, m->payload_ref);
    lua_pushlightuserdata(L, p);
    lua_rawget(L, -2);
    int ours = !lua_isnil(L, -1);
    lua_pop(L, 2);
    return ours;
}

/* ---- CancelledError ----------------------------------------------------------------------- */

static void push_cancelled(lua_State *L, Mod *m, const char *msg) {
    lua_createtable(L, 0, 2);
    if (msg) {
        lua_pushstring(L, msg);
        lua_setfield(L, -2, "message");
    }
    lua_pushinteger(L, COIO_ECANCELLED);
    lua_setfield(L, -2, "code");
    lua_rawgeti(L, LUA_REGISTRYINDEX, m->cancel_mt_ref);
    lua_setmetatable(L, -2);
}

/* The CancelledError raised in a task for its own cancellation: marked, so that raising it
 * again ends the task with that cancellation's message (asyncio's bare `raise`) while a new
 * coio.cancelled_error(msg) ends it with msg. */
static void push_delivered(lua_State *L, Mod *m, const char *msg) {
    push_cancelled(L, m, msg);
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "delivered");
}

static int is_cancelled_value(lua_State *L, Mod *m, int idx) {
    if (!lua_getmetatable(L, idx)) return 0;
    lua_rawgeti(L, LUA_REGISTRYINDEX, m->cancel_mt_ref);
    int yes = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return yes;
}

static int cancelled_tostring(lua_State *L) {
    lua_getfield(L, 1, "message");
    if (lua_isstring(L, -1))
        lua_pushfstring(L, "CancelledError: %s", lua_tostring(L, -1));
    else
        lua_pushliteral(L, "CancelledError");
    return 1;
}

/* ---- Futures ----------------------------------------------------------------------------- */

/* Pushes the userdata for f, creating it if needed.  owned: the caller hands its reference
 * over (released if a userdata exists already); otherwise a new reference is taken. */
static void push_future(lua_State *L, coio_future *f, int kind, int owned) {
    cache_get(L, f);
    if (!lua_isnil(L, -1)) {
        if (owned) coio_future_release(f);
        return;
    }
    lua_pop(L, 1);
    LFut *u = newud(L, sizeof *u);
    u->f = owned ? f : coio_future_ref(f);
    u->kind = kind;
    lua_pushvalue(L, UV_FUTMT);
    lua_setmetatable(L, -2);
#if LUA_VERSION_NUM < 502
    lua_pushvalue(L, UV_CACHE);
    lua_setfenv(L, -2);
#endif
    cache_set(L, f, -1);
}

/* As push_future for a new future (never in the cache), with the table at the top as its
 * uservalue. */
static void push_future_uv(lua_State *L, coio_future *f, int kind) {
    int uv = lua_gettop(L);
    push_future(L, f, kind, 1);
    lua_pushvalue(L, uv);
    setuv(L, -2);
    lua_remove(L, uv);
}

/* As push_future_uv with any value, kept as {value}. */
static void push_future_val(lua_State *L, coio_future *f, int kind) {
    lua_createtable(L, 1, 0);
    lua_insert(L, -2);
    lua_rawseti(L, -2, 1);
    push_future_uv(L, f, kind);
}

static LFut *tofut(lua_State *L, int i) {
    LFut *u = lua_touserdata(L, i);
    if (!u || !lua_getmetatable(L, i)) return NULL;
    int ok = lua_rawequal(L, -1, UV_FUTMT);
    lua_pop(L, 1);
    return ok ? u : NULL;
}

static LFut *checkfut(lua_State *L, int i) {
    LFut *u = tofut(L, i);
    if (!u) luaL_argerror(L, i, "coio future expected");
    if (!u->f) luaL_argerror(L, i, "the future was released");
    return u;
}

static coio_future *checktask(lua_State *L, int i) {
    LFut *u = checkfut(L, i);
    if (!coio_future_is_task(u->f)) luaL_argerror(L, i, "coio task expected");
    return u->f;
}

static void *checkobj(lua_State *L, int i, const char *mt) {
    void **p = luaL_checkudata(L, i, mt);
    if (!*p) luaL_argerror(L, i, "the object was freed");
    return *p;
}

static int push_outcome(lua_State *L, Mod *m, coio_future *f, int kind, int ud, int status);

/* Pushes the first value of f's result, or its error value (return_exceptions), for gather. */
static void push_first(lua_State *L, Mod *m, int ud) {
    LFut *u = tofut(L, ud);
    int top = lua_gettop(L);
    coio_future *f = u->f;
    int status = coio_future_result(f, NULL);
    if (status == COIO_ECANCELLED) {
        const char *msg = NULL;
        coio_future_error(f, NULL, &msg);
        push_cancelled(L, m, msg);
        return;
    }
    push_outcome(L, m, f, u->kind, ud, status);
    if (status == COIO_OK) {
        lua_settop(L, top + 1);
    } else { /* nil, errvalue, code */
        lua_pushvalue(L, top + 2);
        lua_replace(L, top + 1);
        lua_settop(L, top + 1);
    }
}

/* A done future's result as Lua values.  ud: its userdata's index (needed for combinators),
 * or 0. */
static int push_result(lua_State *L, Mod *m, coio_future *f, int kind, int ud) {
    void *v = NULL;
    coio_future_result(f, &v);
    switch (kind) {
    case K_TRUE:
        lua_pushboolean(L, 1);
        return 1;
    case K_INDEX:
        lua_pushinteger(L, (lua_Integer)(uintptr_t)v);
        return 1;
    case K_GATHER: {
        get_uvtable(L, ud); /* {kids..., return_exceptions = bool} */
        int uv = lua_gettop(L);
        int n = (int)rawlen(L, uv);
        lua_createtable(L, n, 1);
        for (int i = 1; i <= n; i++) {
            lua_rawgeti(L, uv, i);
            push_first(L, m, lua_gettop(L));
            lua_rawseti(L, uv + 1, i);
            lua_pop(L, 1);
        }
        lua_pushinteger(L, n);
        lua_setfield(L, uv + 1, "n");
        lua_remove(L, uv);
        return 1;
    }
    case K_WAIT: {
        const coio_wait_result *w = v;
        lua_createtable(L, (int)w->ndone, 0);
        for (size_t i = 0; i < w->ndone; i++) {
            push_future(L, w->done[i], K_PLAIN, 0);
            lua_rawseti(L, -2, (int)i + 1);
        }
        lua_createtable(L, (int)w->npending, 0);
        for (size_t i = 0; i < w->npending; i++) {
            push_future(L, w->pending[i], K_PLAIN, 0);
            lua_rawseti(L, -2, (int)i + 1);
        }
        return 2;
    }
    case K_ASNEXT: {
        coio_future *orig = v;
        push_future(L, orig, K_PLAIN, 0);
        int o = lua_gettop(L);
        LFut *u = tofut(L, o);
        int n = push_outcome(L, m, orig, u->kind, o, coio_future_result(orig, NULL));
        lua_remove(L, o);
        return n;
    }
    case K_DELEGATE: {
        get_uvtable(L, ud);
        lua_rawgeti(L, -1, 1);
        lua_remove(L, -2);
        int o = lua_gettop(L);
        LFut *u = tofut(L, o);
        int n = push_result(L, m, u->f, u->kind, o);
        lua_remove(L, o);
        return n;
    }
    default:
        return lval_push(L, v);
    }
}

/* f's error as (nil, value, code): the Lua error value when the failure carried one. */
static int push_error(lua_State *L, Mod *m, coio_future *f) {
    int code = 0;
    const char *msg = NULL;
    void *payload = NULL;
    coio_future_error(f, &code, &msg);
    coio_future_error_payload(f, &payload);
    lua_pushnil(L);
    if (is_our_payload(L, m, payload))
        lval_push(L, payload);
    else
        lua_pushstring(L, msg ? msg : coio_strerror(code));
    lua_pushinteger(L, code);
    return 3;
}

/* The outcome of f given `status` (COIO_OK, COIO_EFAILED, COIO_ECANCELLED, or another status
 * that says why there is none): values, or nil, error, code. */
static int push_outcome(lua_State *L, Mod *m, coio_future *f, int kind, int ud, int status) {
    if (status == COIO_OK) return push_result(L, m, f, kind, ud);
    if (status == COIO_EFAILED) return push_error(L, m, f);
    if (status == COIO_ECANCELLED && coio_future_cancelled(f)) {
        const char *msg = NULL;
        coio_future_error(f, NULL, &msg);
        lua_pushnil(L);
        lua_pushstring(L, msg ? msg : coio_strerror(status));
        lua_pushinteger(L, status);
        return 3;
    }
    return fail(L, status);
}

/* ---- Callbacks and the exception handler ------------------------------------------------- */

typedef struct ReportArgs {
    coio_loop *loop;
    const char *message;
    coio_future *future;
} ReportArgs;

/* Reports the error value at index 2 through loop's exception handler (protected). */
static int report_p(lua_State *L) {
    ReportArgs *a = lua_touserdata(L, 1);
    Mod *m = lua_touserdata(L, 3);
    push_errstring(L, 2);
    coio_exception_context ctx = COIO_EXCEPTION_CONTEXT_INIT;
    ctx.message = a->message;
    ctx.error = lua_tostring(L, -1);
    ctx.code = COIO_EFAILED;
    ctx.future = a->future;
    lua_pushvalue(L, 2);
    int saved = m->exc_ref;
    m->exc_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    coio_loop_call_exception_handler(a->loop, &ctx);
    luaL_unref(L, LUA_REGISTRYINDEX, m->exc_ref);
    m->exc_ref = saved;
    return 0;
}

/* The error value on top of L goes to the handler; L's stack is restored to below it. */
static void report_error(lua_State *L, Mod *m, coio_loop *loop, const char *message,
                         coio_future *f) {
    int err = lua_gettop(L);
    ReportArgs a = {loop, message, f};
    push_entry(L, m, FN_REPORT);
    lua_pushlightuserdata(L, &a);
    lua_pushvalue(L, err);
    lua_pushlightuserdata(L, m);
    if (lua_pcall(L, 3, 0, 0) != 0) {
        fprintf(stderr, "coio: %s (and reporting it failed)\n", message);
        lua_pop(L, 1);
    }
    lua_settop(L, err - 1);
}

static void cb_drop(void *p) {
    LCb *c = p;
    luaL_unref(c->m->L, LUA_REGISTRYINDEX, c->ref);
    free(c);
}

/* Pushes the function and arguments of c; returns the argument count. */
static int cb_push(lua_State *L, const LCb *c) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->ref);
    if (c->n == 0) return 0;
    int t = lua_gettop(L);
    for (int i = 1; i <= c->n + 1; i++)
        lua_rawgeti(L, t, i);
    lua_remove(L, t);
    return c->n;
}

static void cb_run(void *p) {
    LCb *c = p;
    Mod *m = c->m;
    lua_State *L = m->L;
    int top = lua_gettop(L);
    if (!lua_checkstack(L, c->n + 8)) {
        fprintf(stderr, "coio: callback skipped: Lua stack overflow\n");
        return;
    }
    int n = cb_push(L, c);
    if (lua_pcall(L, n, 0, 0) != 0) report_error(L, m, c->loop, "Exception in callback", NULL);
    lua_settop(L, top);
}

/* Reads fn and its arguments from L's stack [first, top] into a new LCb. */
static LCb *cb_new(lua_State *L, Mod *m, coio_loop *loop, int first) {
    luaL_checktype(L, first, LUA_TFUNCTION);
    int n = lua_gettop(L) - first; /* arguments after fn */
    LCb *c = malloc(sizeof *c);
    if (!c) luaL_error(L, "out of memory");
    c->m = m;
    c->loop = loop;
    c->n = n;
    if (n == 0) {
        lua_pushvalue(L, first);
    } else {
        lua_createtable(L, n + 1, 0);
        for (int i = 0; i <= n; i++) {
            lua_pushvalue(L, first + i);
            lua_rawseti(L, -2, i + 1);
        }
    }
    c->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return c;
}

typedef struct HandlerArg {
    Mod *m;
    int ref; /* the Lua handler */
} HandlerArg;

static void handler_drop(void *p) {
    HandlerArg *h = p;
    luaL_unref(h->m->L, LUA_REGISTRYINDEX, h->ref);
    free(h);
}

/* ---- Tasks ----------------------------------------------------------------------------- */

static void task_drop(void *p) {
    LTask *t = p;
    if (t->aw) coio_future_release(t->aw);
    luaL_unref(t->m->L, LUA_REGISTRYINDEX, t->coref);
    free(t);
}

typedef struct FinishArgs {
    LTask *t;
    int lua_status; /* LUA_OK or an error */
    int n;          /* values moved from the coroutine (results, or the error value) */
    int rc;         /* what the step returns */
} FinishArgs;

/* Sets the task's outcome from the values at 2..n+1 (protected). */
static int finish_p(lua_State *L) {
    FinishArgs *a = lua_touserdata(L, 1);
    LTask *t = a->t;
    Mod *m = t->m;
    if (a->lua_status == LUA_OK) {
        LVal *v = lval_new(L, m, a->n);
        int rc = v ? coio_future_set_result_repr(t->task, v, lval_drop, lval_repr) : COIO_OK;
        if (rc != COIO_OK) {
            lval_drop(v);
            a->rc = rc;
            return 0;
        }
        a->rc = COIO_OK;
        return 0;
    }
    if (is_cancelled_value(L, m, 2)) {
        lua_getfield(L, 2, "delivered");
        int reraise = lua_toboolean(L, -1);
        lua_getfield(L, 2, "message");
        /* raise CancelledError(msg): the task ends with the body's message */
        if (!reraise) coio_task_set_cancelled(t->task, lua_tostring(L, -1));
        a->rc = COIO_ECANCELLED;
        return 0;
    }
    push_errstring(L, 2);
    const char *msg = lua_tostring(L, -1);
    lua_pushvalue(L, 2);
    LVal *v = lval_new(L, m, 1);
    if (v) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, m->payload_ref);
        lua_pushlightuserdata(L, v);
        lua_pushboolean(L, 1);
        lua_rawset(L, -3);
        lua_pop(L, 1);
    }
    int rc = coio_future_set_error_payload(t->task, COIO_EFAILED, msg, v, v ? payload_drop : NULL);
    if (rc != COIO_OK) payload_drop(v);
    a->rc = COIO_EFAILED;
    return 0;
}

static int task_finish(LTask *t, int st, int nres) {
    Mod *m = t->m;
    lua_State *L = m->L, *co = t->co;
    int top = lua_gettop(L);
    int n = st == LUA_OK ? nres : 1;
    if (!lua_checkstack(L, n + 4)) {
        lua_settop(co, 0);
        return COIO_ENOMEM;
    }
    FinishArgs a = {t, st, n, COIO_EFAILED};
    push_entry(L, m, FN_FINISH);
    lua_pushlightuserdata(L, &a);
    lua_xmove(co, L, n);
#if LUA_VERSION_RELEASE_NUM >= 50406
    if (st != LUA_OK) lua_closethread(co, L); /* closes its pending to-be-closed variables */
#elif LUA_VERSION_NUM >= 504
    if (st != LUA_OK) lua_resetthread(co);
#endif
    if (lua_pcall(L, n + 1, 0, 0) != 0) a.rc = COIO_ENOMEM;
    lua_settop(L, top);
    return a.rc;
}

static int task_step(coio_future *task, coio_future *awaited, int rs, void *arg) {
    (void)awaited;
    LTask *t = arg;
    Mod *m = t->m;
    t->task = task;
    int nargs = 0;
    switch (t->state) {
    case TS_NEW:
        nargs = t->nargs;
        break;
    case TS_BARE:
        /* A bare coroutine.yield cannot raise the cancellation: the task ends cancelled
         * there. */
        if (rs == COIO_ECANCELLED) return COIO_ECANCELLED;
        break;
    default:
        t->rs = rs;
        break;
    }
    t->state = TS_RUN;
    LTask *prev = m->cur;
    m->cur = t;
    int nres = 0;
    int st = co_resume(t->co, nargs, &nres);
    m->cur = prev;
    if (st == LUA_YIELD) {
        lua_pop(t->co, nres);
        if (t->awaiting) {
            t->awaiting = 0;
            t->state = TS_AWAIT;
            return COIO_STEP_AWAIT;
        }
        if (t->yielding) {
            t->yielding = 0;
            t->state = TS_AWAIT;
            return COIO_STEP_YIELD;
        }
        t->state = TS_BARE;
        return COIO_STEP_YIELD;
    }
    return task_finish(t, st, nres);
}

/* Makes the LTask for fn (at index first) and its arguments up to the top. */
static LTask *ltask_new(lua_State *L, Mod *m, int first) {
    luaL_checktype(L, first, LUA_TFUNCTION);
    int n = lua_gettop(L) - first + 1;
    LTask *t = calloc(1, sizeof *t);
    if (!t) luaL_error(L, "out of memory");
    lua_State *co = lua_newthread(L);
    t->coref = luaL_ref(L, LUA_REGISTRYINDEX);
    t->m = m;
    t->co = co;
    t->nargs = n - 1;
    t->state = TS_NEW;
    if (!lua_checkstack(co, n)) {
        task_drop(t);
        luaL_error(L, "too many arguments");
    }
    for (int i = 0; i < n; i++)
        lua_pushvalue(L, first + i);
    lua_xmove(L, co, n);
    return t;
}

static coio_loop *running_loop(Mod *m) {
    if (m->cur && m->cur->task) return coio_future_loop(m->cur->task);
    return m->running;
}

static coio_loop *check_running(lua_State *L, Mod *m) {
    coio_loop *loop = running_loop(m);
    if (!loop) luaL_error(L, "no running event loop");
    return loop;
}

/* Spawns fn (at first) with its arguments into loop (or group g); pushes the task. */
static int spawn_at(lua_State *L, Mod *m, coio_loop *loop, coio_task_group *g, int first) {
    LTask *t = ltask_new(L, m, first);
    coio_future *task = NULL;
    int rc = g ? coio_task_group_task_new(g, task_step, t, task_drop, NULL, &task)
               : coio_task_new(loop, task_step, t, task_drop, NULL, &task);
    if (rc != COIO_OK) {
        task_drop(t);
        return fail(L, rc);
    }
    push_future(L, task, K_PLAIN, 1);
    return 1;
}

/* The task whose coroutine is L (raises otherwise: await outside a task is a programmer
 * error). */
static LTask *check_task_here(lua_State *L, Mod *m) {
    LTask *t = m->cur;
    if (!t || t->co != L)
        luaL_error(L, "not inside a coio task (await from the task's own coroutine)");
    return t;
}

/* Waits for f (a reference handed over) in the current task: returns 0 at once if f is done,
 * else registers it and yields.  _outcome then reads the result. */
static int await_begin(lua_State *L, LTask *t, coio_future *f, int kind) {
    t->aw_yield = 0;
    if (t->aw) coio_future_release(t->aw);
    t->aw = f;
    t->aw_kind = kind;
    if (coio_future_done(f)) {
        t->rs = coio_future_cancelled(f)
                    ? COIO_ECANCELLED
                    : (coio_future_result(f, NULL) == COIO_OK ? COIO_OK : COIO_EFAILED);
        return 0;
    }
    if (!lua_isyieldable(L)) return luaL_error(L, "await: the coroutine cannot yield here");
    int rc = coio_step_await(t->task, f);
    if (rc != COIO_OK) {
        t->aw = NULL;
        coio_future_release(f);
        return luaL_error(L, "await: %s",
                          rc == COIO_ELOOP    ? "the future belongs to another loop"
                          : rc == COIO_EINVAL ? "a task cannot await itself"
                                              : coio_strerror(rc));
    }
    t->awaiting = 1;
    return lua_yield(L, 0);
}

/* _await(f) */
static int l_await_prim(lua_State *L) {
    Mod *m = MOD(L);
    LFut *u = checkfut(L, 1);
    LTask *t = check_task_here(L, m);
    return await_begin(L, t, coio_future_ref(u->f), u->kind);
}

/* _outcome([ud]): the outcome of the last await of this task. */
static int l_outcome(lua_State *L) {
    Mod *m = MOD(L);
    LTask *t = check_task_here(L, m);
    coio_future *f = t->aw;
    if (t->aw_yield) { /* sleep(0) */
        t->aw_yield = 0;
        if (t->rs == COIO_ECANCELLED && coio_task_cancelling(t->task) > 0) {
            const char *msg = NULL;
            coio_task_cancel_message(t->task, &msg);
            push_delivered(L, m, msg);
            return lua_error(L);
        }
        return 0;
    }
    if (!f) return luaL_error(L, "no await in progress");
    int rs = t->rs, kind = t->aw_kind;
    t->aw = NULL;
    int ud = tofut(L, 1) ? 1 : 0;
    if (rs == COIO_ECANCELLED && coio_task_cancelling(t->task) > 0) {
        /* This task's cancellation: raised, as asyncio throws CancelledError into it. */
        const char *msg = NULL;
        if (coio_task_cancel_message(t->task, &msg) != COIO_OK && coio_future_cancelled(f))
            coio_future_error(f, NULL, &msg);
        push_delivered(L, m, msg);
        coio_future_release(f);
        return lua_error(L);
    }
    int n = push_outcome(L, m, f, kind, ud, rs);
    coio_future_release(f);
    return n;
}

/* _sleep(delay) */
static int l_sleep_prim(lua_State *L) {
    Mod *m = MOD(L);
    double d = luaL_checknumber(L, 1);
    LTask *t = check_task_here(L, m);
    if (d <= 0) { /* asyncio.sleep(0): a bare yield for one pass, no future */
        if (!lua_isyieldable(L)) return luaL_error(L, "sleep: the coroutine cannot yield here");
        if (t->aw) coio_future_release(t->aw);
        t->aw = NULL;
        t->aw_yield = t->yielding = 1;
        return lua_yield(L, 0);
    }
    coio_future *f = NULL;
    int rc = coio_sleep(coio_future_loop(t->task), d, &f);
    if (rc != COIO_OK) return fail(L, rc);
    return await_begin(L, t, f, K_PLAIN);
}

/* coio.spawn(fn, ...) */
static int l_spawn(lua_State *L) {
    Mod *m = MOD(L);
    coio_loop *loop = check_running(L, m);
    return spawn_at(L, m, loop, NULL, 1);
}

static int l_current_task(lua_State *L) {
    Mod *m = MOD(L);
    coio_loop *loop = running_loop(m);
    coio_future *t = loop ? coio_current_task(loop) : NULL;
    if (!t) {
        lua_pushnil(L);
        return 1;
    }
    push_future(L, t, K_PLAIN, 0);
    return 1;
}

/* ---- Future methods ---------------------------------------------------------------------- */

static int f_done(lua_State *L) {
    lua_pushboolean(L, coio_future_done(checkfut(L, 1)->f));
    return 1;
}

static int f_cancelled(lua_State *L) {
    lua_pushboolean(L, coio_future_cancelled(checkfut(L, 1)->f));
    return 1;
}

static int f_result(lua_State *L) {
    LFut *u = checkfut(L, 1);
    return push_outcome(L, MOD(L), u->f, u->kind, 1, coio_future_result(u->f, NULL));
}

/* f:error(): nil if the future succeeded; else the error value and code (cancelled: a
 * CancelledError).  nil, msg, ESTATE while pending. */
static int f_error(lua_State *L) {
    Mod *m = MOD(L);
    LFut *u = checkfut(L, 1);
    int st = coio_future_result(u->f, NULL);
    if (st == COIO_OK) {
        lua_pushnil(L);
        return 1;
    }
    if (st == COIO_ECANCELLED) {
        const char *msg = NULL;
        coio_future_error(u->f, NULL, &msg);
        push_cancelled(L, m, msg);
        lua_pushinteger(L, COIO_ECANCELLED);
        return 2;
    }
    if (st != COIO_EFAILED) return fail(L, st);
    push_error(L, m, u->f);
    lua_remove(L, -3);
    return 2;
}

static int f_set_result(lua_State *L) {
    Mod *m = MOD(L);
    LFut *u = checkfut(L, 1);
    LVal *v = lval_new(L, m, lua_gettop(L) - 1);
    int rc = coio_future_set_result_repr(u->f, v, lval_drop, lval_repr);
    if (rc != COIO_OK) {
        lval_drop(v);
        return fail(L, rc);
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* f:set_error(value[, code]): value is any Lua value (the message is its string form). */
static int f_set_error(lua_State *L) {
    Mod *m = MOD(L);
    LFut *u = checkfut(L, 1);
    luaL_checkany(L, 2);
    int code = (int)luaL_optinteger(L, 3, COIO_EFAILED);
    if (code == 0) return luaL_argerror(L, 3, "the error code must not be 0");
    lua_settop(L, 2);
    push_errstring(L, 2);
    lua_pushvalue(L, 2);
    LVal *v = lval_new(L, m, 1);
    if (v) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, m->payload_ref);
        lua_pushlightuserdata(L, v);
        lua_pushboolean(L, 1);
        lua_rawset(L, -3);
        lua_pop(L, 1);
    }
    int rc =
        coio_future_set_error_payload(u->f, code, lua_tostring(L, 3), v, v ? payload_drop : NULL);
    if (rc != COIO_OK) {
        payload_drop(v);
        return fail(L, rc);
    }
    lua_pushboolean(L, 1);
    return 1;
}

static int f_cancel(lua_State *L) {
    LFut *u = checkfut(L, 1);
    const char *msg = luaL_optstring(L, 2, NULL);
    int rc = coio_future_cancel(u->f, msg);
    if (rc < 0) return fail(L, rc);
    lua_pushboolean(L, rc == 1);
    return 1;
}

/* The done callback: fn(future), the future's userdata found (or made) under protection. */
static int donecb_p(lua_State *L) {
    LCb *c = lua_touserdata(L, 1);
    coio_future *f = lua_touserdata(L, 2);
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->ref);
    push_future(L, f, K_PLAIN, 0);
    lua_call(L, 1, 0);
    return 0;
}

static void donecb_run(coio_future *f, void *p) {
    LCb *c = p;
    Mod *m = c->m;
    lua_State *L = m->L;
    int top = lua_gettop(L);
    if (!lua_checkstack(L, 8)) return;
    push_entry(L, m, FN_DONECB);
    lua_pushlightuserdata(L, c);
    lua_pushlightuserdata(L, f);
    if (lua_pcall(L, 2, 0, 0) != 0) report_error(L, m, c->loop, "Exception in callback", f);
    lua_settop(L, top);
}

static int f_add_done_callback(lua_State *L) {
    Mod *m = MOD(L);
    LFut *u = checkfut(L, 1);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_settop(L, 2);
    LCb *c = cb_new(L, m, coio_future_loop(u->f), 2);
    int rc = coio_future_add_done_callback(u->f, donecb_run, c, cb_drop);
    if (rc != COIO_OK) {
        cb_drop(c);
        return fail(L, rc);
    }
    /* Remember (lightuserdata c -> fn) in the future's uservalue, for remove_done_callback. */
    if (!get_uvtable(L, 1)) {
        lua_newtable(L);
        lua_pushvalue(L, -1);
        setuv(L, 1);
    }
    lua_getfield(L, -1, "callbacks");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setfield(L, -3, "callbacks");
    }
    lua_pushlightuserdata(L, c);
    lua_pushvalue(L, 2);
    lua_rawset(L, -3);
    lua_pushboolean(L, 1);
    return 1;
}

static int f_remove_done_callback(lua_State *L) {
    LFut *u = checkfut(L, 1);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    int removed = 0;
    if (get_uvtable(L, 1)) {
        lua_getfield(L, -1, "callbacks");
        if (lua_istable(L, -1)) {
            int cbs = lua_gettop(L);
            lua_newtable(L); /* the keys to forget */
            int gone = lua_gettop(L);
            lua_pushnil(L);
            while (lua_next(L, cbs)) {
                if (lua_rawequal(L, -1, 2)) {
                    int rc =
                        coio_future_remove_done_callback(u->f, donecb_run, lua_touserdata(L, -2));
                    if (rc > 0) removed += rc;
                    lua_pushvalue(L, -2);
                    lua_pushboolean(L, 1);
                    lua_rawset(L, gone);
                }
                lua_pop(L, 1);
            }
            lua_pushnil(L);
            while (lua_next(L, gone)) {
                lua_pop(L, 1);
                lua_pushvalue(L, -1);
                lua_pushnil(L);
                lua_rawset(L, cbs);
            }
        }
    }
    lua_pushinteger(L, removed);
    return 1;
}

static void push_loop(lua_State *L, coio_loop *loop) {
    cache_get(L, loop);
}

static int f_get_loop(lua_State *L) {
    push_loop(L, coio_future_loop(checkfut(L, 1)->f));
    return 1;
}

static int f_is_task(lua_State *L) {
    lua_pushboolean(L, coio_future_is_task(checkfut(L, 1)->f));
    return 1;
}

static int t_get_name(lua_State *L) {
    lua_pushstring(L, coio_task_name(checktask(L, 1)));
    return 1;
}

static int t_set_name(lua_State *L) {
    coio_future *t = checktask(L, 1);
    int rc = coio_task_set_name(t, luaL_checkstring(L, 2));
    if (rc != COIO_OK) return fail(L, rc);
    lua_pushboolean(L, 1);
    return 1;
}

static int t_cancelling(lua_State *L) {
    lua_pushinteger(L, coio_task_cancelling(checktask(L, 1)));
    return 1;
}

static int t_uncancel(lua_State *L) {
    lua_pushinteger(L, coio_task_uncancel(checktask(L, 1)));
    return 1;
}

static int f_release(lua_State *L) {
    LFut *u = tofut(L, 1);
    if (u && u->f) {
        cache_forget(L, u->f, 1);
        coio_future *f = u->f;
        u->f = NULL;
        coio_future_release(f);
    }
    return 0;
}

/* asyncio's repr (coio_future_repr), e.g. <Future finished result='Future is done!'>. */
static int f_tostring(lua_State *L) {
    LFut *u = tofut(L, 1);
    if (!u || !u->f) {
        lua_pushliteral(L, "<coio.Future released>");
        return 1;
    }
    char small[256];
    long n = coio_future_repr(u->f, small, sizeof small);
    if (n < 0) return luaL_error(L, "coio_future_repr: %s", coio_strerror((int)n));
    if ((size_t)n < sizeof small) {
        lua_pushlstring(L, small, (size_t)n);
        return 1;
    }
    char *big = newud(L, (size_t)n + 1);
    n = coio_future_repr(u->f, big, (size_t)n + 1);
    lua_pushlstring(L, big, n < 0 ? 0 : (size_t)n);
    return 1;
}

static int f_eq(lua_State *L) {
    LFut *a = tofut(L, 1), *b = tofut(L, 2);
    lua_pushboolean(L, a && b && a->f && a->f == b->f);
    return 1;
}

/* ---- Loop ---------------------------------------------------------------------------------- */

static coio_loop *checkloop(lua_State *L, int i) {
    LLoop *l = luaL_checkudata(L, i, MT_LOOP);
    if (!l->loop) luaL_argerror(L, i, "the loop was released");
    return l->loop;
}

static int getopt_bool(lua_State *L, int t, const char *k) {
    if (!lua_istable(L, t)) return 0;
    lua_getfield(L, t, k);
    int b = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return b;
}

/* coio.new_event_loop([{virtual_time=, debug=, slow_callback_duration=}]) */
static int l_new_loop(lua_State *L) {
    coio_loop_options o = COIO_LOOP_OPTIONS_INIT;
    if (!lua_isnoneornil(L, 1)) {
        luaL_checktype(L, 1, LUA_TTABLE);
        if (getopt_bool(L, 1, "virtual_time")) o.flags |= COIO_LOOP_VIRTUAL_TIME;
        if (getopt_bool(L, 1, "debug")) o.flags |= COIO_LOOP_DEBUG;
        lua_getfield(L, 1, "slow_callback_duration");
        if (!lua_isnil(L, -1)) o.slow_callback_duration = luaL_checknumber(L, -1);
        lua_pop(L, 1);
    }
    LLoop *l = newud(L, sizeof *l);
    l->loop = NULL;
    luaL_setmetatable(L, MT_LOOP);
    coio_loop *loop = NULL;
    int rc = coio_loop_new(&loop, &o);
    if (rc != COIO_OK) return fail(L, rc);
    l->loop = loop;
    cache_set(L, loop, -1);
    return 1;
}

static int loop_release(lua_State *L) {
    LLoop *l = luaL_checkudata(L, 1, MT_LOOP);
    if (!l->loop) return 0;
    int rc = coio_loop_release(l->loop);
    if (rc != COIO_OK) return fail(L, rc); /* running: nothing done */
    cache_forget(L, l->loop, 1);
    l->loop = NULL;
    lua_pushboolean(L, 1);
    return 1;
}

static int loop_gc(lua_State *L) {
    LLoop *l = luaL_checkudata(L, 1, MT_LOOP);
    if (l->loop && coio_loop_release(l->loop) == COIO_OK) l->loop = NULL;
    return 0;
}

/* Runs loop with m->running set. */
static int run_guarded(Mod *m, coio_loop *loop, coio_future *f) {
    coio_loop *prev = m->running;
    m->running = loop;
    int rc = f ? coio_loop_run_until_complete(loop, f) : coio_loop_run_forever(loop);
    m->running = prev;
    return rc;
}

/* loop:run_until_complete(future | fn, ...) */
static int loop_run_until_complete(lua_State *L) {
    Mod *m = MOD(L);
    coio_loop *loop = checkloop(L, 1);
    if (lua_isfunction(L, 2)) {
        int n = spawn_at(L, m, loop, NULL, 2);
        if (n != 1) return n;
        lua_replace(L, 2);
        lua_settop(L, 2);
    }
    LFut *u = checkfut(L, 2);
    int rc = run_guarded(m, loop, u->f);
    return push_outcome(L, m, u->f, u->kind, 2, rc);
}

static int loop_run_forever(lua_State *L) {
    Mod *m = MOD(L);
    int rc = run_guarded(m, checkloop(L, 1), NULL);
    if (rc != COIO_OK) return fail(L, rc);
    lua_pushboolean(L, 1);
    return 1;
}

static int status_result(lua_State *L, int rc) {
    if (rc < 0) return fail(L, rc);
    lua_pushboolean(L, 1);
    return 1;
}

static int loop_stop(lua_State *L) {
    return status_result(L, coio_loop_stop(checkloop(L, 1)));
}
static int loop_close(lua_State *L) {
    return status_result(L, coio_loop_close(checkloop(L, 1)));
}

static int loop_time(lua_State *L) {
    lua_pushnumber(L, coio_loop_time(checkloop(L, 1)));
    return 1;
}

static int loop_is_running(lua_State *L) {
    lua_pushboolean(L, coio_loop_is_running(checkloop(L, 1)));
    return 1;
}

static int loop_is_closed(lua_State *L) {
    LLoop *l = luaL_checkudata(L, 1, MT_LOOP);
    lua_pushboolean(L, !l->loop || coio_loop_is_closed(l->loop));
    return 1;
}

static int loop_get_debug(lua_State *L) {
    lua_pushboolean(L, coio_loop_get_debug(checkloop(L, 1)));
    return 1;
}

static int loop_set_debug(lua_State *L) {
    return status_result(L, coio_loop_set_debug(checkloop(L, 1), lua_toboolean(L, 2)));
}

static void push_handle(lua_State *L, coio_handle *h) {
    LHandle *u = newud(L, sizeof *u);
    u->h = h;
    luaL_setmetatable(L, MT_HANDLE);
}

/* Pushes a handle userdata first (so that a failure to allocate it leaks nothing), then
 * schedules. */
static int schedule(lua_State *L, int which, coio_loop *loop, double t, int first) {
    Mod *m = MOD(L);
    luaL_checktype(L, first, LUA_TFUNCTION);
    push_handle(L, NULL);
    lua_insert(L, first); /* keep the arguments last */
    LHandle *u = lua_touserdata(L, first);
    LCb *c = cb_new(L, m, loop, first + 1);
    coio_handle *h = NULL;
    int rc = which == 0   ? coio_call_soon(loop, cb_run, c, cb_drop, &h)
             : which == 1 ? coio_call_later(loop, t, cb_run, c, cb_drop, &h)
                          : coio_call_at(loop, t, cb_run, c, cb_drop, &h);
    if (rc != COIO_OK) {
        cb_drop(c);
        return fail(L, rc);
    }
    u->h = h;
    lua_pushvalue(L, first);
    return 1;
}

static int loop_call_soon(lua_State *L) {
    return schedule(L, 0, checkloop(L, 1), 0, 2);
}

static int loop_call_later(lua_State *L) {
    return schedule(L, 1, checkloop(L, 1), luaL_checknumber(L, 2), 3);
}

static int loop_call_at(lua_State *L) {
    return schedule(L, 2, checkloop(L, 1), luaL_checknumber(L, 2), 3);
}

static int loop_create_future(lua_State *L) {
    coio_future *f = NULL;
    int rc = coio_future_new(checkloop(L, 1), &f);
    if (rc != COIO_OK) return fail(L, rc);
    push_future(L, f, K_PLAIN, 1);
    return 1;
}

static int loop_create_task(lua_State *L) {
    Mod *m = MOD(L);
    return spawn_at(L, m, checkloop(L, 1), NULL, 2);
}

/* The context table of the exception handler (protected). */
static int handler_p(lua_State *L) {
    const coio_exception_context *ctx = lua_touserdata(L, 1);
    HandlerArg *h = lua_touserdata(L, 2);
    coio_loop *loop = lua_touserdata(L, 3);
    Mod *m = h->m;
    lua_rawgeti(L, LUA_REGISTRYINDEX, h->ref);
    lua_rawgeti(L, LUA_REGISTRYINDEX, m->cache_ref);
    lua_pushlightuserdata(L, loop);
    lua_rawget(L, -2);
    lua_remove(L, -2);
    lua_createtable(L, 0, 6);
    lua_pushstring(L, ctx->message);
    lua_setfield(L, -2, "message");
    if (ctx->code) {
        lua_pushinteger(L, ctx->code);
        lua_setfield(L, -2, "code");
    }
    if (ctx->error) {
        lua_pushstring(L, ctx->error);
        lua_setfield(L, -2, "error");
    }
    if (m->exc_ref != LUA_NOREF) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, m->exc_ref);
        lua_setfield(L, -2, "exception");
    }
    if (ctx->future) {
        push_future(L, ctx->future, K_PLAIN, 0);
        lua_setfield(L, -2, "future");
    }
    lua_call(L, 2, 0);
    return 0;
}

static void exc_handler(coio_loop *loop, const coio_exception_context *ctx, void *arg) {
    HandlerArg *h = arg;
    lua_State *L = h->m->L;
    int top = lua_gettop(L);
    if (!lua_checkstack(L, 16)) return;
    push_entry(L, h->m, FN_HANDLER);
    lua_pushlightuserdata(L, (void *)ctx);
    lua_pushlightuserdata(L, h);
    lua_pushlightuserdata(L, loop);
    if (lua_pcall(L, 3, 0, 0) != 0)
        fprintf(stderr, "coio: error in the exception handler: %s\n",
                lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "(not a string)");
    lua_settop(L, top);
}

/* loop:set_exception_handler(fn | nil); fn(loop, context) */
static int loop_set_exception_handler(lua_State *L) {
    Mod *m = MOD(L);
    coio_loop *loop = checkloop(L, 1);
    if (lua_isnoneornil(L, 2))
        return status_result(L, coio_loop_set_exception_handler(loop, NULL, NULL, NULL));
    luaL_checktype(L, 2, LUA_TFUNCTION);
    HandlerArg *h = malloc(sizeof *h);
    if (!h) return luaL_error(L, "out of memory");
    h->m = m;
    lua_pushvalue(L, 2);
    h->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    int rc = coio_loop_set_exception_handler(loop, exc_handler, h, handler_drop);
    if (rc != COIO_OK) handler_drop(h);
    return status_result(L, rc);
}

static int loop_get_exception_handler(lua_State *L) {
    coio_exception_handler fn = NULL;
    void *arg = NULL;
    int rc = coio_loop_get_exception_handler(checkloop(L, 1), &fn, &arg);
    if (rc != COIO_OK) return fail(L, rc);
    if (fn != exc_handler) {
        lua_pushnil(L);
        return 1;
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, ((HandlerArg *)arg)->ref);
    return 1;
}

static void ctx_from_table(lua_State *L, int t, coio_exception_context *ctx) {
    luaL_checktype(L, t, LUA_TTABLE);
    lua_getfield(L, t, "message");
    ctx->message = luaL_checkstring(L, -1); /* the table keeps it */
    lua_getfield(L, t, "error");
    ctx->error = lua_tostring(L, -1);
    lua_getfield(L, t, "code");
    ctx->code = (int)lua_tointeger(L, -1);
    lua_getfield(L, t, "future");
    LFut *u = tofut(L, lua_gettop(L));
    ctx->future = u ? u->f : NULL;
    lua_pop(L, 4);
}

/* loop:call_exception_handler({message=, error=, code=, future=}) */
static int loop_call_exception_handler(lua_State *L) {
    coio_loop *loop = checkloop(L, 1);
    coio_exception_context ctx = COIO_EXCEPTION_CONTEXT_INIT;
    ctx_from_table(L, 2, &ctx);
    return status_result(L, coio_loop_call_exception_handler(loop, &ctx));
}

static int loop_default_exception_handler(lua_State *L) {
    coio_loop *loop = checkloop(L, 1);
    coio_exception_context ctx = COIO_EXCEPTION_CONTEXT_INIT;
    ctx_from_table(L, 2, &ctx);
    return status_result(L, coio_loop_default_exception_handler(loop, &ctx));
}

static int loop_all_tasks(lua_State *L) {
    coio_loop *loop = checkloop(L, 1);
    long n = coio_loop_all_tasks(loop, NULL, 0);
    if (n < 0) return fail(L, (int)n);
    coio_future **a = newud(L, sizeof *a * (size_t)(n + 1));
    long got = coio_loop_all_tasks(loop, a, (size_t)n);
    if (got > n) got = n;
    lua_createtable(L, (int)got, 0);
    for (long i = 0; i < got; i++) {
        push_future(L, a[i], K_PLAIN, 1);
        lua_rawseti(L, -2, (int)i + 1);
    }
    return 1;
}

static int loop_tostring(lua_State *L) {
    LLoop *l = luaL_checkudata(L, 1, MT_LOOP);
    if (!l->loop)
        lua_pushliteral(L, "coio.Loop (released)");
    else
        lua_pushfstring(L, "coio.Loop running=%s closed=%s: %p",
                        coio_loop_is_running(l->loop) ? "true" : "false",
                        coio_loop_is_closed(l->loop) ? "true" : "false", (void *)l->loop);
    return 1;
}

static int l_get_running_loop(lua_State *L) {
    Mod *m = MOD(L);
    coio_loop *loop = running_loop(m);
    if (!loop) {
        lua_pushnil(L);
        lua_pushliteral(L, "no running event loop");
        lua_pushinteger(L, COIO_ESTATE);
        return 3;
    }
    push_loop(L, loop);
    return 1;
}

/* ---- Handles ------------------------------------------------------------------------------ */

static coio_handle *checkhandle(lua_State *L, int i) {
    LHandle *u = luaL_checkudata(L, i, MT_HANDLE);
    if (!u->h) luaL_argerror(L, i, "the handle was released");
    return u->h;
}

static int h_cancel(lua_State *L) {
    return status_result(L, coio_handle_cancel(checkhandle(L, 1)));
}

static int h_cancelled(lua_State *L) {
    lua_pushboolean(L, coio_handle_cancelled(checkhandle(L, 1)));
    return 1;
}

static int h_when(lua_State *L) {
    double w = 0;
    int rc = coio_handle_when(checkhandle(L, 1), &w);
    if (rc != COIO_OK) return fail(L, rc);
    lua_pushnumber(L, w);
    return 1;
}

static int h_release(lua_State *L) {
    LHandle *u = luaL_checkudata(L, 1, MT_HANDLE);
    coio_handle *h = u->h;
    u->h = NULL;
    coio_handle_release(h);
    return 0;
}

static int h_tostring(lua_State *L) {
    LHandle *u = luaL_checkudata(L, 1, MT_HANDLE);
    lua_pushfstring(L, "coio.Handle%s: %p", u->h && coio_handle_cancelled(u->h) ? " cancelled" : "",
                    (void *)u->h);
    return 1;
}

/* ---- Combinators -------------------------------------------------------------------------- */

/* Collects futures into a new table at the top: from a list at `first` (when it is a plain
 * table) or from the arguments first..last.  Functions are spawned as tasks.  Returns the
 * count; *arr gets a C array (a userdata kept at the top, below nothing: index top-0 is the
 * array, top-1 the table). */
static int collect(lua_State *L, Mod *m, int first, int last, coio_future ***arr,
                   coio_loop **loop) {
    int list = lua_istable(L, first) && !tofut(L, first);
    int n = list ? (int)rawlen(L, first) : last - first + 1;
    if (n < 0) n = 0;
    lua_createtable(L, n, 1);
    int t = lua_gettop(L);
    for (int i = 1; i <= n; i++) {
        if (list)
            lua_rawgeti(L, first, i);
        else
            lua_pushvalue(L, first + i - 1);
        if (lua_isfunction(L, -1)) {
            coio_loop *lp = check_running(L, m);
            int top = lua_gettop(L);
            if (spawn_at(L, m, lp, NULL, top) != 1)
                luaL_error(L, "cannot spawn: %s", lua_tostring(L, -2));
            lua_replace(L, top);
        }
        if (!tofut(L, -1)) luaL_error(L, "element %d is not a coio future or function", i);
        lua_rawseti(L, t, i);
    }
    coio_future **a = newud(L, sizeof *a * (size_t)(n + 1));
    for (int i = 1; i <= n; i++) {
        lua_rawgeti(L, t, i);
        a[i - 1] = checkfut(L, lua_gettop(L))->f;
        lua_pop(L, 1);
    }
    *arr = a;
    if (loop) *loop = n ? coio_future_loop(a[0]) : check_running(L, m);
    return n;
}

/* coio.gather(f1, f2, ...) or coio.gather({f1, f2, ...}[, {return_exceptions = true}]) */
static int l_gather(lua_State *L) {
    Mod *m = MOD(L);
    int top = lua_gettop(L);
    int list = top >= 1 && lua_istable(L, 1) && !tofut(L, 1);
    unsigned flags = list && getopt_bool(L, 2, "return_exceptions") ? COIO_RETURN_EXCEPTIONS : 0;
    coio_future **a;
    coio_loop *loop;
    int n = collect(L, m, 1, top, &a, &loop);
    coio_future *out = NULL;
    int rc = coio_gather(loop, a, (size_t)n, flags, &out);
    if (rc != COIO_OK) return fail(L, rc);
    lua_pop(L, 1); /* the array; the table of children becomes the uservalue */
    lua_pushboolean(L, flags != 0);
    lua_setfield(L, -2, "return_exceptions");
    push_future_uv(L, out, K_GATHER);
    return 1;
}

static double opt_timeout(lua_State *L, int t) {
    double timeout = COIO_NO_TIMEOUT;
    if (lua_istable(L, t)) {
        lua_getfield(L, t, "timeout");
        if (!lua_isnil(L, -1)) timeout = luaL_checknumber(L, -1);
        lua_pop(L, 1);
    } else if (!lua_isnoneornil(L, t)) {
        timeout = luaL_checknumber(L, t);
    }
    return timeout;
}

/* coio.wait(list[, {timeout =, return_when = "FIRST_COMPLETED" | ...}]) */
static int l_wait(lua_State *L) {
    Mod *m = MOD(L);
    luaL_checktype(L, 1, LUA_TTABLE);
    double timeout = opt_timeout(L, 2);
    int when = COIO_ALL_COMPLETED;
    if (lua_istable(L, 2)) {
        lua_getfield(L, 2, "return_when");
        if (lua_isnumber(L, -1)) {
            when = (int)lua_tointeger(L, -1);
        } else if (lua_isstring(L, -1)) {
            const char *s = lua_tostring(L, -1);
            when = !strcmp(s, "FIRST_COMPLETED")   ? COIO_FIRST_COMPLETED
                   : !strcmp(s, "FIRST_EXCEPTION") ? COIO_FIRST_EXCEPTION
                   : !strcmp(s, "ALL_COMPLETED")   ? COIO_ALL_COMPLETED
                                                   : luaL_argerror(L, 2, "unknown return_when");
        }
        lua_pop(L, 1);
    }
    lua_settop(L, 1);
    coio_future **a;
    coio_loop *loop;
    int n = collect(L, m, 1, 1, &a, &loop);
    coio_future *out = NULL;
    int rc = coio_wait(loop, a, (size_t)n, timeout, when, &out);
    if (rc != COIO_OK) return fail(L, rc);
    lua_pop(L, 1);
    push_future_uv(L, out, K_WAIT);
    return 1;
}

/* coio.wait_for(f | fn, timeout) and coio.shield(f | fn) */
static int delegate(lua_State *L, int shield) {
    Mod *m = MOD(L);
    if (lua_isfunction(L, 1)) {
        lua_pushvalue(L, 1);
        if (spawn_at(L, m, check_running(L, m), NULL, lua_gettop(L)) != 1) return 3;
        lua_replace(L, 1);
        lua_pop(L, 1);
    }
    LFut *u = checkfut(L, 1);
    coio_future *out = NULL;
    int rc =
        shield ? coio_shield(u->f, &out)
               : coio_wait_for(
                     u->f, lua_isnoneornil(L, 2) ? COIO_NO_TIMEOUT : luaL_checknumber(L, 2), &out);
    if (rc != COIO_OK) return fail(L, rc);
    if (out == u->f) { /* shield of a done future: the future itself */
        coio_future_release(out);
        lua_pushvalue(L, 1);
        return 1;
    }
    lua_pushvalue(L, 1);
    push_future_val(L, out, K_DELEGATE);
    return 1;
}

static int l_wait_for(lua_State *L) {
    return delegate(L, 0);
}
static int l_shield(lua_State *L) {
    return delegate(L, 1);
}

typedef struct LAsc {
    coio_as_completed_iter *it;
} LAsc;

/* coio.as_completed(list[, timeout]): an iterator of futures, in completion order. */
static int l_as_completed(lua_State *L) {
    Mod *m = MOD(L);
    luaL_checktype(L, 1, LUA_TTABLE);
    double timeout = opt_timeout(L, 2);
    lua_settop(L, 1);
    LAsc *u = newud(L, sizeof *u);
    u->it = NULL;
    luaL_setmetatable(L, MT_ASC);
    coio_future **a;
    coio_loop *loop;
    int n = collect(L, m, 1, 1, &a, &loop);
    int rc = coio_as_completed(loop, a, (size_t)n, timeout, &u->it);
    if (rc != COIO_OK) return fail(L, rc);
    lua_pop(L, 1);
    setuv(L, 2); /* the futures stay alive (and keep their userdata) with the iterator */
    return 1;
}

static int asc_next(lua_State *L) {
    LAsc *u = luaL_checkudata(L, 1, MT_ASC);
    if (!u->it) return luaL_argerror(L, 1, "the iterator was freed");
    coio_future *next = NULL;
    int rc = coio_as_completed_next(u->it, &next);
    if (rc == COIO_ESTATE) {
        lua_pushnil(L);
        return 1;
    }
    if (rc != COIO_OK) return fail(L, rc);
    lua_pushvalue(L, 1);
    push_future_val(L, next, K_ASNEXT);
    return 1;
}

static int asc_free(lua_State *L) {
    LAsc *u = luaL_checkudata(L, 1, MT_ASC);
    coio_as_completed_iter *it = u->it;
    u->it = NULL;
    coio_as_completed_free(it);
    return 0;
}

/* ---- Timeout scopes and task groups (used by the Lua wrappers) ---------------------------- */

typedef struct LPtr {
    void *p;
} LPtr;

/* _timeout_enter(delay_or_when, absolute) */
static int l_timeout_enter(lua_State *L) {
    Mod *m = MOD(L);
    double t = luaL_checknumber(L, 1);
    int at = lua_toboolean(L, 2);
    LTask *task = check_task_here(L, m);
    LPtr *u = newud(L, sizeof *u);
    u->p = NULL;
    luaL_setmetatable(L, MT_TM);
    coio_timeout *tm = NULL;
    coio_loop *loop = coio_future_loop(task->task);
    int rc = at ? coio_timeout_enter_at(loop, t, &tm) : coio_timeout_enter(loop, t, &tm);
    if (rc != COIO_OK) return fail(L, rc);
    u->p = tm;
    return 1;
}

/* _timeout_exit(scope, status) -> status */
static int l_timeout_exit(lua_State *L) {
    LPtr *u = luaL_checkudata(L, 1, MT_TM);
    int status = (int)luaL_checkinteger(L, 2);
    if (!u->p) return luaL_argerror(L, 1, "the scope was left");
    int rc = coio_timeout_exit(u->p, status);
    if (rc == COIO_ESTATE && status != COIO_ESTATE)
        return luaL_error(L, "timeout scope left from another task");
    u->p = NULL;
    lua_pushinteger(L, rc);
    return 1;
}

static int tm_when(lua_State *L) {
    coio_timeout *tm = checkobj(L, 1, MT_TM);
    double w = 0;
    int rc = coio_timeout_when(tm, &w);
    if (rc != COIO_OK) return fail(L, rc);
    lua_pushnumber(L, w);
    return 1;
}

static int tm_reschedule(lua_State *L) {
    coio_timeout *tm = checkobj(L, 1, MT_TM);
    double when = lua_isnoneornil(L, 2) ? HUGE_VAL : luaL_checknumber(L, 2);
    return status_result(L, coio_timeout_reschedule(tm, when));
}

static int tm_expired(lua_State *L) {
    coio_timeout *tm = checkobj(L, 1, MT_TM);
    lua_pushboolean(L, coio_timeout_expired(tm));
    return 1;
}

static int l_task_group_new(lua_State *L) {
    Mod *m = MOD(L);
    LTask *task = check_task_here(L, m);
    LPtr *u = newud(L, sizeof *u);
    u->p = NULL;
    luaL_setmetatable(L, MT_TG);
    coio_task_group *g = NULL;
    int rc = coio_task_group_new(coio_future_loop(task->task), &g);
    if (rc != COIO_OK) return fail(L, rc);
    u->p = g;
    return 1;
}

static int tg_spawn(lua_State *L) {
    Mod *m = MOD(L);
    coio_task_group *g = checkobj(L, 1, MT_TG);
    return spawn_at(L, m, NULL, g, 2);
}

static int tg_exit(lua_State *L) {
    coio_task_group *g = checkobj(L, 1, MT_TG);
    int status = (int)luaL_checkinteger(L, 2);
    coio_future *out = NULL;
    int rc = coio_task_group_exit(g, status, &out);
    if (rc != COIO_OK) return fail(L, rc);
    push_future(L, out, K_PLAIN, 1);
    return 1;
}

/* tg:errors(): the error values of the children that failed, in failure order. */
static int tg_errors(lua_State *L) {
    Mod *m = MOD(L);
    coio_task_group *g = checkobj(L, 1, MT_TG);
    long n = coio_task_group_errors(g, NULL, 0);
    if (n < 0) return fail(L, (int)n);
    coio_future **a = newud(L, sizeof *a * (size_t)(n + 1));
    long got = coio_task_group_errors(g, a, (size_t)n);
    if (got > n) got = n;
    lua_createtable(L, (int)got, 0);
    int t = lua_gettop(L);
    for (long i = 0; i < got; i++) {
        push_error(L, m, a[i]);
        lua_pop(L, 1);
        lua_rawseti(L, t, (int)i + 1);
        lua_pop(L, 1);
        coio_future_release(a[i]);
    }
    return 1;
}

static int tg_free(lua_State *L) {
    LPtr *u = luaL_checkudata(L, 1, MT_TG);
    coio_task_group *g = u->p;
    u->p = NULL;
    coio_task_group_free(g);
    return 0;
}

static int tm_free(lua_State *L) {
    /* A scope never left belongs to its task, which frees it when it ends. */
    LPtr *u = luaL_checkudata(L, 1, MT_TM);
    u->p = NULL;
    return 0;
}

/* ---- Synchronisation primitives and queues ------------------------------------------------ */

/* The loop for a constructor: a loop given as the first argument (shifting the rest), else the
 * running loop. */
static coio_loop *ctor_loop(lua_State *L, Mod *m, int *base) {
    LLoop *l = luaL_testudata(L, 1, MT_LOOP);
    if (l) {
        if (!l->loop) luaL_argerror(L, 1, "the loop was released");
        *base = 2;
        return l->loop;
    }
    *base = 1;
    return check_running(L, m);
}

/* The object userdata at the top gets p, or the failure triple is returned. */
static int new_obj(lua_State *L, int rc, void *p) {
    if (rc != COIO_OK) return fail(L, rc);
    LPtr *u = lua_touserdata(L, -1);
    u->p = p;
    return 1;
}

static LPtr *push_obj(lua_State *L, const char *mt) {
    LPtr *u = newud(L, sizeof *u);
    u->p = NULL;
    luaL_setmetatable(L, mt);
    return u;
}

static int l_event(lua_State *L) {
    int b;
    coio_loop *loop = ctor_loop(L, MOD(L), &b);
    push_obj(L, MT_EVENT);
    coio_event *e = NULL;
    int rc = coio_event_new(loop, &e);
    return new_obj(L, rc, e);
}

static int l_lock(lua_State *L) {
    int b;
    coio_loop *loop = ctor_loop(L, MOD(L), &b);
    push_obj(L, MT_LOCK);
    coio_lock *l = NULL;
    int rc = coio_lock_new(loop, &l);
    return new_obj(L, rc, l);
}

static int semaphore(lua_State *L, unsigned flags) {
    int b;
    coio_loop *loop = ctor_loop(L, MOD(L), &b);
    lua_Integer v = luaL_optinteger(L, b, 1);
    if (v < 0 || v > (lua_Integer)UINT32_MAX) return luaL_argerror(L, b, "value out of range");
    push_obj(L, MT_SEM);
    coio_semaphore *s = NULL;
    int rc = coio_semaphore_new(loop, (unsigned)v, flags, &s);
    return new_obj(L, rc, s);
}

static int l_semaphore(lua_State *L) {
    return semaphore(L, 0);
}
static int l_bounded_semaphore(lua_State *L) {
    return semaphore(L, COIO_SEMAPHORE_BOUNDED);
}

/* coio.condition([lock]) */
static int l_condition(lua_State *L) {
    int b;
    coio_loop *loop = ctor_loop(L, MOD(L), &b);
    coio_lock *lk = lua_isnoneornil(L, b) ? NULL : checkobj(L, b, MT_LOCK);
    push_obj(L, MT_COND);
    coio_condition *c = NULL;
    int rc = coio_condition_new(loop, lk, &c);
    return new_obj(L, rc, c);
}

static int l_barrier(lua_State *L) {
    int b;
    coio_loop *loop = ctor_loop(L, MOD(L), &b);
    lua_Integer n = luaL_checkinteger(L, b);
    if (n < 0 || n > (lua_Integer)UINT32_MAX) return luaL_argerror(L, b, "parties out of range");
    push_obj(L, MT_BARRIER);
    coio_barrier *x = NULL;
    int rc = coio_barrier_new(loop, (unsigned)n, &x);
    return new_obj(L, rc, x);
}

static int queue_new(lua_State *L, int kind) {
    int b;
    coio_loop *loop = ctor_loop(L, MOD(L), &b);
    lua_Integer n = luaL_optinteger(L, b, 0);
    if (n < 0) return luaL_argerror(L, b, "maxsize must not be negative");
    push_obj(L, MT_QUEUE);
    coio_queue *q = NULL;
    int rc = coio_queue_new(loop, kind, (size_t)n, &q);
    return new_obj(L, rc, q);
}

static int l_queue(lua_State *L) {
    return queue_new(L, COIO_QUEUE_FIFO);
}
static int l_lifo_queue(lua_State *L) {
    return queue_new(L, COIO_QUEUE_LIFO);
}
static int l_priority_queue(lua_State *L) {
    return queue_new(L, COIO_QUEUE_PRIORITY);
}

/* An await primitive over a wait function: the future it makes is awaited by this task. */
static int await_new(lua_State *L, int rc, coio_future **fp, int kind) {
    if (rc != COIO_OK) return fail(L, rc);
    LTask *t = check_task_here(L, MOD(L));
    return await_begin(L, t, *fp, kind);
}

/* Await primitives check they run in a task before making any future. */
#define IN_TASK(L) check_task_here((L), MOD(L))

static int ev_wait(lua_State *L) {
    coio_event *e = checkobj(L, 1, MT_EVENT);
    IN_TASK(L);
    coio_future *f = NULL;
    return await_new(L, coio_event_wait(e, &f), &f, K_TRUE);
}
static int ev_set(lua_State *L) {
    return status_result(L, coio_event_set(checkobj(L, 1, MT_EVENT)));
}
static int ev_clear(lua_State *L) {
    return status_result(L, coio_event_clear(checkobj(L, 1, MT_EVENT)));
}
static int ev_is_set(lua_State *L) {
    lua_pushboolean(L, coio_event_is_set(checkobj(L, 1, MT_EVENT)));
    return 1;
}

static int lk_acquire(lua_State *L) {
    coio_lock *l = checkobj(L, 1, MT_LOCK);
    IN_TASK(L);
    coio_future *f = NULL;
    return await_new(L, coio_lock_acquire(l, &f), &f, K_TRUE);
}
static int lk_release(lua_State *L) {
    return status_result(L, coio_lock_release(checkobj(L, 1, MT_LOCK)));
}
static int lk_locked(lua_State *L) {
    lua_pushboolean(L, coio_lock_locked(checkobj(L, 1, MT_LOCK)));
    return 1;
}

static int sem_acquire(lua_State *L) {
    coio_semaphore *s = checkobj(L, 1, MT_SEM);
    IN_TASK(L);
    coio_future *f = NULL;
    return await_new(L, coio_semaphore_acquire(s, &f), &f, K_TRUE);
}
static int sem_release(lua_State *L) {
    return status_result(L, coio_semaphore_release(checkobj(L, 1, MT_SEM)));
}
static int sem_locked(lua_State *L) {
    lua_pushboolean(L, coio_semaphore_locked(checkobj(L, 1, MT_SEM)));
    return 1;
}
static int sem_value(lua_State *L) {
    lua_pushinteger(L, coio_semaphore_value(checkobj(L, 1, MT_SEM)));
    return 1;
}

static int cond_acquire(lua_State *L) {
    coio_condition *c = checkobj(L, 1, MT_COND);
    IN_TASK(L);
    coio_future *f = NULL;
    return await_new(L, coio_lock_acquire(coio_condition_lock(c), &f), &f, K_TRUE);
}
static int cond_release(lua_State *L) {
    return status_result(L, coio_lock_release(coio_condition_lock(checkobj(L, 1, MT_COND))));
}
static int cond_locked(lua_State *L) {
    lua_pushboolean(L, coio_lock_locked(coio_condition_lock(checkobj(L, 1, MT_COND))));
    return 1;
}
static int cond_wait(lua_State *L) {
    coio_condition *c = checkobj(L, 1, MT_COND);
    IN_TASK(L);
    coio_future *f = NULL;
    return await_new(L, coio_condition_wait(c, &f), &f, K_TRUE);
}
static int cond_notify(lua_State *L) {
    coio_condition *c = checkobj(L, 1, MT_COND);
    lua_Integer n = luaL_optinteger(L, 2, 1);
    if (n < 0) return luaL_argerror(L, 2, "n must not be negative");
    return status_result(L, coio_condition_notify(c, (size_t)n));
}
static int cond_notify_all(lua_State *L) {
    return status_result(L, coio_condition_notify_all(checkobj(L, 1, MT_COND)));
}

static int bar_wait(lua_State *L) {
    coio_barrier *b = checkobj(L, 1, MT_BARRIER);
    IN_TASK(L);
    coio_future *f = NULL;
    return await_new(L, coio_barrier_wait(b, &f), &f, K_INDEX);
}
static int bar_reset(lua_State *L) {
    return status_result(L, coio_barrier_reset(checkobj(L, 1, MT_BARRIER)));
}
static int bar_abort(lua_State *L) {
    return status_result(L, coio_barrier_abort(checkobj(L, 1, MT_BARRIER)));
}
static int bar_parties(lua_State *L) {
    lua_pushinteger(L, coio_barrier_parties(checkobj(L, 1, MT_BARRIER)));
    return 1;
}
static int bar_n_waiting(lua_State *L) {
    lua_pushinteger(L, coio_barrier_n_waiting(checkobj(L, 1, MT_BARRIER)));
    return 1;
}
static int bar_broken(lua_State *L) {
    lua_pushboolean(L, coio_barrier_broken(checkobj(L, 1, MT_BARRIER)));
    return 1;
}

/* q:put(item[, priority]) awaits room; q:put_nowait(item[, priority]) */
static int q_put_common(lua_State *L, int nowait) {
    Mod *m = MOD(L);
    coio_queue *q = checkobj(L, 1, MT_QUEUE);
    luaL_checkany(L, 2);
    int prio = !lua_isnoneornil(L, 3);
    double p = prio ? luaL_checknumber(L, 3) : 0;
    if (!nowait) IN_TASK(L);
    lua_settop(L, 2);
    LVal *v = lval_new(L, m, 1);
    coio_future *f = NULL;
    int rc;
    if (nowait)
        rc = prio ? coio_queue_put_priority_nowait(q, p, v, lval_drop)
                  : coio_queue_put_nowait(q, v, lval_drop);
    else
        rc = prio ? coio_queue_put_priority(q, p, v, lval_drop, &f)
                  : coio_queue_put(q, v, lval_drop, &f);
    if (rc != COIO_OK) {
        lval_drop(v);
        return fail(L, rc);
    }
    if (nowait) {
        lua_pushboolean(L, 1);
        return 1;
    }
    return await_new(L, COIO_OK, &f, K_TRUE);
}

static int q_put(lua_State *L) {
    return q_put_common(L, 0);
}
static int q_put_nowait(lua_State *L) {
    return q_put_common(L, 1);
}

static int q_get(lua_State *L) {
    coio_queue *q = checkobj(L, 1, MT_QUEUE);
    IN_TASK(L);
    coio_future *f = NULL;
    return await_new(L, coio_queue_get(q, &f), &f, K_PLAIN);
}

static int q_get_nowait(lua_State *L) {
    coio_queue *q = checkobj(L, 1, MT_QUEUE);
    void *v = NULL;
    coio_free_fn drop = NULL;
    int rc = coio_queue_get_nowait(q, &v, &drop);
    if (rc != COIO_OK) return fail(L, rc);
    lval_push(L, v);
    if (drop) drop(v);
    return 1;
}

static int q_task_done(lua_State *L) {
    return status_result(L, coio_queue_task_done(checkobj(L, 1, MT_QUEUE)));
}

static int q_join(lua_State *L) {
    coio_queue *q = checkobj(L, 1, MT_QUEUE);
    IN_TASK(L);
    coio_future *f = NULL;
    return await_new(L, coio_queue_join(q, &f), &f, K_TRUE);
}

static int q_shutdown(lua_State *L) {
    return status_result(L, coio_queue_shutdown(checkobj(L, 1, MT_QUEUE), lua_toboolean(L, 2)));
}

static int q_qsize(lua_State *L) {
    lua_pushinteger(L, coio_queue_size(checkobj(L, 1, MT_QUEUE)));
    return 1;
}
static int q_maxsize(lua_State *L) {
    lua_pushinteger(L, coio_queue_maxsize(checkobj(L, 1, MT_QUEUE)));
    return 1;
}
static int q_empty(lua_State *L) {
    lua_pushboolean(L, coio_queue_empty(checkobj(L, 1, MT_QUEUE)));
    return 1;
}
static int q_full(lua_State *L) {
    lua_pushboolean(L, coio_queue_full(checkobj(L, 1, MT_QUEUE)));
    return 1;
}

/* __gc / __close / :free() of the primitives. */
#define FREE_FN(name, mt, freefn)                                                                  \
    static int name(lua_State *L) {                                                                \
        LPtr *u = luaL_checkudata(L, 1, mt);                                                       \
        void *p = u->p;                                                                            \
        u->p = NULL;                                                                               \
        freefn(p);                                                                                 \
        return 0;                                                                                  \
    }
FREE_FN(ev_free, MT_EVENT, coio_event_free)
FREE_FN(lk_free, MT_LOCK, coio_lock_free)
FREE_FN(sem_free, MT_SEM, coio_semaphore_free)
FREE_FN(cond_free, MT_COND, coio_condition_free)
FREE_FN(bar_free, MT_BARRIER, coio_barrier_free)
FREE_FN(q_free, MT_QUEUE, coio_queue_free)

/* ---- Module-level misc ---------------------------------------------------------------------- */

static int l_strerror(lua_State *L) {
    lua_pushstring(L, coio_strerror((int)luaL_checkinteger(L, 1)));
    return 1;
}

static int l_status_name(lua_State *L) {
    lua_pushstring(L, coio_status_name((int)luaL_checkinteger(L, 1)));
    return 1;
}

static int l_is_cancelled_error(lua_State *L) {
    lua_pushboolean(L, is_cancelled_value(L, MOD(L), 1));
    return 1;
}

/* coio.cancelled_error([msg]): a CancelledError value (raise it to end a task cancelled). */
static int l_cancelled_error(lua_State *L) {
    push_cancelled(L, MOD(L), luaL_optstring(L, 1, NULL));
    return 1;
}

/* _wrap(lightuserdata): the userdata of a coio future pointer (the exception handler's
 * context gets a pointer when no userdata exists yet). */
static int l_wrap_future(lua_State *L) {
    if (!lua_islightuserdata(L, 1)) {
        lua_settop(L, 1);
        return 1;
    }
    push_future(L, lua_touserdata(L, 1), K_PLAIN, 0);
    return 1;
}

static int l_in_task(lua_State *L) {
    Mod *m = MOD(L);
    lua_pushboolean(L, m->cur && m->cur->co == L);
    return 1;
}

/* ---- Registration ------------------------------------------------------------------------ */

static const luaL_Reg future_methods[] = {
    {"done", f_done},
    {"cancelled", f_cancelled},
    {"result", f_result},
    {"error", f_error},
    {"exception", f_error},
    {"set_result", f_set_result},
    {"set_error", f_set_error},
    {"cancel", f_cancel},
    {"add_done_callback", f_add_done_callback},
    {"remove_done_callback", f_remove_done_callback},
    {"get_loop", f_get_loop},
    {"is_task", f_is_task},
    {"get_name", t_get_name},
    {"set_name", t_set_name},
    {"cancelling", t_cancelling},
    {"uncancel", t_uncancel},
    {"release", f_release},
    {NULL, NULL},
};

static const luaL_Reg loop_methods[] = {
    {"run_until_complete", loop_run_until_complete},
    {"run_forever", loop_run_forever},
    {"stop", loop_stop},
    {"close", loop_close},
    {"release", loop_release},
    {"time", loop_time},
    {"is_running", loop_is_running},
    {"is_closed", loop_is_closed},
    {"get_debug", loop_get_debug},
    {"set_debug", loop_set_debug},
    {"call_soon", loop_call_soon},
    {"call_later", loop_call_later},
    {"call_at", loop_call_at},
    {"create_future", loop_create_future},
    {"create_task", loop_create_task},
    {"spawn", loop_create_task},
    {"set_exception_handler", loop_set_exception_handler},
    {"get_exception_handler", loop_get_exception_handler},
    {"call_exception_handler", loop_call_exception_handler},
    {"default_exception_handler", loop_default_exception_handler},
    {"all_tasks", loop_all_tasks},
    {"event", l_event},
    {"lock", l_lock},
    {"semaphore", l_semaphore},
    {"bounded_semaphore", l_bounded_semaphore},
    {"condition", l_condition},
    {"barrier", l_barrier},
    {"queue", l_queue},
    {"lifo_queue", l_lifo_queue},
    {"priority_queue", l_priority_queue},
    {NULL, NULL},
};

static const luaL_Reg handle_methods[] = {
    {"cancel", h_cancel}, {"cancelled", h_cancelled}, {"when", h_when}, {"release", h_release},
    {NULL, NULL},
};

static const luaL_Reg module_fns[] = {
    {"new_event_loop", l_new_loop},
    {"new_loop", l_new_loop},
    {"get_running_loop", l_get_running_loop},
    {"spawn", l_spawn},
    {"create_task", l_spawn},
    {"current_task", l_current_task},
    {"gather", l_gather},
    {"wait", l_wait},
    {"wait_for", l_wait_for},
    {"shield", l_shield},
    {"as_completed", l_as_completed},
    {"event", l_event},
    {"lock", l_lock},
    {"semaphore", l_semaphore},
    {"bounded_semaphore", l_bounded_semaphore},
    {"condition", l_condition},
    {"barrier", l_barrier},
    {"queue", l_queue},
    {"lifo_queue", l_lifo_queue},
    {"priority_queue", l_priority_queue},
    {"strerror", l_strerror},
    {"status_name", l_status_name},
    {"is_cancelled_error", l_is_cancelled_error},
    {"cancelled_error", l_cancelled_error},
    {NULL, NULL},
};

/* Primitives for the Lua part (lua/coio_wrap.lua, embedded). */
static const luaL_Reg prim_fns[] = {
    {"await", l_await_prim},
    {"outcome", l_outcome},
    {"sleep", l_sleep_prim},
    {"timeout_enter", l_timeout_enter},
    {"timeout_exit", l_timeout_exit},
    {"task_group_new", l_task_group_new},
    {"wrap_future", l_wrap_future},
    {"in_task", l_in_task},
    {NULL, NULL},
};

typedef struct ObjType {
    const char *mt;
    const luaL_Reg *methods;
    lua_CFunction free_fn;
} ObjType;

static const luaL_Reg event_methods[] = {{"set", ev_set},       {"clear", ev_clear},
                                         {"is_set", ev_is_set}, {"_wait", ev_wait},
                                         {"free", ev_free},     {NULL, NULL}};
static const luaL_Reg lock_methods[] = {{"_acquire", lk_acquire},
                                        {"release", lk_release},
                                        {"locked", lk_locked},
                                        {"free", lk_free},
                                        {NULL, NULL}};
static const luaL_Reg sem_methods[] = {{"_acquire", sem_acquire}, {"release", sem_release},
                                       {"locked", sem_locked},    {"value", sem_value},
                                       {"free", sem_free},        {NULL, NULL}};
static const luaL_Reg cond_methods[] = {{"_acquire", cond_acquire}, {"release", cond_release},
                                        {"locked", cond_locked},    {"_wait", cond_wait},
                                        {"notify", cond_notify},    {"notify_all", cond_notify_all},
                                        {"free", cond_free},        {NULL, NULL}};
static const luaL_Reg bar_methods[] = {{"_wait", bar_wait},          {"reset", bar_reset},
                                       {"abort", bar_abort},         {"parties", bar_parties},
                                       {"n_waiting", bar_n_waiting}, {"broken", bar_broken},
                                       {"free", bar_free},           {NULL, NULL}};
static const luaL_Reg queue_methods[] = {{"_put", q_put},
                                         {"put_nowait", q_put_nowait},
                                         {"_get", q_get},
                                         {"get_nowait", q_get_nowait},
                                         {"task_done", q_task_done},
                                         {"_join", q_join},
                                         {"shutdown", q_shutdown},
                                         {"qsize", q_qsize},
                                         {"maxsize", q_maxsize},
                                         {"empty", q_empty},
                                         {"full", q_full},
                                         {"free", q_free},
                                         {NULL, NULL}};
static const luaL_Reg tg_methods[] = {{"spawn", tg_spawn}, {"create_task", tg_spawn},
                                      {"_exit", tg_exit},  {"errors", tg_errors},
                                      {"_free", tg_free},  {NULL, NULL}};
static const luaL_Reg tm_methods[] = {
    {"when", tm_when}, {"reschedule", tm_reschedule}, {"expired", tm_expired}, {NULL, NULL}};
static const luaL_Reg asc_methods[] = {{"next", asc_next}, {"free", asc_free}, {NULL, NULL}};

static const ObjType obj_types[] = {
    {MT_EVENT, event_methods, ev_free},  {MT_LOCK, lock_methods, lk_free},
    {MT_SEM, sem_methods, sem_free},     {MT_COND, cond_methods, cond_free},
    {MT_BARRIER, bar_methods, bar_free}, {MT_QUEUE, queue_methods, q_free},
    {MT_TG, tg_methods, tg_free},        {MT_TM, tm_methods, tm_free},
    {MT_ASC, asc_methods, asc_free},
};

static int obj_tostring(lua_State *L) {
    lua_getmetatable(L, 1);
    lua_getfield(L, -1, "__name");
    const char *name = lua_tostring(L, -1);
    LPtr *u = lua_touserdata(L, 1);
    lua_pushfstring(L, "%s: %p", name ? name : "coio object", u ? u->p : NULL);
    return 1;
}

/* Pushes the 3 shared upvalues. */
static void push_upvalues(lua_State *L, int mod, int futmt, int cache) {
    lua_pushvalue(L, mod);
    lua_pushvalue(L, futmt);
    lua_pushvalue(L, cache);
}

/* Builds a metatable: methods in __index, plus __gc/__close = gcfn, __tostring = tostr. */
static void make_mt(lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction gcfn,
                    lua_CFunction tostr, int mod, int futmt, int cache, int existing) {
    if (existing)
        lua_pushvalue(L, existing);
    else
        luaL_newmetatable(L, name);
    int mt = lua_gettop(L);
    lua_pushstring(L, name);
    lua_setfield(L, mt, "__name");
    lua_newtable(L);
    push_upvalues(L, mod, futmt, cache);
    luaL_setfuncs(L, methods, 3);
    lua_setfield(L, mt, "__index");
    static const char *const gc_names[] = {"__gc", "__close"};
    for (int i = 0; i < 2; i++) {
        push_upvalues(L, mod, futmt, cache);
        lua_pushcclosure(L, gcfn, 3);
        lua_setfield(L, mt, gc_names[i]);
    }
    push_upvalues(L, mod, futmt, cache);
    lua_pushcclosure(L, tostr, 3);
    lua_setfield(L, mt, "__tostring");
    lua_pushliteral(L, "locked");
    lua_setfield(L, mt, "__metatable");
}

/* The Lua half: wrappers that await through the primitives.  One string literal, longer than
 * the 4095 characters ISO C requires compilers to take (gcc and clang take any length). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverlength-strings"
static const char wrap_lua[] =
#include "coio_wrap.lua.h"
    ;
#pragma GCC diagnostic pop

__attribute__((visibility("default"))) int luaopen_coio(lua_State *L) {
    lua_settop(L, 0);
    /* How reprs name our step and callbacks (asyncio shows the coroutine's or function's). */
    coio_function_set_name((coio_any_fn)task_step, "coroutine");
    coio_function_set_name((coio_any_fn)donecb_run, "callback");
    Mod *m = newud(L, sizeof *m); /* 1 */
    memset(m, 0, sizeof *m);
    m->exc_ref = LUA_NOREF;
    m->L = lua_newthread(L);
    m->thread_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    /* The Mod userdata is kept by every function's upvalue and by the registry. */
    lua_pushvalue(L, 1);
    m->mod_ref = luaL_ref(L, LUA_REGISTRYINDEX);

    luaL_newmetatable(L, "coio.Future"); /* 2 */
    lua_pushvalue(L, 2);
    m->futmt_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_newtable(L); /* 3: the cache, weak values */
    lua_newtable(L);
    lua_pushliteral(L, "v");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, 3);
    lua_pushvalue(L, 3);
    m->cache_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_newtable(L);
    m->payload_ref = luaL_ref(L, LUA_REGISTRYINDEX);

    /* CancelledError */
    lua_newtable(L);
    lua_pushcfunction(L, cancelled_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, "coio.CancelledError");
    lua_setfield(L, -2, "__name");
    lua_pushvalue(L, -1);
    m->cancel_mt_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    int cancel_mt = lua_gettop(L);

    make_mt(L, "coio.Future", future_methods, f_release, f_tostring, 1, 2, 3, 2);
    push_upvalues(L, 1, 2, 3);
    lua_pushcclosure(L, f_eq, 3);
    lua_setfield(L, 2, "__eq");
    lua_pop(L, 1);
    make_mt(L, MT_LOOP, loop_methods, loop_gc, loop_tostring, 1, 2, 3, 0);
    lua_pop(L, 1);
    make_mt(L, MT_HANDLE, handle_methods, h_release, h_tostring, 1, 2, 3, 0);
    lua_pop(L, 1);
    for (size_t i = 0; i < sizeof obj_types / sizeof obj_types[0]; i++) {
        make_mt(L, obj_types[i].mt, obj_types[i].methods, obj_types[i].free_fn, obj_tostring, 1, 2,
                3, 0);
        if (!strcmp(obj_types[i].mt, MT_ASC)) {
            push_upvalues(L, 1, 2, 3);
            lua_pushcclosure(L, asc_next, 3);
            lua_setfield(L, -2, "__call");
        }
        lua_pop(L, 1);
    }

    static const lua_CFunction entries[] = {[FN_DONECB] = donecb_p,
                                            [FN_HANDLER] = handler_p,
                                            [FN_REPORT] = report_p,
                                            [FN_FINISH] = finish_p};
    for (int i = 0; i < (int)(sizeof entries / sizeof entries[0]); i++) {
        push_upvalues(L, 1, 2, 3);
        lua_pushcclosure(L, entries[i], 3);
        m->fn_ref[i] = luaL_ref(L, LUA_REGISTRYINDEX);
    }

    lua_newtable(L); /* the module */
    int mod = lua_gettop(L);
    push_upvalues(L, 1, 2, 3);
    luaL_setfuncs(L, module_fns, 3);
    lua_pushvalue(L, cancel_mt);
    lua_setfield(L, mod, "CancelledError");
    lua_pushstring(L, coio_version());
    lua_setfield(L, mod, "coio_version");
#define STATUS(name)                                                                               \
    lua_pushinteger(L, COIO_##name);                                                               \
    lua_setfield(L, mod, #name)
    STATUS(OK);
    STATUS(EINVAL);
    STATUS(ENOMEM);
    STATUS(ESTATE);
    STATUS(ECANCELLED);
    STATUS(EFAILED);
    STATUS(ETIMEDOUT);
    STATUS(ECLOSED);
    STATUS(EBUSY);
    STATUS(ELOOP);
    STATUS(ETHREAD);
    STATUS(ENOTSUP);
    STATUS(ESYS);
    STATUS(EFULL);
    STATUS(EEMPTY);
    STATUS(ESHUTDOWN);
    STATUS(EBROKEN);
    STATUS(FIRST_COMPLETED);
    STATUS(FIRST_EXCEPTION);
    STATUS(ALL_COMPLETED);
#undef STATUS

    lua_newtable(L); /* primitives for the Lua part */
    int prims = lua_gettop(L);
    push_upvalues(L, 1, 2, 3);
    luaL_setfuncs(L, prim_fns, 3);

    if (luaL_loadbuffer(L, wrap_lua, sizeof wrap_lua - 1, "=coio_wrap.lua") != 0)
        return lua_error(L);
    lua_pushvalue(L, mod);
    lua_pushvalue(L, prims);
    /* The metatables whose __index the wrappers extend. */
    lua_createtable(L, 0, 12);
    const char *const names[] = {"coio.Future", MT_LOOP,  MT_EVENT, MT_LOCK, MT_SEM, MT_COND,
                                 MT_BARRIER,    MT_QUEUE, MT_TG,    MT_TM,   MT_ASC, MT_HANDLE};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        luaL_getmetatable(L, names[i]);
        lua_getfield(L, -1, "__index");
        lua_setfield(L, -3, names[i]);
        lua_pop(L, 1);
    }
    lua_call(L, 3, 0);
    lua_pushvalue(L, mod);
    return 1;
}
