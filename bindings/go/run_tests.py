#!/usr/bin/env python3
"""Runs the Go binding's checks for `meson test --suite go` (and by hand).

    run_tests.py MODE BUILD_DIR

MODE: test (go test ./...), race (go test -race ./...), vet (go vet ./...), fmt (gofmt -l:
no file may need formatting), tutorial (the 15 examples/NN_name programs through the shared
golden harness tests/tutorial/check.py).

Go is $GO, else `go` on PATH, else /usr/local/go/bin/go; it must be Go 1.23 or newer (the
binding needs iter.Pull). Without one, or against a libcoio built with a sanitizer (a Go
program cannot load it without the sanitizer's runtime), or when meson sets COIO_GO_SKIP (a
libFuzzer build), the check is skipped (exit 77) with the reason. libcoio is the one built in BUILD_DIR: PKG_CONFIG_PATH points at its
meson-uninstalled directory and LD_LIBRARY_PATH at the library. Go's build cache, module
cache and the built examples live in BUILD_DIR/bindings-go: nothing is written into the
source tree, and the toolchain never downloads anything (GOTOOLCHAIN=local, GOPROXY=off).
"""
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
SKIP = 77
NEED = (1, 23)
PROGRAMS = sorted(d for d in os.listdir(os.path.join(HERE, "examples"))
                  if d[:2].isdigit() and os.path.isdir(os.path.join(HERE, "examples", d)))


def skip(why):
    print(f"SKIP: {why}")
    sys.exit(SKIP)


def find_go():
    """(path, (major, minor)) of the first Go found, or (None, why)."""
    candidates = [os.environ.get("GO"), shutil.which("go"), "/usr/local/go/bin/go"]
    seen = []
    for c in candidates:
        if not c or c in seen or not os.access(c, os.X_OK):
            continue
        seen.append(c)
        try:
            v = subprocess.run([c, "env", "GOVERSION"], capture_output=True, text=True,
                               env=dict(os.environ, GOTOOLCHAIN="local")).stdout.strip()
        except OSError:
            continue
        try:
            have = tuple(int(x) for x in v.removeprefix("go").split(".")[:2])
        except ValueError:
            continue
        if have >= NEED:
            return c, have
        seen[-1] = f"{c} ({v})"
    found = ", ".join(seen) if seen else "none on $GO, PATH or /usr/local/go/bin"
    return None, f"no Go {NEED[0]}.{NEED[1]} or newer (the binding needs iter.Pull); found: {found}"


def sanitized(build):
    try:
        out = subprocess.run(["ldd", os.path.join(build, "src", "libcoio.so")],
                             capture_output=True, text=True).stdout
    except OSError:
        return None
    for rt in ("libasan", "libtsan", "libubsan"):
        if rt in out:
            return rt
    return None


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    mode, build = sys.argv[1], os.path.abspath(sys.argv[2])
    if os.environ.get("COIO_GO_SKIP"):
        skip(os.environ["COIO_GO_SKIP"])
    go, info = find_go()
    if go is None:
        skip(info)
    rt = sanitized(build)
    if rt:
        skip(f"libcoio in {build} links {rt}: Go programs cannot load it without that runtime; "
             "the go suite runs in the plain build")
    work = os.path.join(build, "bindings-go")
    os.makedirs(work, exist_ok=True)
    env = dict(os.environ)
    env.update({
        "PATH": os.path.dirname(go) + os.pathsep + env.get("PATH", ""),
        "PKG_CONFIG_PATH": os.path.join(build, "meson-uninstalled") + (
            os.pathsep + env["PKG_CONFIG_PATH"] if env.get("PKG_CONFIG_PATH") else ""),
        "LD_LIBRARY_PATH": os.path.join(build, "src") + (
            os.pathsep + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else ""),
        "GOCACHE": os.path.join(work, "cache"),
        "GOPATH": os.path.join(work, "gopath"),
        "GOMODCACHE": os.path.join(work, "gopath", "pkg", "mod"),
        "GOTOOLCHAIN": "local",
        "GOPROXY": "off",
        "GOFLAGS": "-mod=mod",
        "GOTELEMETRY": "off",
        "CGO_ENABLED": "1",
        "COIO_BENCH": os.path.join(build, "bench", "coio_bench"),
    })
    env.pop("GOROOT", None)

    def go_cmd(*args):
        print("+ go", " ".join(args), flush=True)
        return subprocess.call([go, *args], cwd=HERE, env=env)

    if mode == "test":
        return go_cmd("test", "-count=1", "./...")
    if mode == "race":
        return go_cmd("test", "-count=1", "-race", "./...")
    if mode == "vet":
        return go_cmd("vet", "./...")
    if mode == "fmt":
        gofmt = os.path.join(os.path.dirname(go), "gofmt")
        out = subprocess.run([gofmt, "-l", "."], cwd=HERE, capture_output=True, text=True)
        if out.returncode != 0 or out.stdout.strip():
            print("gofmt -l: these files need formatting:\n" + out.stdout + out.stderr)
            return 1
        return 0
    if mode == "tutorial":
        bindir = os.path.join(work, "examples")
        if go_cmd("build", "-o", bindir + os.sep, "./examples/...") != 0:
            return 1
        return subprocess.call([sys.executable, os.path.join(SRC, "tests", "tutorial", "check.py"),
                                "--label", "go", "--", os.path.join(bindir, "{name}")], env=env)
    print(f"unknown mode {mode}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
