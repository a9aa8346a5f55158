// asyncio's repr() of futures and tasks (base_futures._future_repr, base_tasks._task_repr of
// CPython 3.13), Python's repr() of a str with reprlib's shortening, and the names reprs give
// functions.  A cold path: plain std::string and std::vector, allocation failures throw.
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <dlfcn.h>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "coroutine.hh"
#include "repr.hh"
#include "callback_names.hh"
#include "future.hh"
#include "task.hh"

namespace coio::detail {

// ---- Python's repr() of a str ---------------------------------------------------------------

namespace {

// One Python character of a UTF-8 string: a valid sequence, or one byte that is not UTF-8.
struct PyChar {
    const char *p;
    std::uint8_t n;
    bool bad;
    std::uint32_t cp;
};

std::vector<PyChar> decode(const char *s) {
    std::vector<PyChar> out;
    auto *u = reinterpret_cast<const unsigned char *>(s);
    while (*u) {
        unsigned c = *u;
        int n = c < 0x80             ? 1
                : (c & 0xe0) == 0xc0 ? 2
                : (c & 0xf0) == 0xe0 ? 3
                : (c & 0xf8) == 0xf0 ? 4
                                     : 0;
        std::uint32_t cp = n == 1 ? c : n == 2 ? c & 0x1f : n == 3 ? c & 0x0f : c & 0x07;
        bool ok = n > 0;
        for (int i = 1; ok && i < n; i++) {
            if ((u[i] & 0xc0) != 0x80)
                ok = false;
            else
                cp = cp << 6 | (u[i] & 0x3f);
        }
        // Overlong forms, surrogates and values above U+10FFFF are not UTF-8 either.
        static const std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
        if (ok && (cp < kMin[n] || (cp >= 0xd800 && cp < 0xe000) || cp > 0x10ffff)) ok = false;
        if (!ok) n = 1;
        out.push_back({reinterpret_cast<const char *>(u), std::uint8_t(n), !ok, cp});
        u += n;
    }
    return out;
}

// repr(s) as a list of output characters (each one string: a character may be several bytes).
std::vector<std::string> repr_chars(const std::vector<PyChar> &s, std::size_t from,
                                    std::size_t to) {
    bool single = false, dbl = false;
    for (std::size_t i = from; i < to; i++) {
        if (!s[i].bad && s[i].cp == '\'') single = true;
        if (!s[i].bad && s[i].cp == '"') dbl = true;
    }
    char quote = single && !dbl ? '"' : '\'';
    std::vector<std::string> out;
    auto ascii = [&](const char *t) {
        for (; *t; t++)
            out.emplace_back(1, *t);
    };
    out.emplace_back(1, quote);
    for (std::size_t i = from; i < to; i++) {
        const PyChar &c = s[i];
        char esc[8];
        if (c.bad) {
            std::snprintf(esc, sizeof esc, "\\x%02x", unsigned(static_cast<unsigned char>(*c.p)));
            ascii(esc);
        } else if (c.cp == std::uint32_t(quote) || c.cp == '\\') {
            esc[0] = '\\';
            esc[1] = char(c.cp);
            esc[2] = 0;
            ascii(esc);
        } else if (c.cp == '\t') {
            ascii("\\t");
        } else if (c.cp == '\n') {
            ascii("\\n");
        } else if (c.cp == '\r') {
            ascii("\\r");
        } else if (c.cp < 0x20 || (c.cp >= 0x7f && c.cp <= 0xa0) || c.cp == 0xad) {
            // Control characters, and the Latin-1 ones Python does not print (NBSP, SHY).
            std::snprintf(esc, sizeof esc, "\\x%02x", unsigned(c.cp));
            ascii(esc);
        } else {
            out.emplace_back(c.p, c.n);
        }
    }
    out.emplace_back(1, quote);
    return out;
}

// Python's x[start:] for a start that may be negative.
std::size_t py_start(std::size_t len, long start) {
    if (start < 0) start += long(len);
    return start < 0 ? 0 : std::size_t(start) > len ? len : std::size_t(start);
}

} // namespace

void Out::put(const char *s, std::size_t n) {
    for (std::size_t i = 0; i < n; i++, len++)
        if (len + 1 < size) buf[len] = s[i];
}

void Out::finish() {
    if (size) buf[len < size ? len : size - 1] = '\0';
}

void py_str_repr(Out &o, const char *s, bool shorten) {
    std::vector<PyChar> chars = decode(s);
    std::size_t n = chars.size();
    // reprlib.Repr.repr_str, maxstring 30: shorten when repr(s[:30]) is longer than 30.
    std::vector<std::string> r = repr_chars(chars, 0, shorten && n > 30 ? 30 : n);
    if (shorten && r.size() > 30) {
        const std::size_t i = 13, j = 14;
        std::vector<PyChar> sub(chars.begin(), chars.begin() + (i < n ? i : n));
        sub.insert(sub.end(), chars.begin() + py_start(n, long(n) - long(j)), chars.end());
        r = repr_chars(sub, 0, sub.size());
        std::vector<std::string> cut(r.begin(), r.begin() + (i < r.size() ? i : r.size()));
        cut.emplace_back("...");
        cut.insert(cut.end(), r.begin() + py_start(r.size(), long(r.size()) - long(j)), r.end());
        r = std::move(cut);
    }
    for (const std::string &c : r)
        o.put(c.data(), c.size());
}

// ---- function names ----------------------------------------------------------------------

namespace {

struct NameTable {
    std::mutex mu;
    std::vector<std::pair<void (*)(), std::string>> names;
};

NameTable &name_table() {
    static NameTable t;
    return t;
}

// coio's own callbacks: their asyncio name, or null for one asyncio does not have.
bool internal_name(void (*fn)(), const char **name) {
    CallbackNames (*const lists[])() = {loop_callback_names,       task_callback_names,
                                        combinator_callback_names, sync_callback_names,
                                        taskgroup_callback_names,  timeout_callback_names};
    for (auto list : lists) {
        CallbackNames l = list();
        for (std::size_t i = 0; i < l.n; i++) {
            if (l.names[i].fn == fn) {
                *name = l.names[i].name;
                return true;
            }
        }
    }
    return false;
}

} // namespace

void set_function_name(void (*fn)(), const char *name) {
    NameTable &t = name_table();
    std::lock_guard<std::mutex> lock(t.mu);
    for (auto it = t.names.begin(); it != t.names.end(); ++it) {
        if (it->first == fn) {
            if (name)
                it->second = name;
            else
                t.names.erase(it);
            return;
        }
    }
    if (name) t.names.emplace_back(fn, name);
}

// A user function's name: given to coio_function_set_name, else the dynamic symbol at exactly
// that address, else the address.
static std::string user_function_name(void (*fn)()) {
    {
        NameTable &t = name_table();
        std::lock_guard<std::mutex> lock(t.mu);
        for (auto &entry : t.names)
            if (entry.first == fn) return entry.second;
    }
    Dl_info info;
    void *addr = reinterpret_cast<void *>(fn);
    if (dladdr(addr, &info) && info.dli_sname && info.dli_saddr == addr) return info.dli_sname;
    char buf[32];
    std::snprintf(buf, sizeof buf, "%#" PRIxPTR, reinterpret_cast<std::uintptr_t>(addr));
    return buf;
}

// ---- futures and tasks ---------------------------------------------------------------------

// The number of repr in the loop's table, numbering it if there is room; 0 if there is not.
// A program uses a handful of formatters (a binding one), so the scan is short.
static std::uint8_t repr_number(Loop *loop, coio_repr_fn repr) {
    for (std::uint8_t i = 0; i < loop->nrepr_fns; i++)
        if (loop->repr_fns[i] == repr) return std::uint8_t(i + 1);
    if (loop->nrepr_fns == Loop::kReprFns) return 0;
    loop->repr_fns[loop->nrepr_fns++] = repr;
    return loop->nrepr_fns;
}

void value_repr_set(Future *f, coio_repr_fn repr) {
    Loop *loop = f->loop;
    if (std::uint8_t n = repr_number(loop, repr)) {
        if (f->repr == Loop::kReprInMap) loop->reprs.erase(f);
        f->repr = n;
        return;
    }
    loop->reprs[f] = repr; // may throw: nothing changed
    f->repr = Loop::kReprInMap;
}

void value_repr_erase(Future *f) {
    if (f->repr == Loop::kReprInMap) f->loop->reprs.erase(f);
    f->repr = 0;
}

coio_repr_fn value_repr_get(const Future *f) {
    if (!f->repr) return nullptr;
    if (f->repr != Loop::kReprInMap) return f->loop->repr_fns[f->repr - 1];
    auto it = f->loop->reprs.find(f);
    return it == f->loop->reprs.end() ? nullptr : it->second;
}

namespace {

constexpr int kMaxDepth = 16;

void put_value(Out &o, const Future *f) {
    coio_repr_fn repr = value_repr_get(f);
    if (!repr) {
        if (!f->value) {
            o.puts("None");
        } else {
            char buf[32];
            std::snprintf(buf, sizeof buf, "<%#" PRIxPTR ">",
                          reinterpret_cast<std::uintptr_t>(f->value));
            o.puts(buf);
        }
        return;
    }
    char small[256];
    long n = repr(f->value, small, sizeof small);
    if (n < 0) {
        o.puts("?");
    } else if (std::size_t(n) < sizeof small) {
        o.put(small, std::size_t(n));
    } else {
        std::string big(std::size_t(n) + 1, '\0');
        long m = repr(f->value, big.data(), big.size());
        if (m < 0)
            o.puts("?");
        else
            o.put(big.data(), std::size_t(m) < big.size() ? std::size_t(m) : big.size() - 1);
    }
}

void put_error(Out &o, const FutureError *e) {
    int code = e ? e->code : 0;
    const char *msg = e ? e->message : nullptr;
    const char *name = coio_status_name(code);
    if (std::strcmp(name, "COIO_UNKNOWN") == 0) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "Error(%d%s", code, msg ? ", " : ")");
        o.puts(buf);
        if (msg) {
            py_str_repr(o, msg, false);
            o.puts(")");
        }
        return;
    }
    o.puts(name);
    o.puts("(");
    if (msg) py_str_repr(o, msg, false);
    o.puts(")");
}

// The visible done callbacks of a pending future (asyncio clears them once it is done).
void put_callbacks(Out &o, const Future *f) {
    if (f->state != Future::Pending) return;
    std::vector<std::string> names;
    for (std::uint32_t i = 0; i < f->ncallbacks; i++) {
        const char *name;
        void (*fn)() = any_fn(callback_fn(callback_at(f, i)));
        if (internal_name(fn, &name)) {
            if (name) names.emplace_back(name);
        } else {
            names.push_back(user_function_name(fn));
        }
    }
    std::size_t n = names.size();
    if (n == 0) return;
    o.puts(" cb=[");
    o.puts(names[0].c_str());
    o.puts("()");
    if (n > 2) {
        char buf[32];
        std::snprintf(buf, sizeof buf, ", <%zu more>", n - 2);
        o.puts(buf);
    }
    if (n > 1) {
        o.puts(", ");
        o.puts(names[n - 1].c_str());
        o.puts("()");
    }
    o.puts("]");
}

void put_future(Out &o, const Future *f, const Future **seen, int depth);

void put_task_info(Out &o, const Task *t, const Future **seen, int depth) {
    char buf[32];
    const char *name = t->extra && t->extra->name ? t->extra->name : nullptr;
    if (!name) {
        std::snprintf(buf, sizeof buf, "Task-%llu", static_cast<unsigned long long>(t->id));
        name = buf;
    }
    o.puts(" name=");
    py_str_repr(o, name, false);
    o.puts(" coro=<");
    const char *iname;
    void (*body)() = task_body(t);
    if (internal_name(body, &iname) && iname)
        o.puts(iname);
    else
        o.puts(user_function_name(body).c_str());
    o.puts(t->state == Future::Pending ? "() running>" : "() done>");
    if (t->fut_waiter && t->state == Future::Pending) {
        o.puts(" wait_for=");
        put_future(o, t->fut_waiter, seen, depth + 1);
    }
}

// A custom future whose ops write its repr (coio_future_ops.repr): false for the default form.
bool put_custom(Out &o, const CustomFuture *f) {
    if (!f->ops->repr) return false;
    long n = f->ops->repr(f, nullptr, 0);
    if (n < 0) return false;
    std::string s(std::size_t(n) + 1, '\0');
    long m = f->ops->repr(f, s.data(), s.size());
    if (m < 0) return false;
    o.put(s.data(), std::strlen(s.data())); // what it wrote, should a second call differ
    return true;
}

void put_future(Out &o, const Future *f, const Future **seen, int depth) {
    for (int i = 0; i < depth; i++) {
        if (seen[i] == f) { // reprlib.recursive_repr
            o.puts("...");
            return;
        }
    }
    if (depth >= kMaxDepth) {
        o.puts("...");
        return;
    }
    seen[depth] = f;
    if (f->kind == Future::Custom && put_custom(o, static_cast<const CustomFuture *>(f))) return;
    const Task *t = f->kind == Future::TaskKind ? static_cast<const Task *>(f) : nullptr;
    o.puts(t ? "<Task " : "<Future ");
    switch (f->state) {
    case Future::Pending:
        o.puts(t && t->num_cancels > 0 ? "cancelling" : "pending");
        break;
    case Future::Cancelled:
        o.puts("cancelled");
        break;
    default:
        o.puts("finished");
        break;
    }
    if (t) put_task_info(o, t, seen, depth);
    if (f->state == Future::Result) {
        o.puts(" result=");
        put_value(o, f);
    } else if (f->state == Future::Failed) {
        o.puts(" exception=");
        put_error(o, f->error);
    }
    put_callbacks(o, f);
    o.puts(">");
}

} // namespace

void future_repr(Out &o, const Future *f) {
    const Future *seen[kMaxDepth];
    put_future(o, f, seen, 0);
}

} // namespace coio::detail
