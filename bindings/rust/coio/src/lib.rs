//! Safe Rust binding to libcoio, asyncio's core as a C library.
//!
//! - [`Loop`]: the event loop (one per thread, not `Send`), `run_until_complete`,
//!   `call_soon` / `call_later` / `call_at` with closures, [`Handle::cancel`].
//! - [`Future<T>`]: typed coio futures implementing [`std::future::Future`].
//! - [`spawn`] / [`spawn_try`]: Rust futures as coio step-driven tasks ([`Task<T>`]), one poll
//!   per step; a coio future awaited by the body is awaited directly by the step.
//! - Combinators: [`gather`], [`wait`], [`as_completed`], [`wait_for`], [`shield`],
//!   [`timeout`] scopes, [`TaskGroup`]; primitives [`Event`], [`Lock`], [`Semaphore`],
//!   [`Condition`], [`Barrier`], [`Queue`]; [`sleep`].
//! - One error type, [`Error`]; a panic never unwinds through C.
//!
//! ```
//! let lp = coio::Loop::new_virtual().unwrap();
//! let out = lp
//!     .run_until_complete(async {
//!         let a = coio::spawn(async { coio::sleep(1.0).await.map(|_| 1) });
//!         let b = coio::spawn(async { coio::sleep(2.0).await.map(|_| 2) });
//!         let r = coio::gather(vec![a, b]).await.unwrap();
//!         (r, coio::current_loop().time())
//!     })
//!     .unwrap();
//! assert_eq!(out, (vec![Ok(1), Ok(2)], 2.0));
//! ```
#![warn(missing_docs)]

mod combinators;
mod error;
mod future;
mod lp;
mod queue;
mod repr;
mod sync;
mod task;

pub use coio_sys::{Backend, LoopFlags, QueueKind, ReturnWhen, Status};
pub use combinators::{
    as_completed, gather, gather_settled, shield, timeout, timeout_at, wait, wait_for, AsCompleted,
    Completion, Gather, TaskGroup, Timeout, Wait, WaitResult,
};
pub use error::{Error, Result};
pub use future::{sleep, Future, RawFuture, Sleep};
pub use lp::{
    current_loop, try_current_loop, ExceptionContext, Handle, Loop, LoopOptions, LoopRef, Remote,
};
pub use queue::Queue;
pub use repr::Repr;
pub use sync::{Barrier, CondLock, Condition, Event, Lock, Semaphore};
pub use task::{spawn, spawn_try, waker_suspensions, Task};

/// The raw FFI crate.
pub use coio_sys as sys;
