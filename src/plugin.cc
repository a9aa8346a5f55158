// Plugins (coio_loop_load_plugin, COIO_PLUGINS), services (coio_loop_provide / query) and
// the futures plugins make (coio_future_new_custom).
//
// A plugin file is dlopen'ed and initialised once per process: a registry keyed by the file's
// device and inode keeps what its coio_plugin_init returned (or why it was refused) and is
// never unloaded — code of a plugin may still run from a loop or a thread it started.  Each
// loop keeps the plugins attached to it and detaches them, newest first, when it closes.
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <mutex>
#include <new>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include <coio_plugin.h>

#include "future.hh"
#include "loop.hh"
#include "observer.hh"
#include "plugin.hh"

#ifndef COIO_PLUGIN_DIR
#define COIO_PLUGIN_DIR "/usr/local/lib/coio/plugins"
#endif

namespace coio::detail {

// ---- the host table ---------------------------------------------------------------------

// Filled positionally from the one slot list, so the table cannot disagree with the header.
static const coio_host g_host = {
    sizeof(coio_host),
    COIO_PLUGIN_ABI,
#define COIO_HOST_SLOT(name) coio_##name,
#include "coio_host_slots.def"
#undef COIO_HOST_SLOT
};

// ---- the process-wide registry ------------------------------------------------------------

namespace {
struct Library {
    dev_t dev;
    ino_t ino;
    const coio_plugin_info *info; // null: refused (status and error say why)
    int status;
    std::string error;
    Library *next;
};

std::mutex g_mu;
Library *g_libs = nullptr; // never freed: plugins stay loaded

struct Attached {
    Library *lib;
    void *state;
};

struct Service {
    char *name;
    std::uint32_t version;
    const void *iface;
    coio_free_fn drop;
};

// The smallest plugin info every version has: through `detach`.
constexpr std::size_t kInfoMin = offsetof(coio_plugin_info, detach) + sizeof(void (*)());
} // namespace

struct Plugins {
    std::vector<Attached> attached; // attach order
    std::vector<Service> services;  // provide order
    std::string error;              // the last failed load's reason
    bool failed = false;
};

static Plugins &plugins(Loop *loop) {
    if (!loop->plugins) loop->plugins = new Plugins;
    return *loop->plugins;
}

namespace {
// A load that failed: the status and its one-line reason.
struct Failure {
    int status;
    std::string reason;
};

std::string format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
std::string format(const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    for (char *p = buf; *p; p++)
        if (*p == '\n') *p = ' '; // one line
    return buf;
}

bool is_file(const std::string &path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// PLUGIN: a path if it has a '/', else coio-NAME.so in $COIO_PLUGIN_PATH, then the installed
// plugin directory.
bool resolve(const char *spec, std::string &path, Failure &fail) {
    if (std::strchr(spec, '/')) {
        path = spec;
        return true;
    }
    std::string file = std::string("coio-") + spec + ".so";
    std::string dirs;
    if (const char *env = secure_getenv("COIO_PLUGIN_PATH")) dirs = env;
    std::size_t pos = 0;
    while (pos <= dirs.size()) {
        std::size_t end = dirs.find(':', pos);
        if (end == std::string::npos) end = dirs.size();
        if (end > pos) {
            std::string candidate = dirs.substr(pos, end - pos) + "/" + file;
            if (is_file(candidate)) {
                path = candidate;
                return true;
            }
        }
        pos = end + 1;
    }
    std::string candidate = std::string(COIO_PLUGIN_DIR) + "/" + file;
    if (is_file(candidate)) {
        path = candidate;
        return true;
    }
    fail = {COIO_ESYS,
            format("%s not found in $COIO_PLUGIN_PATH or %s", file.c_str(), COIO_PLUGIN_DIR)};
    return false;
}

// The registry entry of the file at path, loading and initialising it on first use.
// Returns null (and fail) when the file cannot be opened or has no entry point: those are
// not remembered (nothing of the plugin ran).
Library *open_library(const std::string &path, Failure &fail) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
        fail = {COIO_ESYS, format("%s: %s", path.c_str(), std::strerror(errno))};
        return nullptr;
    }
    std::lock_guard<std::mutex> g(g_mu);
    for (Library *l = g_libs; l; l = l->next)
        if (l->dev == st.st_dev && l->ino == st.st_ino) return l;
    dlerror();
    void *dl = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        const char *err = dlerror();
        fail = {COIO_ESYS, format("dlopen failed: %s", err ? err : "unknown error")};
        return nullptr;
    }
    dlerror();
    void *sym = dlsym(dl, "coio_plugin_init");
    if (!sym) {
        const char *err = dlerror();
        fail = {COIO_EINVAL, format("no coio_plugin_init symbol: %s", err ? err : "NULL")};
        dlclose(dl);
        return nullptr;
    }
    auto init = reinterpret_cast<const coio_plugin_info *(*)(const coio_host *)>(sym);
    auto *lib = new Library{st.st_dev, st.st_ino, nullptr, COIO_EINVAL, std::string(), g_libs};
    // From here on the plugin's code has run: it stays loaded, and its verdict is kept.
    const coio_plugin_info *info = nullptr;
    try {
        info = init(&g_host);
    } catch (...) {
        lib->error = "coio_plugin_init threw a C++ exception";
    }
    if (!info) {
        if (lib->error.empty()) lib->error = "coio_plugin_init returned NULL";
    } else if (info->size < kInfoMin) {
        lib->error =
            format("bad coio_plugin_info (size %zu, at least %zu expected)", info->size, kInfoMin);
    } else if (info->abi == 0) {
        lib->error = "bad coio_plugin_info (abi 0)";
    } else if (info->abi > COIO_PLUGIN_ABI) {
        lib->status = COIO_ENOTSUP;
        lib->error = format("built for plugin ABI %u, newer than this libcoio's %u (%s)",
                            unsigned(info->abi), unsigned(COIO_PLUGIN_ABI), coio_version());
    } else {
        lib->info = info;
    }
    g_libs = lib;
    return lib;
}

const char *plugin_label(const Library *lib, const char *spec) {
    return lib && lib->info && lib->info->name ? lib->info->name : spec;
}
} // namespace

// Loads and attaches; on failure everything the attach registered is undone.
static int load(Loop *loop, const char *spec, const char *config, Failure &fail) {
    std::string path;
    if (!resolve(spec, path, fail)) return fail.status;
    Library *lib = open_library(path, fail);
    if (!lib) return fail.status;
    if (!lib->info) {
        fail = {lib->status, lib->error};
        return fail.status;
    }
    Plugins &p = plugins(loop);
    for (const Attached &a : p.attached) {
        if (a.lib == lib) {
            fail = {COIO_EBUSY, "already attached to this loop"};
            return fail.status;
        }
    }
    p.attached.reserve(p.attached.size() + 1); // so that recording the attach cannot fail
    const coio_plugin_info *info = lib->info;
    void *state = nullptr;
    if (info->attach) {
        std::size_t nservices = p.services.size();
        std::uint64_t mark = observer_mark(loop);
        int rc;
        try {
            rc = info->attach(reinterpret_cast<coio_loop *>(loop), config, &state);
        } catch (...) {
            rc = COIO_EFAILED;
        }
        if (rc != COIO_OK) {
            // Nothing half-attached: what the attach registered goes, newest first.
            observers_remove_since(loop, mark);
            while (loop->plugins->services.size() > nservices) {
                Service s = loop->plugins->services.back();
                loop->plugins->services.pop_back();
                std::free(s.name);
                if (s.drop) s.drop(const_cast<void *>(s.iface));
            }
            int status = rc < 0 ? rc : COIO_EFAILED;
            fail = {status, format("attach failed: %s (%s)", coio_status_name(rc < 0 ? rc : status),
                                   coio_strerror(status))};
            return status;
        }
    }
    loop->plugins->attached.push_back({lib, state});
    return COIO_OK;
}

int plugin_load(Loop *loop, const char *spec, const char *config) {
    Failure fail{COIO_OK, std::string()};
    int rc = load(loop, spec, config, fail);
    Plugins &p = plugins(loop);
    p.failed = rc != COIO_OK;
    p.error = p.failed ? std::string(spec) + ": " + fail.reason : std::string();
    return rc;
}

const char *plugin_error(const Loop *loop) {
    return loop->plugins && loop->plugins->failed ? loop->plugins->error.c_str() : nullptr;
}

void plugins_from_env(Loop *loop) {
    const char *env = secure_getenv("COIO_PLUGINS");
    if (!env || !*env) return;
    try {
        std::string all = env;
        std::size_t pos = 0;
        while (pos <= all.size()) {
            std::size_t end = all.find(';', pos);
            if (end == std::string::npos) end = all.size();
            std::string entry = all.substr(pos, end - pos);
            pos = end + 1;
            if (entry.empty()) continue;
            std::size_t eq = entry.find('=');
            std::string spec = entry.substr(0, eq);
            std::string config = eq == std::string::npos ? std::string() : entry.substr(eq + 1);
            if (spec.empty()) {
                std::fprintf(stderr, "coio: COIO_PLUGINS: empty plugin name in \"%s\"\n",
                             entry.c_str());
                continue;
            }
            int rc =
                plugin_load(loop, spec.c_str(), eq == std::string::npos ? nullptr : config.c_str());
            if (rc != COIO_OK)
                std::fprintf(stderr, "coio: COIO_PLUGINS: plugin %s (%s)\n", plugin_error(loop),
                             coio_status_name(rc));
        }
    } catch (...) {
        std::fprintf(stderr, "coio: COIO_PLUGINS: out of memory\n");
    }
}

void plugins_detach(Loop *loop) {
    Plugins &p = *loop->plugins;
    while (!p.attached.empty()) {
        Attached a = p.attached.back();
        p.attached.pop_back(); // unlinked before its detach runs
        if (a.lib->info->detach) {
            try {
                a.lib->info->detach(reinterpret_cast<coio_loop *>(loop), a.state);
            } catch (...) {
                coio_exception_context ctx = COIO_EXCEPTION_CONTEXT_INIT;
                ctx.message = "Exception in plugin detach";
                ctx.error = plugin_label(a.lib, "plugin");
                ctx.code = COIO_EFAILED;
                loop_report(loop, &ctx);
            }
        }
    }
}

void services_close(Loop *loop) {
    Plugins &p = *loop->plugins;
    while (!p.services.empty()) {
        Service s = p.services.back();
        p.services.pop_back();
        std::free(s.name);
        if (s.drop) s.drop(const_cast<void *>(s.iface));
    }
}

void plugins_free(Loop *loop) {
    delete loop->plugins;
    loop->plugins = nullptr;
}

// ---- services ---------------------------------------------------------------------------

int service_provide(Loop *loop, const char *name, std::uint32_t version, const void *iface,
                    coio_free_fn drop) {
    Plugins &p = plugins(loop);
    for (const Service &s : p.services)
        if (s.version == version && std::strcmp(s.name, name) == 0) return COIO_EBUSY;
    char *copy = copy_string(name);
    try {
        p.services.push_back({copy, version, iface, drop});
    } catch (...) {
        std::free(copy);
        throw;
    }
    return COIO_OK;
}

int service_query(Loop *loop, const char *name, std::uint32_t min_version, const void **iface) {
    const Service *best = nullptr;
    if (loop->plugins)
        for (const Service &s : loop->plugins->services)
            if (s.version >= min_version && std::strcmp(s.name, name) == 0 &&
                (!best || s.version > best->version))
                best = &s;
    if (!best) return COIO_ENOTSUP;
    *iface = best->iface;
    return COIO_OK;
}

// ---- custom futures ---------------------------------------------------------------------

namespace {
// A coio_future_new_custom future: the core's CustomFuture with the caller's ops and state.
struct PublicFuture : CustomFuture {
    const coio_future_ops *uops;
    void *state;
    bool cancel_called; // the cancel hook ran: a later cancel is plain
};

// A hook of the caller's ops, or null when its struct is too old to have it (read only then).
#define COIO_OPS_HOOK(ops, name)                                                                   \
    ((ops)->size >= offsetof(coio_future_ops, name) + sizeof((ops)->name) ? (ops)->name : nullptr)

bool public_cancel(Future *f, const char *msg) {
    auto *p = static_cast<PublicFuture *>(f);
    auto cancel = COIO_OPS_HOOK(p->uops, cancel);
    if (!cancel || p->cancel_called) return future_cancel(f, msg);
    p->cancel_called = true;
    future_ref(f); // the hook may drop the last reference the caller relied on
    int r;
    try {
        r = cancel(reinterpret_cast<coio_future *>(f), p->state, msg);
    } catch (...) {
        r = COIO_CANCEL_NOW;
    }
    bool ok = true;
    if (f->state == Future::Pending && r != COIO_CANCEL_LATER) {
        try {
            ok = future_cancel(f, msg);
        } catch (...) {
            future_unref(f);
            throw;
        }
    }
    future_unref(f);
    return ok;
}

void public_finalize(Future *f) {
    auto *p = static_cast<PublicFuture *>(f);
    if (auto drop = COIO_OPS_HOOK(p->uops, drop)) drop(p->state);
}

long public_repr(const Future *f, char *buf, std::size_t size) {
    auto *p = static_cast<const PublicFuture *>(f);
    auto repr = COIO_OPS_HOOK(p->uops, repr);
    if (!repr) return -1;
    try {
        return repr(reinterpret_cast<const coio_future *>(f), p->state, buf, size);
    } catch (...) {
        return -1;
    }
}

constexpr FutureOps kPublicOps = {public_cancel, nullptr, public_finalize, public_repr};
} // namespace

Future *public_future_new(Loop *loop, const coio_future_ops *ops, void *state) {
    auto *p = custom_future_new<PublicFuture>(loop, &kPublicOps);
    p->uops = ops;
    p->state = state;
    p->cancel_called = false;
    return p;
}

} // namespace coio::detail
