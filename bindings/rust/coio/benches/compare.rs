//! One run, side by side (`cargo bench`, or `cargo bench -- N`):
//!
//! - per-await cost: a Rust task awaiting `coio::sleep(0)` N times, against the same workload
//!   as a C step task: `coio_bench task_yield_step_sleep0` (bench/coio_bench.c, run from the
//!   build libcoio was found in, or `COIO_BENCH=path`), and the same step function run in this
//!   process, alternating with the Rust task in short runs (the fairer comparison on a busy
//!   machine);
//! - spawn + join of 100,000 tasks, against tokio's current-thread runtime (and C's
//!   `task_spawn_step` for information);
//! - a queue ping-pong of N items (`u32`: small values travel inline through C, as C's
//!   `(void *)i` items do; a `u64` would be boxed) between two tasks, against tokio (unbounded
//!   mpsc channels of `u32`) and C's `queue_ping_pong_step`.
//!
//! Loops use real time, as the C bench does.  Prints a markdown table.
use std::process::Command;
use std::time::Instant;

fn per_op(secs: f64, n: u64) -> f64 {
    secs * 1e9 / n as f64
}

fn coio_per_await(n: u64) -> f64 {
    let lp = coio::Loop::new().unwrap();
    let t0 = Instant::now();
    lp.run_until_complete(async move {
        for _ in 0..n {
            coio::sleep(0.0).await.unwrap();
        }
    })
    .unwrap();
    per_op(t0.elapsed().as_secs_f64(), n)
}

/// The C side of the per-await workload in this process: bench/coio_bench.c's step_sleep0, a
/// raw step function on the C protocol (coio_sleep(0), coio_step_await, COIO_STEP_AWAIT; no
/// Rust glue), so that both run under the same conditions, interleaved.
fn raw_step_per_await(n: u64) -> f64 {
    use coio::sys;
    use std::os::raw::{c_int, c_void};
    struct St {
        lp: *mut sys::coio_loop,
        cnt: u64,
        n: u64,
    }
    unsafe extern "C" fn step_sleep0(
        task: *mut sys::coio_future,
        _awaited: *mut sys::coio_future,
        status: c_int,
        arg: *mut c_void,
    ) -> c_int {
        let st = &mut *(arg as *mut St);
        if status != sys::COIO_OK {
            return status;
        }
        if st.cnt == st.n {
            return sys::COIO_OK;
        }
        st.cnt += 1;
        let mut s = std::ptr::null_mut();
        assert_eq!(sys::coio_sleep(st.lp, 0.0, &mut s), sys::COIO_OK);
        assert_eq!(sys::coio_step_await(task, s), sys::COIO_OK);
        sys::coio_future_release(s);
        sys::COIO_STEP_AWAIT as c_int
    }
    let lp = coio::Loop::new().unwrap();
    let mut st = St {
        lp: lp.as_raw(),
        cnt: 0,
        n,
    };
    let t0 = Instant::now();
    unsafe {
        let mut t = std::ptr::null_mut();
        let arg = &mut st as *mut St as *mut c_void;
        let rc = sys::coio_task_new(
            lp.as_raw(),
            Some(step_sleep0),
            arg,
            None,
            std::ptr::null(),
            &mut t,
        );
        assert_eq!(rc, sys::COIO_OK);
        assert_eq!(
            sys::coio_loop_run_until_complete(lp.as_raw(), t),
            sys::COIO_OK
        );
        sys::coio_future_release(t);
    }
    let secs = t0.elapsed().as_secs_f64();
    assert_eq!(st.cnt, n);
    per_op(secs, n)
}

fn coio_spawn_join(m: u32) -> f64 {
    let lp = coio::Loop::new().unwrap();
    let t0 = Instant::now();
    let s = lp
        .run_until_complete(async move {
            let hs: Vec<_> = (0..m).map(|i| coio::spawn(async move { i })).collect();
            let mut s = 0;
            for h in hs {
                s += u64::from(h.await.unwrap());
            }
            s
        })
        .unwrap();
    let secs = t0.elapsed().as_secs_f64();
    assert_eq!(s, u64::from(m) * u64::from(m - 1) / 2);
    per_op(secs, u64::from(m))
}

fn tokio_spawn_join(m: u32) -> f64 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let t0 = Instant::now();
    let s = rt.block_on(async move {
        let hs: Vec<_> = (0..m).map(|i| tokio::spawn(async move { i })).collect();
        let mut s = 0;
        for h in hs {
            s += u64::from(h.await.unwrap());
        }
        s
    });
    let secs = t0.elapsed().as_secs_f64();
    assert_eq!(s, u64::from(m) * u64::from(m - 1) / 2);
    per_op(secs, u64::from(m))
}

fn coio_ping_pong(n: u64) -> f64 {
    let lp = coio::Loop::new().unwrap();
    let a = coio::Queue::<u32>::new(&lp, 0).unwrap();
    let b = coio::Queue::<u32>::new(&lp, 0).unwrap();
    let t0 = Instant::now();
    let got = lp
        .run_until_complete(async move {
            let (a2, b2) = (a.clone(), b.clone());
            let ponger = coio::spawn(async move {
                for _ in 0..n {
                    let v = a2.get().await.unwrap();
                    b2.put_nowait(v).ok().unwrap();
                }
            });
            let mut got = 0;
            for i in 0..n as u32 {
                a.put_nowait(i).ok().unwrap();
                let v = b.get().await.unwrap();
                assert_eq!(v, i);
                got += 1;
            }
            ponger.await.unwrap();
            got
        })
        .unwrap();
    let secs = t0.elapsed().as_secs_f64();
    assert_eq!(got, n);
    per_op(secs, n)
}

fn tokio_ping_pong(n: u64) -> f64 {
    use tokio::sync::mpsc::unbounded_channel;
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let t0 = Instant::now();
    let got = rt.block_on(async move {
        let (atx, mut arx) = unbounded_channel::<u32>();
        let (btx, mut brx) = unbounded_channel::<u32>();
        let ponger = tokio::spawn(async move {
            for _ in 0..n {
                let v = arx.recv().await.unwrap();
                btx.send(v).unwrap();
            }
        });
        let mut got = 0;
        for i in 0..n as u32 {
            atx.send(i).unwrap();
            let v = brx.recv().await.unwrap();
            assert_eq!(v, i);
            got += 1;
        }
        ponger.await.unwrap();
        got
    });
    let secs = t0.elapsed().as_secs_f64();
    assert_eq!(got, n);
    per_op(secs, n)
}

/// ns/op of the C workloads, by name, from bench/coio_bench (None if not found).
fn c_side(n: u64, m: u32, names: &[&str]) -> Option<Vec<(String, f64)>> {
    let exe = std::env::var("COIO_BENCH").ok().or_else(|| {
        option_env!("COIO_LIBDIRS")?
            .split(':')
            .map(|d| std::path::Path::new(d).join("../bench/coio_bench"))
            .find(|p| p.exists())
            .map(|p| p.display().to_string())
    })?;
    let out = Command::new(&exe)
        .arg(n.to_string())
        .arg("--spawn-n")
        .arg(m.to_string())
        .args(names)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut v = vec![];
    for line in text.lines() {
        let mut it = line.split_whitespace();
        let name = it.next()?;
        if let Some(ns) = line.split("ns/op=").nth(1) {
            v.push((
                name.to_string(),
                ns.split_whitespace().next()?.parse().ok()?,
            ));
        }
    }
    Some(v)
}

fn main() {
    let n: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let m: u32 = 100_000;
    if let Ok(w) = std::env::var("COIO_BENCH_ONLY") {
        // One workload alone (for a profiler).
        let ns = match w.as_str() {
            "await" => coio_per_await(n),
            "spawn" => coio_spawn_join(m),
            "pingpong" => coio_ping_pong(n),
            _ => panic!("COIO_BENCH_ONLY: await, spawn or pingpong"),
        };
        println!("{w}: {ns:.1} ns/op");
        return;
    }
    let repeat: usize = std::env::var("COIO_BENCH_REPEAT")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    // Interleaved rounds, best of each (shared machines are noisy): each C workload runs
    // right before its Rust counterpart.
    let mut c: Option<Vec<(String, f64)>> = None;
    let mut c_run = |name: &str| {
        if let Some(round) = c_side(n, m, &[name]) {
            let best = c.get_or_insert_with(Vec::new);
            for (k, v) in round {
                match best.iter_mut().find(|(n, _)| *n == k) {
                    Some(e) => e.1 = e.1.min(v),
                    None => best.push((k, v)),
                }
            }
        }
    };
    let (mut await_rs, mut spawn_rs, mut spawn_tokio, mut pp_rs, mut pp_tokio) =
        (f64::MAX, f64::MAX, f64::MAX, f64::MAX, f64::MAX);
    let mut await_raw = f64::MAX;
    for _ in 0..repeat {
        c_run("task_yield_step_sleep0");
        // Short alternating runs of the same workload: the least disturbed of each.
        for _ in 0..10 {
            await_raw = await_raw.min(raw_step_per_await(n / 10));
            await_rs = await_rs.min(coio_per_await(n / 10));
        }
        c_run("task_spawn_step");
        spawn_rs = spawn_rs.min(coio_spawn_join(m));
        spawn_tokio = spawn_tokio.min(tokio_spawn_join(m));
        c_run("queue_ping_pong_step");
        pp_rs = pp_rs.min(coio_ping_pong(n));
        pp_tokio = pp_tokio.min(tokio_ping_pong(n));
    }
    let c_of = |name: &str| -> Option<f64> {
        c.as_ref()?.iter().find(|(k, _)| k == name).map(|(_, v)| *v)
    };
    println!("best of {repeat} interleaved rounds; N = {n}, M = {m}\n");
    println!("| workload | coio (Rust) ns/op | against | ns/op | ratio | target | met |");
    println!("|---|---:|---|---:|---:|---|---|");
    let row = |w: &str,
               rs: f64,
               who: &str,
               other: Option<f64>,
               target: &str,
               ok: &dyn Fn(f64) -> bool| {
        match other {
            Some(o) => println!(
                "| {w} | {rs:.1} | {who} | {o:.1} | {:.2} | {target} | {} |",
                rs / o,
                if ok(rs / o) { "yes" } else { "no" }
            ),
            None => println!("| {w} | {rs:.1} | {who} | - | - | {target} | - |"),
        }
    };
    row(
        &format!("per-await: sleep(0) x {n} in one task"),
        await_rs,
        "coio_bench task_yield_step_sleep0 (other process, one long run)",
        c_of("task_yield_step_sleep0"),
        "info",
        &|_| true,
    );
    row(
        &format!("per-await: sleep(0) x {n} in one task"),
        await_rs,
        "C step function, same process, interleaved",
        Some(await_raw),
        "<= 1.5",
        &|r| r <= 1.5,
    );
    row(
        &format!("spawn + join of {m} tasks"),
        spawn_rs,
        "tokio current_thread",
        Some(spawn_tokio),
        "< 1 (faster)",
        &|r| r < 1.0,
    );
    row(
        &format!("spawn + join of {m} tasks"),
        spawn_rs,
        "C task_spawn_step (spawn + step, no join)",
        c_of("task_spawn_step"),
        "info",
        &|_| true,
    );
    row(
        &format!("queue ping-pong x {n}"),
        pp_rs,
        "tokio current_thread (mpsc)",
        Some(pp_tokio),
        "< 1 (faster)",
        &|r| r < 1.0,
    );
    row(
        &format!("queue ping-pong x {n}"),
        pp_rs,
        "C step tasks (queue_ping_pong_step)",
        c_of("queue_ping_pong_step"),
        "info",
        &|_| true,
    );
    if c.is_none() {
        println!("\n(the C side was not found: set COIO_BENCH=path/to/bench/coio_bench)");
    }
}
