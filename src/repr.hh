// Reprs (repr.cc): asyncio's repr() of futures and tasks, Python's repr() of a str.
#pragma once

#include <cstddef>
#include <cstring>

#include "future.hh"

namespace coio::detail {

// An snprintf-style destination: keeps what fits (size - 1 bytes and a NUL), counts it all.
struct Out {
    char *buf;
    std::size_t size;
    std::size_t len = 0;
    void put(const char *s, std::size_t n);
    void puts(const char *s) { put(s, std::strlen(s)); }
    void finish(); // the NUL, when size > 0
};

// repr(s) of a UTF-8 string; shorten: as reprlib.repr (asyncio's result=).  Throws bad_alloc.
void py_str_repr(Out &o, const char *s, bool shorten);
void future_repr(Out &o, const Future *f);              // throws bad_alloc
void set_function_name(void (*fn)(), const char *name); // null name: forget; throws bad_alloc

} // namespace coio::detail
