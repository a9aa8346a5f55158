//! tokio (current-thread runtime) running coio's task workloads (bench/peers/README.md).
//!
//!     coio-peer-tokio [N] [--spawn-n M] [workload...]
//!
//! Prints the same `name ops=... secs=... ns/op=...` lines as coio_bench, floor_libev and
//! reference_asyncio.py (plus ` bytes/op=...` for task_spawn_gather, and `  ! K timers fired
//! out of deadline order` when that happens).  Every workload runs in a task of its own
//! (`tokio::spawn`) on one current-thread runtime with the I/O and time drivers enabled.
//! Counters are plain loads and stores on relaxed atomics: there is one thread.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Notify};

static N: AtomicU64 = AtomicU64::new(1_000_000);
static CNT: AtomicU64 = AtomicU64::new(0);
static BAD: AtomicU64 = AtomicU64::new(0);
static LAST: AtomicU64 = AtomicU64::new(0); // f64 bits of the last fired deadline
static DONE: Notify = Notify::const_new();

fn n() -> u64 {
    N.load(Relaxed)
}

/// Adds one to CNT (one thread: no read-modify-write instruction needed) and returns it.
fn bump() -> u64 {
    let c = CNT.load(Relaxed) + 1;
    CNT.store(c, Relaxed);
    c
}

fn report(name: &str, ops: u64, secs: f64, extra: &str) {
    println!(
        "{:<24} ops={:9} secs={:8.4} ns/op={:9.1}{}",
        name,
        ops,
        secs,
        secs * 1e9 / ops as f64,
        extra
    );
}

/// xorshift64*: the same deterministic stream on every run; a double in [0, 1).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// task_yield_sleep0: one task does N x `yield_now().await` (asyncio's `await sleep(0)`).
async fn task_yield() -> f64 {
    let t0 = Instant::now();
    tokio::spawn(async {
        for _ in 0..n() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap();
    t0.elapsed().as_secs_f64()
}

/// queue_ping_pong: two unbounded channels a, b; the main task N x (a.send(i), b.recv()), a
/// ponger task N x (a.recv(), b.send(item)); then the main task awaits the ponger.
async fn ping_pong() -> f64 {
    let t0 = Instant::now();
    tokio::spawn(async {
        let (a_tx, mut a_rx) = mpsc::unbounded_channel::<u64>();
        let (b_tx, mut b_rx) = mpsc::unbounded_channel::<u64>();
        let ponger = tokio::spawn(async move {
            for _ in 0..n() {
                let v = a_rx.recv().await.unwrap();
                b_tx.send(v).unwrap();
            }
        });
        for i in 0..n() {
            a_tx.send(i).unwrap();
            let v = b_rx.recv().await.unwrap();
            assert_eq!(v, i, "queue_ping_pong: items out of order");
        }
        ponger.await.unwrap();
    })
    .await
    .unwrap();
    t0.elapsed().as_secs_f64()
}

/// timers_fire_ordered: tokio has no callback timers; `call_at(when, cb)` is a task that
/// sleeps until `when` and then runs cb.  N such tasks, deadlines in the last second (already
/// due); counts the ones that fire with an earlier deadline than the one before.
async fn timers_fire() -> f64 {
    CNT.store(0, Relaxed);
    BAD.store(0, Relaxed);
    LAST.store(f64::NEG_INFINITY.to_bits(), Relaxed);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let base = tokio::time::Instant::now();
    let offs: Vec<f64> = (0..n()).map(|_| rng.next()).collect();
    let t0 = Instant::now();
    for &off in &offs {
        let at = base - Duration::from_secs_f64(off);
        tokio::spawn(async move {
            tokio::time::sleep_until(at).await;
            let key = -off; // deadline relative to base
            if key < f64::from_bits(LAST.load(Relaxed)) {
                BAD.store(BAD.load(Relaxed) + 1, Relaxed);
            }
            LAST.store(key.to_bits(), Relaxed);
            if bump() == n() {
                DONE.notify_one();
            }
        });
    }
    DONE.notified().await;
    t0.elapsed().as_secs_f64()
}

/// Counts its drop (the cancelled task's future dropped) and wakes the main task at the last.
struct DropGuard;
impl Drop for DropGuard {
    fn drop(&mut self) {
        if bump() == 2 * n() {
            DONE.notify_one();
        }
    }
}

/// timers_schedule_cancel: N tasks sleeping 10-11 s (each registers its timer in its first
/// poll), run until every one has; abort them all and run until every one is dropped (its
/// timer deregistered).
async fn timers_cancel() -> f64 {
    CNT.store(0, Relaxed);
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let t0 = Instant::now();
    let mut hs = Vec::with_capacity(n() as usize);
    for _ in 0..n() {
        let d = Duration::from_secs_f64(10.0 + rng.next());
        hs.push(tokio::spawn(async move {
            let _g = DropGuard;
            let s = tokio::time::sleep(d);
            if bump() == n() {
                DONE.notify_one();
            }
            s.await;
            unreachable!("timers_schedule_cancel: a timer fired");
        }));
    }
    DONE.notified().await; // every task has started: its sleep is registered on its first poll
    for h in &hs {
        h.abort();
    }
    DONE.notified().await; // every task dropped
    let secs = t0.elapsed().as_secs_f64();
    drop(hs);
    secs
}

/// The peak resident set (VmHWM) in bytes.
fn peak_rss() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let l = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = l[6..].trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib * 1024)
}

/// Resets VmHWM to the current resident set (Linux 4.0+).
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// task_spawn_gather: a task spawns M children that each yield once and return i, awaits them
/// all in order (gather) and checks every result; bytes/op = peak resident-set growth per task.
async fn spawn_gather(m: u64) -> (f64, Option<f64>) {
    let reset = reset_peak_rss();
    let p0 = peak_rss();
    let t0 = Instant::now();
    tokio::spawn(async move {
        let hs: Vec<_> = (0..m)
            .map(|i| {
                tokio::spawn(async move {
                    tokio::task::yield_now().await;
                    i
                })
            })
            .collect();
        for (i, h) in hs.into_iter().enumerate() {
            assert_eq!(
                h.await.unwrap(),
                i as u64,
                "task_spawn_gather: wrong result"
            );
        }
    })
    .await
    .unwrap();
    let secs = t0.elapsed().as_secs_f64();
    let bytes = match (reset, p0, peak_rss()) {
        (true, Some(a), Some(b)) => Some(b.saturating_sub(a) as f64 / m as f64),
        _ => None,
    };
    (secs, bytes)
}

fn run<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(f)
}

const WORKLOADS: &[&str] = &[
    "timers_fire_ordered",
    "timers_schedule_cancel",
    "task_yield_sleep0",
    "queue_ping_pong",
    "task_spawn_gather",
];

fn main() {
    let mut args = std::env::args().skip(1).peekable();
    let mut spawn_n = 0u64;
    let mut only: Vec<String> = Vec::new();
    if let Some(a) = args.peek() {
        if a.chars().next().is_some_and(|c| c.is_ascii_digit()) {
            N.store(a.parse().expect("N"), Relaxed);
            args.next();
        }
    }
    while let Some(a) = args.next() {
        if a == "--spawn-n" {
            spawn_n = args
                .next()
                .and_then(|v| v.parse().ok())
                .expect("--spawn-n M");
        } else if WORKLOADS.contains(&a.as_str()) {
            only.push(a);
        } else {
            eprintln!(
                "coio-peer-tokio: unknown workload '{a}'; known: {}",
                WORKLOADS.join(" ")
            );
            std::process::exit(2);
        }
    }
    if spawn_n == 0 {
        spawn_n = n().min(100_000);
    }
    println!("# tokio current_thread runtime");
    for &w in WORKLOADS {
        if !only.is_empty() && !only.iter().any(|o| o == w) {
            continue;
        }
        match w {
            "timers_fire_ordered" => {
                let secs = run(timers_fire());
                report(w, n(), secs, "");
                let bad = BAD.load(Relaxed);
                if bad > 0 {
                    println!("  ! {bad} timers fired out of deadline order");
                }
            }
            "timers_schedule_cancel" => report(w, n(), run(timers_cancel()), ""),
            "task_yield_sleep0" => report(w, n(), run(task_yield()), ""),
            "queue_ping_pong" => report(w, n(), run(ping_pong()), ""),
            "task_spawn_gather" => {
                let (secs, bytes) = run(spawn_gather(spawn_n));
                let extra = bytes
                    .map(|b| format!(" bytes/op={b:.0}"))
                    .unwrap_or_default();
                report(w, spawn_n, secs, &extra);
            }
            _ => unreachable!(),
        }
    }
}
