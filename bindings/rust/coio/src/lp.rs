//! [`Loop`], [`LoopRef`], [`Handle`] and [`Remote`]: the event loop and its callbacks.
use crate::error::{check, Error, Result};
use crate::future::{Future, RawFuture};
use crate::task::{self, Task};
use coio_sys as sys;
use std::cell::Cell;
use std::marker::PhantomData;
use std::os::raw::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::rc::Rc;
use std::sync::Arc;

pub(crate) struct LoopShared {
    raw: Cell<*mut sys::coio_loop>,
    remote: Arc<RemoteInner>,
}

/// The thread-safe side of a loop: a `coio_remote` (atomically counted, safe from any thread,
/// also once the loop is closed and freed: calls then fail with ECLOSED).
pub(crate) struct RemoteInner {
    raw: *mut sys::coio_remote,
    /// For reports of a panic in a closure, which runs on the loop's thread (loop alive).
    lp: *mut sys::coio_loop,
}

// coio_remote_call_soon, coio_remote_release: thread-safe.  `lp` is only passed along to the
// closures, which use it on the loop's thread.
unsafe impl Send for RemoteInner {}
unsafe impl Sync for RemoteInner {}

impl Drop for RemoteInner {
    fn drop(&mut self) {
        unsafe { sys::coio_remote_release(self.raw) };
    }
}

/// An event loop.  One loop is driven by one thread: `Loop` is neither `Send` nor `Sync`
/// (like a current-thread runtime).  Dropping it closes the loop (pending callbacks are
/// discarded, their closures dropped) and releases it.  It dereferences to [`LoopRef`], where
/// its methods are.
///
/// ```
/// let lp = coio::Loop::new_virtual().unwrap();
/// let answer = lp.run_until_complete(async { 6 * 7 }).unwrap();
/// assert_eq!(answer, 42);
/// ```
pub struct Loop {
    r: LoopRef,
}

/// A reference to a [`Loop`] that can be cloned and kept in tasks and callbacks.  Once the
/// `Loop` is dropped, every method fails with [`Error::Closed`] (or panics where documented).
///
/// ```
/// let lp = coio::Loop::new_virtual().unwrap();
/// let r = lp.handle();
/// assert!(!r.is_closed());
/// drop(lp);
/// assert!(r.is_closed());
/// ```
#[derive(Clone)]
pub struct LoopRef {
    shared: Rc<LoopShared>,
}

/// Options for [`Loop::with_options`] (`coio_loop_options`).
///
/// ```
/// let opts = coio::LoopOptions { flags: coio::LoopFlags::VIRTUAL_TIME, ..Default::default() };
/// let lp = coio::Loop::with_options(&opts).unwrap();
/// assert_eq!(lp.time(), 0.0);
/// ```
#[derive(Clone, Debug)]
pub struct LoopOptions {
    /// `COIO_LOOP_*` flags.
    pub flags: sys::LoopFlags,
    /// The libev backend (`Backend::AUTO`: libev chooses).
    pub backend: sys::Backend,
    /// Debug mode: report callbacks slower than this many seconds.
    pub slow_callback_duration: f64,
}

impl Default for LoopOptions {
    fn default() -> Self {
        LoopOptions {
            flags: sys::LoopFlags::NONE,
            backend: sys::Backend::AUTO,
            slow_callback_duration: 0.1,
        }
    }
}

thread_local! {
    static RUNNING: Cell<*const LoopShared> = const { Cell::new(ptr::null()) };
}

impl Loop {
    /// A loop with the default options (real time).
    ///
    /// ```
    /// let lp = coio::Loop::new().unwrap();
    /// assert!(!lp.is_running());
    /// ```
    pub fn new() -> Result<Loop> {
        Loop::with_options(&LoopOptions::default())
    }

    /// A loop in virtual time (`COIO_LOOP_VIRTUAL_TIME`): the clock starts at 0 and jumps to
    /// the next timer whenever nothing is ready, so timers fire in order without waiting.
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// lp.run_until_complete(coio::sleep(3600.0)).unwrap().unwrap();
    /// assert_eq!(lp.time(), 3600.0);
    /// ```
    pub fn new_virtual() -> Result<Loop> {
        Loop::with_options(&LoopOptions {
            flags: sys::LoopFlags::VIRTUAL_TIME,
            ..Default::default()
        })
    }

    /// A loop with these options.
    ///
    /// ```
    /// let o = coio::LoopOptions { flags: coio::LoopFlags::DEBUG, ..Default::default() };
    /// assert!(coio::Loop::with_options(&o).unwrap().debug());
    /// ```
    pub fn with_options(o: &LoopOptions) -> Result<Loop> {
        let opts = sys::coio_loop_options {
            size: std::mem::size_of::<sys::coio_loop_options>() as u32,
            flags: o.flags.bits(),
            backend: o.backend.bits(),
            slow_callback_duration: o.slow_callback_duration,
        };
        let mut raw = ptr::null_mut();
        check(unsafe { sys::coio_loop_new(&mut raw, &opts) })?;
        let mut remote = ptr::null_mut();
        if let Err(e) = check(unsafe { sys::coio_loop_remote(raw, &mut remote) }) {
            unsafe { sys::coio_loop_release(raw) };
            return Err(e);
        }
        Ok(Loop {
            r: LoopRef {
                shared: Rc::new(LoopShared {
                    raw: Cell::new(raw),
                    remote: Arc::new(RemoteInner {
                        raw: remote,
                        lp: raw,
                    }),
                }),
            },
        })
    }

    /// A [`LoopRef`] to this loop.
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let r = lp.handle();
    /// assert_eq!(r.time(), lp.time());
    /// ```
    pub fn handle(&self) -> LoopRef {
        self.r.clone()
    }
}

impl std::ops::Deref for Loop {
    type Target = LoopRef;
    fn deref(&self) -> &LoopRef {
        &self.r
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let raw = self.r.shared.raw.get();
        if raw.is_null() {
            return;
        }
        unsafe {
            sys::coio_loop_close(raw);
            sys::coio_loop_release(raw);
        }
        self.r.shared.raw.set(ptr::null_mut());
    }
}

/// The loop running on this thread (inside `run_*`), as a [`LoopRef`].
///
/// Panics when no coio loop runs on this thread.
///
/// ```
/// let lp = coio::Loop::new_virtual().unwrap();
/// lp.run_until_complete(async {
///     let l = coio::current_loop();
///     assert!(l.is_running());
/// })
/// .unwrap();
/// ```
pub fn current_loop() -> LoopRef {
    try_current_loop().expect("coio: no coio loop is running on this thread")
}

/// The loop running on this thread, or `None`.
///
/// ```
/// assert!(coio::try_current_loop().is_none());
/// ```
pub fn try_current_loop() -> Option<LoopRef> {
    RUNNING.with(|r| {
        let p = r.get();
        if p.is_null() {
            None
        } else {
            unsafe {
                Rc::increment_strong_count(p);
                Some(LoopRef {
                    shared: Rc::from_raw(p),
                })
            }
        }
    })
}

pub(crate) fn running_raw() -> *mut sys::coio_loop {
    RUNNING.with(|r| {
        let p = r.get();
        if p.is_null() {
            ptr::null_mut()
        } else {
            unsafe { (*p).raw.get() }
        }
    })
}

struct RunningGuard(*const LoopShared);
impl Drop for RunningGuard {
    fn drop(&mut self) {
        RUNNING.with(|r| r.set(self.0));
    }
}

impl LoopRef {
    /// The C handle (null once the loop is dropped).  It stays owned by the loop.
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// assert!(!lp.as_raw().is_null());
    /// ```
    pub fn as_raw(&self) -> *mut sys::coio_loop {
        self.shared.raw.get()
    }

    fn raw_checked(&self) -> Result<*mut sys::coio_loop> {
        let r = self.as_raw();
        if r.is_null() {
            Err(Error::Closed)
        } else {
            Ok(r)
        }
    }

    fn enter(&self) -> RunningGuard {
        let me = Rc::as_ptr(&self.shared);
        RunningGuard(RUNNING.with(|r| r.replace(me)))
    }

    /// Runs `fut` as a task (see [`spawn`](crate::spawn)) until it is done and returns its
    /// output: asyncio's `loop.run_until_complete(coro)`.  The errors: the task was
    /// cancelled or panicked, the loop was stopped first ([`Error::State`]), is closed or
    /// already running.
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let s = lp.run_until_complete(async { "返回值".to_string() }).unwrap();
    /// assert_eq!(s, "返回值");
    /// ```
    pub fn run_until_complete<F>(&self, fut: F) -> Result<F::Output>
    where
        F: std::future::Future + 'static,
        F::Output: 'static,
    {
        let t = self.spawn(fut)?;
        self.run_until_done(&*t)?;
        t.take()
    }

    /// Runs the loop until `f` is done (`coio_loop_run_until_complete`) and returns its
    /// outcome without taking its result (read it afterwards with [`Future::result`] or
    /// [`Future::take`]).
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let f = lp.create_future::<u32>().unwrap();
    /// let g = f.clone();
    /// lp.call_soon(move || g.set_result(7).unwrap()).unwrap();
    /// lp.run_until_done(&f).unwrap();
    /// assert_eq!(f.result(), Ok(7));
    /// ```
    pub fn run_until_done(&self, f: &dyn RawFuture) -> Result<()> {
        let raw = self.raw_checked()?;
        let _g = self.enter();
        let st = unsafe { sys::coio_loop_run_until_complete(raw, f.raw_future()) };
        match st {
            sys::COIO_EFAILED | sys::COIO_ECANCELLED => {
                Err(crate::future::error_of(f.raw_future()))
            }
            st => check(st),
        }
    }

    /// Runs until [`stop`](LoopRef::stop) (`coio_loop_run_forever`).
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let r = lp.handle();
    /// lp.call_later(5.0, move || r.stop().unwrap()).unwrap();
    /// lp.run_forever().unwrap();
    /// assert_eq!(lp.time(), 5.0);
    /// ```
    pub fn run_forever(&self) -> Result<()> {
        let raw = self.raw_checked()?;
        let _g = self.enter();
        check(unsafe { sys::coio_loop_run_forever(raw) })
    }

    /// Makes the running loop return after the current pass (the next run does one pass if
    /// it is not running).
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// lp.stop().unwrap();
    /// lp.run_forever().unwrap(); // one pass
    /// ```
    pub fn stop(&self) -> Result<()> {
        check(unsafe { sys::coio_loop_stop(self.raw_checked()?) })
    }

    /// Closes the loop: scheduled callbacks are discarded and their closures dropped.
    /// Idempotent.  [`Error::Busy`] while it runs.
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// lp.close().unwrap();
    /// assert!(lp.is_closed());
    /// assert_eq!(lp.call_soon(|| {}).err(), Some(coio::Error::Closed));
    /// ```
    pub fn close(&self) -> Result<()> {
        check(unsafe { sys::coio_loop_close(self.raw_checked()?) })
    }

    /// The loop's clock in seconds (`loop.time()`); in virtual time it starts at 0.  NaN once
    /// the loop is dropped.
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// assert_eq!(lp.time(), 0.0);
    /// ```
    pub fn time(&self) -> f64 {
        unsafe { sys::coio_loop_time(self.as_raw()) }
    }

    /// Whether the loop is running.
    ///
    /// ```
    /// assert!(!coio::Loop::new_virtual().unwrap().is_running());
    /// ```
    pub fn is_running(&self) -> bool {
        unsafe { sys::coio_loop_is_running(self.as_raw()) == 1 }
    }

    /// Whether the loop is closed (also once it is dropped).
    ///
    /// ```
    /// assert!(!coio::Loop::new_virtual().unwrap().is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        unsafe { sys::coio_loop_is_closed(self.as_raw()) == 1 }
    }

    /// Whether debug mode is on.
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// lp.set_debug(true).unwrap();
    /// assert!(lp.debug());
    /// ```
    pub fn debug(&self) -> bool {
        unsafe { sys::coio_loop_get_debug(self.as_raw()) == 1 }
    }

    /// Turns debug mode on or off.
    ///
    /// ```
    /// coio::Loop::new_virtual().unwrap().set_debug(false).unwrap();
    /// ```
    pub fn set_debug(&self, on: bool) -> Result<()> {
        check(unsafe { sys::coio_loop_set_debug(self.raw_checked()?, on as i32) })
    }

    /// Schedules `f` on the next pass (`loop.call_soon`).  The closure is dropped exactly
    /// once: after it ran, when the handle is cancelled, or when the loop closes.  A panic in
    /// it is caught and reported through the loop's exception handler; the loop goes on.
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let hit = Rc::new(Cell::new(false));
    /// let h = hit.clone();
    /// lp.call_soon(move || h.set(true)).unwrap();
    /// lp.run_until_complete(coio::sleep(0.0)).unwrap().unwrap();
    /// assert!(hit.get());
    /// ```
    pub fn call_soon<F: FnOnce() + 'static>(&self, f: F) -> Result<Handle> {
        let raw = self.raw_checked()?;
        let (arg, cb, drop) = callback_parts(raw, f);
        let mut h = ptr::null_mut();
        let st = unsafe { sys::coio_call_soon(raw, cb, arg, drop, &mut h) };
        finish_handle(st, arg, drop, h)
    }

    /// Schedules `f` `delay` seconds from now (`loop.call_later`; a negative delay is 0).
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let h = lp.call_later(0.5, || println!("later")).unwrap();
    /// assert_eq!(h.when(), Ok(0.5));
    /// ```
    pub fn call_later<F: FnOnce() + 'static>(&self, delay: f64, f: F) -> Result<Handle> {
        let raw = self.raw_checked()?;
        let (arg, cb, drop) = callback_parts(raw, f);
        let mut h = ptr::null_mut();
        let st = unsafe { sys::coio_call_later(raw, delay, cb, arg, drop, &mut h) };
        finish_handle(st, arg, drop, h)
    }

    /// Schedules `f` at loop time `when` (`loop.call_at`).
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let h = lp.call_at(2.0, || {}).unwrap();
    /// assert_eq!(h.when(), Ok(2.0));
    /// ```
    pub fn call_at<F: FnOnce() + 'static>(&self, when: f64, f: F) -> Result<Handle> {
        let raw = self.raw_checked()?;
        let (arg, cb, drop) = callback_parts(raw, f);
        let mut h = ptr::null_mut();
        let st = unsafe { sys::coio_call_at(raw, when, cb, arg, drop, &mut h) };
        finish_handle(st, arg, drop, h)
    }

    /// A thread-safe handle to this loop, for other threads.
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let remote = lp.remote();
    /// std::thread::spawn(move || remote.call_soon(|| println!("hi")).unwrap())
    ///     .join()
    ///     .unwrap();
    /// ```
    pub fn remote(&self) -> Remote {
        Remote {
            inner: self.shared.remote.clone(),
        }
    }

    /// A new pending future of this loop (`loop.create_future()`), for a result of type `T`.
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let f = lp.create_future::<String>().unwrap();
    /// assert!(!f.done());
    /// ```
    pub fn create_future<T: 'static>(&self) -> Result<Future<T>> {
        let mut f = ptr::null_mut();
        check(unsafe { sys::coio_future_new(self.raw_checked()?, &mut f) })?;
        Ok(unsafe { Future::from_raw_boxed(f) })
    }

    /// Runs `fut` as a task of this loop (see [`spawn`](crate::spawn)).
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let t = lp.spawn(async { 1 + 1 }).unwrap();
    /// lp.run_until_done(&t).unwrap();
    /// assert_eq!(t.take(), Ok(2));
    /// ```
    pub fn spawn<F>(&self, fut: F) -> Result<Task<F::Output>>
    where
        F: std::future::Future + 'static,
        F::Output: 'static,
    {
        task::spawn_raw(
            self.raw_checked()?,
            fut,
            task::finish_plain::<F::Output>,
            None,
        )
    }

    /// Runs a fallible `fut` as a task of this loop (see [`spawn_try`](crate::spawn_try)).
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let t = lp.spawn_try(async { Err::<u8, _>(coio::Error::Broken) }).unwrap();
    /// assert_eq!(lp.run_until_done(&t), Err(coio::Error::Broken));
    /// ```
    pub fn spawn_try<F, T>(&self, fut: F) -> Result<Task<T>>
    where
        F: std::future::Future<Output = Result<T>> + 'static,
        T: 'static,
    {
        task::spawn_raw(self.raw_checked()?, fut, task::finish_try::<T>, None)
    }

    /// A future that completes `delay` seconds from now (see [`sleep`](crate::sleep)).
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let s = lp.sleep(1.5);
    /// lp.run_until_done(&s).unwrap();
    /// assert_eq!(lp.time(), 1.5);
    /// ```
    pub fn sleep(&self, delay: f64) -> Future<()> {
        match self.raw_checked() {
            Ok(raw) => crate::future::sleep_on(raw, delay),
            Err(e) => Future::failed(e),
        }
    }
}

/// What the loop's exception handler receives (asyncio's handler `context`).
///
/// ```
/// let c = coio::ExceptionContext { message: "m".into(), code: 0, error: None };
/// assert_eq!(c.message, "m");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExceptionContext {
    /// What happened ("Future exception was never retrieved", "panic in a callback", ...).
    pub message: String,
    /// The error code involved (0 if none).
    pub code: i32,
    /// The error's message, if any (a panic's message).
    pub error: Option<String>,
}

impl LoopRef {
    /// Installs `f` as the loop's exception handler (asyncio's `set_exception_handler`); it
    /// receives errors nobody retrieved, slow callbacks in debug mode, and the panics this
    /// crate catches in callbacks.  A panic in the handler itself is printed on stderr.
    ///
    /// ```
    /// use std::{cell::RefCell, rc::Rc};
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let seen = Rc::new(RefCell::new(vec![]));
    /// let s = seen.clone();
    /// lp.set_exception_handler(move |c| s.borrow_mut().push(c.error.clone())).unwrap();
    /// lp.call_soon(|| panic!("oops")).unwrap();
    /// lp.run_until_complete(coio::sleep(0.0)).unwrap().unwrap();
    /// assert_eq!(*seen.borrow(), vec![Some("oops".to_string())]);
    /// ```
    pub fn set_exception_handler<F: Fn(&ExceptionContext) + 'static>(&self, f: F) -> Result<()> {
        let raw = self.raw_checked()?;
        let arg = Box::into_raw(Box::new(f)) as *mut c_void;
        let st = unsafe {
            sys::coio_loop_set_exception_handler(
                raw,
                Some(handler_call::<F>),
                arg,
                Some(handler_drop::<F>),
            )
        };
        if st != sys::COIO_OK {
            unsafe { handler_drop::<F>(arg) };
        }
        check(st)
    }

    /// Restores the default exception handler (one line on stderr).
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// lp.set_exception_handler(|_| {}).unwrap();
    /// lp.reset_exception_handler().unwrap();
    /// ```
    pub fn reset_exception_handler(&self) -> Result<()> {
        check(unsafe {
            sys::coio_loop_set_exception_handler(self.raw_checked()?, None, ptr::null_mut(), None)
        })
    }
}

unsafe extern "C" fn handler_call<F: Fn(&ExceptionContext) + 'static>(
    _lp: *mut sys::coio_loop,
    ctx: *const sys::coio_exception_context,
    arg: *mut c_void,
) {
    let f = &*(arg as *const F);
    let c = &*ctx;
    let ec = ExceptionContext {
        message: crate::error::opt_string(c.message).unwrap_or_default(),
        code: c.code,
        error: crate::error::opt_string(c.error),
    };
    if let Err(p) = catch_unwind(AssertUnwindSafe(|| f(&ec))) {
        eprintln!(
            "coio: panic in the exception handler: {}",
            panic_message(&*p)
        );
    }
}

unsafe extern "C" fn handler_drop<F>(arg: *mut c_void) {
    let b = Box::from_raw(arg as *mut F);
    if let Err(p) = catch_unwind(AssertUnwindSafe(move || drop(b))) {
        eprintln!(
            "coio: panic while dropping the exception handler: {}",
            panic_message(&*p)
        );
    }
}

/// A scheduled callback (`asyncio.Handle` / `TimerHandle`).  Dropping it does not cancel it.
///
/// ```
/// let lp = coio::Loop::new_virtual().unwrap();
/// let h = lp.call_soon(|| panic!("never runs")).unwrap();
/// h.cancel();
/// assert!(h.cancelled());
/// lp.run_until_complete(coio::sleep(0.0)).unwrap().unwrap();
/// ```
pub struct Handle {
    raw: *mut sys::coio_handle,
    _nosend: PhantomData<*mut ()>,
}

impl Handle {
    /// Cancels the callback if it has not run; its closure is dropped now.
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// lp.call_later(1.0, || {}).unwrap().cancel();
    /// ```
    pub fn cancel(&self) {
        unsafe { sys::coio_handle_cancel(self.raw) };
    }

    /// Whether [`cancel`](Handle::cancel) cancelled it.
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// assert!(!lp.call_soon(|| {}).unwrap().cancelled());
    /// ```
    pub fn cancelled(&self) -> bool {
        unsafe { sys::coio_handle_cancelled(self.raw) == 1 }
    }

    /// A timer's deadline in loop time ([`Error::Invalid`] for a `call_soon` handle).
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// assert_eq!(lp.call_soon(|| {}).unwrap().when(), Err(coio::Error::Invalid));
    /// ```
    pub fn when(&self) -> Result<f64> {
        let mut w = 0.0;
        check(unsafe { sys::coio_handle_when(self.raw, &mut w) })?;
        Ok(w)
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        unsafe { sys::coio_handle_release(self.raw) };
    }
}

/// A thread-safe handle to a loop (`Send + Sync`, coio's `coio_remote`): schedules closures on
/// it from any thread.  It never touches a loop that is gone: once the [`Loop`] is closed (or
/// dropped), calls fail with [`Error::Closed`] and the closure is dropped on the calling
/// thread; a call accepted just before the close is dropped by the close, exactly once.
///
/// ```
/// let lp = coio::Loop::new_virtual().unwrap();
/// let remote = lp.remote();
/// drop(lp);
/// assert_eq!(remote.call_soon(|| {}), Err(coio::Error::Closed));
/// ```
#[derive(Clone)]
pub struct Remote {
    inner: Arc<RemoteInner>,
}

impl Remote {
    /// Schedules `f` on the loop's thread (`coio_remote_call_soon`); wakes the loop.
    ///
    /// ```
    /// use std::sync::{Arc, atomic::{AtomicBool, Ordering}};
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let remote = lp.remote();
    /// let hit = Arc::new(AtomicBool::new(false));
    /// let h = hit.clone();
    /// remote.call_soon(move || h.store(true, Ordering::SeqCst)).unwrap();
    /// lp.run_until_complete(coio::sleep(0.0)).unwrap().unwrap();
    /// assert!(hit.load(Ordering::SeqCst));
    /// ```
    pub fn call_soon<F: FnOnce() + Send + 'static>(&self, f: F) -> Result<()> {
        self.inner.call_soon(f)
    }
}

impl RemoteInner {
    pub(crate) fn call_soon<F: FnOnce() + Send + 'static>(&self, f: F) -> Result<()> {
        let (arg, cb, drop) = callback_parts(self.lp, f);
        // Takes arg whatever happens: on failure the closure was dropped here already.
        check(unsafe { sys::coio_remote_call_soon(self.raw, cb, arg, drop) })
    }
}

/// The thread-safe handle of `raw` (on its thread, loop open): the running Loop's, else a new
/// one.
pub(crate) fn remote_of(raw: *mut sys::coio_loop) -> Option<Arc<RemoteInner>> {
    let running = RUNNING.with(|r| {
        let p = r.get();
        if !p.is_null() && unsafe { (*p).raw.get() } == raw {
            Some(unsafe { (*p).remote.clone() })
        } else {
            None
        }
    });
    running.or_else(|| {
        let mut r = ptr::null_mut();
        (unsafe { sys::coio_loop_remote(raw, &mut r) } == sys::COIO_OK)
            .then(|| Arc::new(RemoteInner { raw: r, lp: raw }))
    })
}

struct CallbackBox<F> {
    f: Option<F>,
    lp: *mut sys::coio_loop,
}

type Parts = (*mut c_void, sys::coio_callback, sys::coio_free_fn);

fn callback_parts<F: FnOnce() + 'static>(lp: *mut sys::coio_loop, f: F) -> Parts {
    let b = Box::new(CallbackBox { f: Some(f), lp });
    (
        Box::into_raw(b) as *mut c_void,
        Some(call_box::<F>),
        Some(drop_box_cb::<F>),
    )
}

unsafe extern "C" fn call_box<F: FnOnce() + 'static>(arg: *mut c_void) {
    let b = &mut *(arg as *mut CallbackBox<F>);
    if let Some(f) = b.f.take() {
        if let Err(p) = catch_unwind(AssertUnwindSafe(f)) {
            report_panic(b.lp, "panic in a callback", &*p);
        }
    }
}

unsafe extern "C" fn drop_box_cb<F>(arg: *mut c_void) {
    let b = Box::from_raw(arg as *mut CallbackBox<F>);
    if let Err(p) = catch_unwind(AssertUnwindSafe(move || drop(b))) {
        report_panic(ptr::null_mut(), "panic while dropping a callback", &*p);
    }
}

fn finish_handle(
    st: i32,
    arg: *mut c_void,
    drop: sys::coio_free_fn,
    h: *mut sys::coio_handle,
) -> Result<Handle> {
    if st != sys::COIO_OK {
        unsafe { drop.unwrap()(arg) };
        return Err(Error::from_status(st).unwrap_or(Error::Invalid));
    }
    Ok(Handle {
        raw: h,
        _nosend: PhantomData,
    })
}

/// The message of a panic payload.
pub(crate) fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any>".to_string()
    }
}

/// Reports a caught panic through the loop's exception handler (stderr without a loop).
pub(crate) fn report_panic(lp: *mut sys::coio_loop, what: &str, p: &(dyn std::any::Any + Send)) {
    let msg = panic_message(p);
    let cwhat = std::ffi::CString::new(what).unwrap_or_default();
    let cmsg = std::ffi::CString::new(msg.replace('\0', "?")).unwrap_or_default();
    let ctx = sys::coio_exception_context {
        size: std::mem::size_of::<sys::coio_exception_context>() as u32,
        message: cwhat.as_ptr(),
        code: sys::COIO_EFAILED,
        error: cmsg.as_ptr(),
        future: ptr::null_mut(),
        handle: ptr::null_mut(),
    };
    if lp.is_null() || unsafe { sys::coio_loop_call_exception_handler(lp, &ctx) } != sys::COIO_OK {
        eprintln!("coio: {what}: {msg}");
    }
}
