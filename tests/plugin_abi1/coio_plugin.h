/* coio_plugin.h — writing a coio plugin (see coio_plugin(7)).
 *
 * A plugin is a shared object that exports one symbol, coio_plugin_init.  It includes this
 * header alone and never links libcoio: the library hands it a coio_host, a table with one
 * function pointer per public coio_* function (host->call_soon is coio_call_soon), in the
 * manner of SQLite's sqlite3_api_routines.  So one plugin file works with every libcoio.so.1
 * that is at least as new as the header it was built against, also inside a program that
 * links coio statically.
 *
 * Versioning: the table only grows.  Its slots keep their order forever (new functions are
 * appended, whatever their names: the order is the list in coio_host_slots.def), and
 * COIO_PLUGIN_ABI goes up whenever slots were appended.  A slot exists iff its offset is
 * below host->size; a plugin that wants to run on hosts older than its header checks that
 * before using a newer slot (COIO_HOST_HAS).  The host refuses a plugin whose info->abi is
 * newer than its own COIO_PLUGIN_ABI.
 *
 * The table's fields are declared with GNU C's __typeof__ (accepted by GCC and Clang in every
 * -std mode, and by C23 compilers) from the prototypes in coio.h: their types are exactly the
 * functions'.
 */
#ifndef COIO_PLUGIN_H
#define COIO_PLUGIN_H

#include <coio.h>

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The plugin ABI of this header: the number of slot-list generations.  Bumped whenever slots
 * are appended. */
#define COIO_PLUGIN_ABI 1

/* The host table: filled by the library, read-only, valid for the life of the process. */
typedef struct coio_host {
    size_t size;  /* sizeof(coio_host) as the host knows it: a slot exists iff offsetof < size */
    uint32_t abi; /* the host's COIO_PLUGIN_ABI */
#define COIO_HOST_SLOT(name) __typeof__(coio_##name) *name;
#if defined(__has_include)
#if __has_include("../src/coio_host_slots.def")
#include "../src/coio_host_slots.def" /* the source tree */
#else
#include "coio_host_slots.def" /* installed beside this header */
#endif
#else
#include "coio_host_slots.def"
#endif
#undef COIO_HOST_SLOT
} coio_host;

/* 1 if host has the slot `name` (a plugin running on a host older than its header). */
#define COIO_HOST_HAS(host, name)                                                                  \
    ((host)->size >= offsetof(coio_host, name) + sizeof((host)->name) && (host)->name != NULL)

/* What coio_plugin_init returns: static data describing the plugin. */
typedef struct coio_plugin_info {
    size_t size;  /* sizeof(coio_plugin_info) as the plugin knows it */
    uint32_t abi; /* COIO_PLUGIN_ABI it was built with = the oldest host it accepts */
    const char *name, *version;
    /* Attaches the plugin to a loop (may be NULL): config is the string given to
     * coio_loop_load_plugin or after '=' in COIO_PLUGINS (NULL if none); *state is handed to
     * detach.  Returns COIO_OK, or a negative status: then nothing of this attach may remain
     * (the library removes the observers and services it registered; free the rest). */
    int (*attach)(coio_loop *loop, const char *config, void **state);
    /* The loop is closing (reverse attach order, the loop still open; may be NULL): undo what
     * attach did and free state. */
    void (*detach)(coio_loop *loop, void *state);
} coio_plugin_info;

#define COIO_PLUGIN_INFO_INIT(name, version, attach, detach)                                       \
    { sizeof(coio_plugin_info), COIO_PLUGIN_ABI, (name), (version), (attach), (detach) }

#if defined(__GNUC__)
#define COIO_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define COIO_PLUGIN_EXPORT
#endif

/* The one symbol a plugin exports.  Called once per process, when the file is first loaded;
 * keep host (it stays valid) and return static info, or NULL to refuse loading. */
COIO_PLUGIN_EXPORT const coio_plugin_info *coio_plugin_init(const coio_host *host);

#ifdef __cplusplus
}
#endif

#endif /* COIO_PLUGIN_H */
