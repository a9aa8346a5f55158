// The C++17 half of the header test: the same program, compiled as C++.
#include "test_header.c"
