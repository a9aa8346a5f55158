//! Finds libcoio with pkg-config.
//!
//! Built from the coio repository, put the meson build's `meson-uninstalled` directory on
//! `PKG_CONFIG_PATH` (pkg-config then prefers `coio-uninstalled.pc`); elsewhere the installed
//! `coio.pc` is used.  If neither is found, the repository's own `build/meson-uninstalled` is
//! tried as a last resort.  The library directory is passed on to dependent crates as
//! `DEP_COIO_LIBDIR` so that their tests and examples can carry an rpath to it.
use std::path::PathBuf;

fn probe() -> Result<pkg_config::Library, pkg_config::Error> {
    pkg_config::Config::new()
        .atleast_version("1.0")
        .probe("coio")
}

fn main() {
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    println!("cargo:rerun-if-changed=build.rs");
    let lib = match probe() {
        Ok(lib) => lib,
        Err(first) => {
            let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
            let in_tree = manifest.join("../../../build/meson-uninstalled");
            if !in_tree.join("coio-uninstalled.pc").exists() {
                panic!(
                    "coio-sys: libcoio not found by pkg-config ({first}).\n\
                     Build it first (meson setup build && ninja -C build) and set\n\
                     PKG_CONFIG_PATH=<coio>/build/meson-uninstalled, or install coio."
                );
            }
            let mut path = in_tree.canonicalize().unwrap().into_os_string();
            if let Some(old) = std::env::var_os("PKG_CONFIG_PATH") {
                path.push(":");
                path.push(old);
            }
            std::env::set_var("PKG_CONFIG_PATH", &path);
            probe().unwrap_or_else(|e| panic!("coio-sys: {e}"))
        }
    };
    let join = |v: &[PathBuf]| {
        v.iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(":")
    };
    println!("cargo:libdir={}", join(&lib.link_paths));
    // This crate's own tests find the library without LD_LIBRARY_PATH.
    for d in &lib.link_paths {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", d.display());
    }
    println!("cargo:include={}", join(&lib.include_paths));
}
