//! Gives this crate's tests, examples and benches an rpath to the libcoio that coio-sys found
//! (so `cargo test` runs without LD_LIBRARY_PATH against an uninstalled build).
fn main() {
    if let Ok(dirs) = std::env::var("DEP_COIO_LIBDIR") {
        // The bench looks for the C side (bench/coio_bench) beside the library's build.
        println!("cargo:rustc-env=COIO_LIBDIRS={dirs}");
        for d in dirs.split(':').filter(|d| !d.is_empty()) {
            println!("cargo:rustc-link-arg=-Wl,-rpath,{d}");
        }
    }
}
