#!/usr/bin/env python3
"""Runs the Rust binding's checks for `meson test --suite rust` (and by hand).

    run_tests.py MODE BUILD_DIR

MODE: test (cargo test: unit, integration and doc tests; examples are built), clippy
(cargo clippy --all-targets -- -D warnings), fmt (cargo fmt --check), doc (cargo doc with
warnings as errors: broken links), bindings (the committed
bindgen output against the headers), tutorial (the 15 examples through the shared golden
harness tests/tutorial/check.py).

cargo is looked up on PATH, then in ~/.cargo/bin; without it the check is skipped (exit 77)
with the reason.  libcoio is the one built in BUILD_DIR (PKG_CONFIG_PATH points at its
meson-uninstalled directory; the test binaries get an rpath to it).  Cargo's target directory
is BUILD_DIR/bindings-rust-target: nothing is written into the source tree.

Against a libcoio built with AddressSanitizer (meson -Db_sanitize=address,...), `test`
builds the test binaries first, then runs the unit and integration tests and the examples
with libasan preloaded (the Rust code is not instrumented, the library is); doc tests, whose
compiler would run under the preload too, are left to the plain build.
"""
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
SKIP = 77


def skip(why):
    print(f"1..0 # SKIP {why}")
    sys.exit(SKIP)


def find_tool(name):
    p = shutil.which(name)
    if p:
        return p
    p = os.path.expanduser(f"~/.cargo/bin/{name}")
    return p if os.access(p, os.X_OK) else None


def sanitizer_runtime(build):
    """The libasan to preload when BUILD's libcoio links it, else None."""
    lib = os.path.join(build, "src", "libcoio.so")
    try:
        out = subprocess.run(["ldd", lib], capture_output=True, text=True).stdout
    except OSError:
        return None
    if "libasan" not in out:
        return None
    for line in out.splitlines():
        if "libasan" in line and "=>" in line:
            return line.split("=>")[1].split("(")[0].strip()
    return None


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    mode, build = sys.argv[1], os.path.abspath(sys.argv[2])
    if mode == "bindings":
        return subprocess.call([os.path.join(HERE, "coio-sys", "regen-bindings.sh"), "--check"])

    cargo = find_tool("cargo")
    if not cargo:
        skip("cargo not found (PATH, ~/.cargo/bin): install Rust to test the Rust binding")
    version = subprocess.run([cargo, "--version"], capture_output=True, text=True).stdout.split()
    try:
        have = tuple(int(x) for x in version[1].split("-")[0].split(".")[:2])
    except (IndexError, ValueError):
        have = (0, 0)
    if have < (1, 77):
        skip(f"{' '.join(version[:2]) or cargo} is older than the Rust 1.77 the binding needs")
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(cargo) + os.pathsep + env.get("PATH", "")
    env["PKG_CONFIG_PATH"] = os.path.join(build, "meson-uninstalled") + (
        os.pathsep + env["PKG_CONFIG_PATH"] if env.get("PKG_CONFIG_PATH") else "")
    env["CARGO_TARGET_DIR"] = os.path.join(build, "bindings-rust-target")
    env.setdefault("CARGO_BUILD_JOBS", "2")
    env.pop("RUSTFLAGS", None)

    def cargo_run(*args, **kw):
        cmd = [cargo, *args]
        print("#", " ".join(cmd), flush=True)
        return subprocess.call(cmd, cwd=HERE, env=env, **kw)

    if mode == "fmt":
        if not find_tool("rustfmt") and not find_tool("cargo-fmt"):
            skip("rustfmt not installed (rustup component add rustfmt)")
        return cargo_run("fmt", "--all", "--check")
    if mode == "clippy":
        if not find_tool("cargo-clippy"):
            skip("clippy not installed (rustup component add clippy)")
        return cargo_run("clippy", "--all-targets", "--", "-D", "warnings")
    if mode == "doc":
        env["RUSTDOCFLAGS"] = "-D warnings"
        return cargo_run("doc", "--no-deps")
    if mode == "test":
        asan = sanitizer_runtime(build)
        if not asan:
            return cargo_run("test")
        return test_under_asan(cargo, env, asan)
    if mode == "tutorial":
        check = os.path.join(SRC, "tests", "tutorial", "check.py")
        if not os.path.exists(check):
            skip("tests/tutorial/check.py (the shared golden harness) is not in this tree")
        rc = cargo_run("build", "--examples", stdout=sys.stderr)
        if rc:
            return rc
        cmd = [os.path.join(env["CARGO_TARGET_DIR"], "debug", "examples", "{name}")]
        asan = sanitizer_runtime(build)
        if asan:
            # The examples load an ASan libcoio: preload its runtime (into them only).
            cmd = ["env", f"LD_PRELOAD={asan}"] + cmd
        return subprocess.call([sys.executable, check, "--label", "rust", "--", *cmd], env=env)
    print(f"unknown mode {mode}", file=sys.stderr)
    return 2


def test_under_asan(cargo, env, asan):
    exes = []
    # Test binaries (unit and integration tests), then the examples as real programs.
    for args in (["test", "--no-run", "--lib", "--tests"], ["build", "--examples"]):
        out = subprocess.run([cargo, *args, "--message-format=json"],
                             cwd=HERE, env=env, stdout=subprocess.PIPE, text=True)
        if out.returncode:
            return out.returncode
        for line in out.stdout.splitlines():
            try:
                m = json.loads(line)
            except ValueError:
                continue
            if m.get("reason") == "compiler-artifact" and m.get("executable"):
                exes.append((m["target"]["kind"][0], m["executable"]))
    run_env = dict(env)
    run_env["LD_PRELOAD"] = asan
    run_env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
    failed = 0
    exes = sorted(set(exes))
    print(f"1..{len(exes)}")
    for i, (kind, exe) in enumerate(exes, 1):
        rc = subprocess.call([exe], env=run_env, cwd=HERE, stdout=sys.stderr)
        ok = rc == 0
        failed += not ok
        print(f"{'ok' if ok else 'not ok'} {i} - {kind} {os.path.basename(exe)} under ASan")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
