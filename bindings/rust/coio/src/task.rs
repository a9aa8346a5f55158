//! Rust futures as coio step-driven tasks: [`spawn`], [`spawn_try`], [`Task<T>`].
//!
//! A task is a `coio_task_new` task whose step function polls the Rust future once.  When the
//! poll returns `Pending` having met exactly one pending coio [`Future`] and with no waker
//! kept anywhere, the step awaits that future directly (`coio_step_await`): the loop resumes
//! the task when it completes, as asyncio's `Task.__step` does, with no waker involved.
//! Otherwise (a `join!` over several futures, a channel fed by another thread, ...) the step
//! awaits a private wake-up future that the task's [`Waker`] completes: on the loop thread
//! directly, from other threads through the loop's thread-safe handle
//! ([`Remote`](crate::Remote)), which is safe after the loop is gone.
//!
//! A cancellation delivered to the task (`resume_status == COIO_ECANCELLED`) is raised at the
//! first coio future the body polls next: that poll returns [`Error::Cancelled`].  A body that
//! polls no coio future in that step (it waits on a channel, say) is dropped where it waits
//! and the task ends cancelled.  A panic in the body fails the task with the panic message; it
//! never unwinds into C.
use crate::error::{check, Error, Result};
use crate::future::{take_boxed, value_drop, value_into_raw, Future, RawFuture};
use crate::lp::{panic_message, remote_of, report_panic, RemoteInner};
use coio_sys as sys;
use std::cell::{Cell, UnsafeCell};
use std::ffi::CString;
use std::os::raw::{c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
use std::thread::ThreadId;

/// The part of a task cell the leaf futures see, whatever the body's type.
pub(crate) struct TaskCore {
    task: Cell<*mut sys::coio_future>,
    lp: *mut sys::coio_loop,
    /// The one pending coio future met in this poll, awaited directly if nothing else waits.
    direct: Cell<*mut sys::coio_future>,
    /// More than one pending coio future met in this poll.
    many: Cell<bool>,
    /// The future this step was resumed by, when it succeeded (its poll needs not ask C).
    resumed_ok: Cell<*mut sys::coio_future>,
    /// A cancellation to raise at the next coio future the body polls (with its message).
    cancel: Cell<bool>,
    cancel_msg: Cell<Option<String>>,
    polling: Cell<bool>,
    /// The private future the step awaits when a waker is in use (owned reference, or null).
    wake_fut: Cell<*mut sys::coio_future>,
    /// The direct future a waker registration was added to (owned reference, or null).
    slow_reg: Cell<*mut sys::coio_future>,
    /// Set by a wake during the poll: run again on the next pass.
    woken: Cell<bool>,
    /// The shared state of the task's wakers, made at the first clone of the waker (a task
    /// that only awaits coio futures never needs one).  Loop thread only.
    wake: UnsafeCell<Option<Arc<WakeState>>>,
}

struct TaskCell<F: std::future::Future> {
    core: TaskCore,
    fut: UnsafeCell<Option<F>>,
    finish: unsafe fn(*mut sys::coio_future, F::Output) -> c_int,
}

/// What a [`Waker`] of a task holds: thread-safe.  `core` is read on the loop thread only,
/// and cleared there when the task's body is dropped.
pub(crate) struct WakeState {
    core: AtomicPtr<TaskCore>,
    thread: ThreadId,
    remote: Option<Arc<RemoteInner>>,
}

thread_local! {
    static CURRENT: Cell<*const TaskCore> = const { Cell::new(ptr::null()) };
    static WAKER_SUSPENSIONS: Cell<u64> = const { Cell::new(0) };
}

/// How many times a task on this thread suspended on its wake-up future (the waker path)
/// instead of awaiting a coio future directly.  For tests of the direct path.
///
/// ```
/// let before = coio::waker_suspensions();
/// let lp = coio::Loop::new_virtual().unwrap();
/// lp.run_until_complete(async { coio::sleep(1.0).await }).unwrap().unwrap();
/// assert_eq!(coio::waker_suspensions(), before); // awaited directly
/// ```
#[doc(hidden)]
pub fn waker_suspensions() -> u64 {
    WAKER_SUSPENSIONS.with(Cell::get)
}

/// The task whose step is polling on this thread, if any.
#[inline]
pub(crate) fn current_core<'a>() -> Option<&'a TaskCore> {
    let p = CURRENT.with(Cell::get);
    // Valid for the poll: the step clears it before the cell can go away.
    unsafe { p.as_ref() }
}

impl TaskCore {
    pub(crate) fn loop_raw(&self) -> *mut sys::coio_loop {
        self.lp
    }

    /// The pending cancellation, consumed.
    #[inline]
    pub(crate) fn take_cancel(&self) -> Option<Error> {
        if !self.cancel.get() {
            return None;
        }
        self.cancel.set(false);
        Some(Error::Cancelled(self.cancel_msg.take()))
    }

    /// Whether `f` is the future that resumed this step with success (so it is done and
    /// succeeded).
    #[inline]
    pub(crate) fn resumed_by(&self, f: *mut sys::coio_future) -> bool {
        self.resumed_ok.get() == f
    }

    fn set_cancel(&self, msg: Option<String>) {
        self.cancel.set(true);
        self.cancel_msg.set(msg);
    }

    /// Records `f` as the future this step may await directly.  False when the poll does not
    /// come with the task's own waker (a combinator such as FuturesUnordered that wakes its
    /// children separately), or when another future was recorded already: the caller then
    /// registers the waker.
    #[inline]
    pub(crate) fn record_direct(&self, f: *mut sys::coio_future, w: &Waker) -> bool {
        let own = std::mem::ManuallyDrop::new(unsafe {
            Waker::from_raw(RawWaker::new(
                self as *const TaskCore as *const (),
                &BORROWED,
            ))
        });
        if !w.will_wake(&own) {
            return false;
        }
        let d = self.direct.get();
        if d.is_null() {
            self.direct.set(f);
            true
        } else if d == f {
            true
        } else {
            self.many.set(true);
            false
        }
    }
}

/// The loop of the running task, else the loop running on this thread; null if none.
pub(crate) fn current_raw_loop() -> *mut sys::coio_loop {
    let lp = CURRENT.with(|c| {
        let p = c.get();
        if p.is_null() {
            ptr::null_mut()
        } else {
            unsafe { (*p).lp }
        }
    });
    if lp.is_null() {
        crate::lp::running_raw()
    } else {
        lp
    }
}

// ---- the waker -------------------------------------------------------------------------------
//
// The step polls with a borrowed waker whose data is the task's core (no allocation, no
// reference count).  Cloning it makes (once) the task's Arc<WakeState>, and the clone is an
// Arc waker, usable from any thread.

static BORROWED: RawWakerVTable = RawWakerVTable::new(b_clone, b_wake, b_wake, b_drop);

unsafe fn b_clone(p: *const ()) -> RawWaker {
    let core = &*(p as *const TaskCore);
    let a = core.wake_state();
    RawWaker::new(Arc::into_raw(a) as *const (), &VTABLE)
}
unsafe fn b_wake(p: *const ()) {
    // Only reachable during the poll, on the loop thread.
    (*(p as *const TaskCore)).woken.set(true);
}
unsafe fn b_drop(_p: *const ()) {}

impl TaskCore {
    /// A new reference to the task's WakeState (made at the first call).
    fn wake_state(&self) -> Arc<WakeState> {
        let slot = unsafe { &mut *self.wake.get() };
        slot.get_or_insert_with(|| {
            Arc::new(WakeState {
                core: AtomicPtr::new(self as *const TaskCore as *mut TaskCore),
                thread: std::thread::current().id(),
                remote: remote_of(self.lp),
            })
        })
        .clone()
    }

    /// No waker of this task exists outside it.
    #[inline]
    fn no_wakers(&self) -> bool {
        match unsafe { &*self.wake.get() } {
            None => true,
            Some(a) => Arc::strong_count(a) == 1,
        }
    }
}

static VTABLE: RawWakerVTable = RawWakerVTable::new(w_clone, w_wake, w_wake_by_ref, w_drop);

unsafe fn w_clone(p: *const ()) -> RawWaker {
    Arc::increment_strong_count(p as *const WakeState);
    RawWaker::new(p, &VTABLE)
}
unsafe fn w_wake(p: *const ()) {
    let a = Arc::from_raw(p as *const WakeState);
    WakeState::wake(&a);
}
unsafe fn w_wake_by_ref(p: *const ()) {
    let a = std::mem::ManuallyDrop::new(Arc::from_raw(p as *const WakeState));
    WakeState::wake(&a);
}
unsafe fn w_drop(p: *const ()) {
    drop(Arc::from_raw(p as *const WakeState));
}

impl WakeState {
    fn wake(this: &Arc<WakeState>) {
        if std::thread::current().id() == this.thread {
            this.wake_local();
        } else if let Some(r) = &this.remote {
            let me = this.clone();
            // ECLOSED: the loop is gone, and the task with it.
            let _ = r.call_soon(move || me.wake_local());
        }
    }

    /// On the loop thread.
    fn wake_local(&self) {
        let p = self.core.load(Ordering::Acquire);
        if p.is_null() {
            return; // the task is gone
        }
        let core = unsafe { &*p };
        if core.polling.get() {
            core.woken.set(true);
            return;
        }
        let w = core.wake_fut.get();
        if !w.is_null() && unsafe { sys::coio_future_done(w) } == 0 {
            unsafe { sys::coio_future_set_result(w, ptr::null_mut(), None) };
        }
    }
}

unsafe extern "C" fn reg_wake(_f: *mut sys::coio_future, arg: *mut c_void) {
    let a = std::mem::ManuallyDrop::new(Arc::from_raw(arg as *const WakeState));
    a.wake_local();
}
unsafe extern "C" fn reg_drop(arg: *mut c_void) {
    drop(Arc::from_raw(arg as *const WakeState));
}

// ---- the step --------------------------------------------------------------------------------

fn set_ref(slot: &Cell<*mut sys::coio_future>, f: *mut sys::coio_future) {
    let old = slot.replace(if f.is_null() {
        f
    } else {
        unsafe { sys::coio_future_ref(f) }
    });
    unsafe { sys::coio_future_release(old) };
}

unsafe extern "C" fn step<F: std::future::Future>(
    task: *mut sys::coio_future,
    awaited: *mut sys::coio_future,
    status: c_int,
    arg: *mut c_void,
) -> c_int {
    let cell = &*(arg as *const TaskCell<F>);
    let core = &cell.core;
    core.task.set(task);
    if !core.wake_fut.get().is_null() {
        set_ref(&core.wake_fut, ptr::null_mut());
    }
    core.resumed_ok.set(if status == sys::COIO_OK {
        awaited
    } else {
        ptr::null_mut()
    });
    if status == sys::COIO_ECANCELLED {
        // The message of the cancellation being delivered (the awaited future's, or that of
        // the cancel() delivered at this step).
        let mut m = ptr::null();
        let msg = if sys::coio_task_cancel_message(task, &mut m) == sys::COIO_OK {
            crate::error::opt_string(m)
        } else {
            None
        };
        core.set_cancel(msg);
    }
    core.direct.set(ptr::null_mut());
    core.many.set(false);
    core.polling.set(true);
    let prev = CURRENT.with(|c| c.replace(core));
    let waker = std::mem::ManuallyDrop::new(Waker::from_raw(RawWaker::new(
        core as *const TaskCore as *const (),
        &BORROWED,
    )));
    let mut cx = Context::from_waker(&waker);
    let slot = &mut *cell.fut.get();
    let r = catch_unwind(AssertUnwindSafe(|| match slot.as_mut() {
        Some(f) => Pin::new_unchecked(f).poll(&mut cx),
        None => unreachable!(),
    }));
    CURRENT.with(|c| c.set(prev));
    core.polling.set(false);
    match r {
        Err(p) => {
            let msg = format!("panicked: {}", panic_message(&*p));
            drop_body(cell, core.lp);
            let c = CString::new(msg.replace('\0', "?")).unwrap_or_default();
            sys::coio_future_set_error(task, sys::COIO_EFAILED, c.as_ptr());
            sys::COIO_EFAILED
        }
        Ok(Poll::Ready(out)) => {
            drop_body(cell, core.lp);
            if core.take_cancel().is_some() {
                // The cancellation reached no coio future: the task ends cancelled.
                if let Err(p) = catch_unwind(AssertUnwindSafe(move || drop(out))) {
                    report_panic(core.lp, "panic while dropping a task's output", &*p);
                }
                return sys::COIO_ECANCELLED;
            }
            (cell.finish)(task, out)
        }
        Ok(Poll::Pending) => {
            if core.cancel.get() {
                // The body waits on something that is no coio future, which cannot raise the
                // cancellation: cancel it the Rust way, by dropping it where it waits (its
                // drops run), and end the task cancelled.
                core.take_cancel();
                drop_body(cell, core.lp);
                return sys::COIO_ECANCELLED;
            }
            if core.woken.get() {
                core.woken.set(false);
                return sys::COIO_STEP_YIELD as c_int;
            }
            let direct = core.direct.get();
            let quiet = core.no_wakers() && !core.many.get();
            if !direct.is_null() && quiet && sys::coio_step_await(task, direct) == sys::COIO_OK {
                return sys::COIO_STEP_AWAIT as c_int;
            }
            // Wakers are in use: await the private wake-up future; the direct future wakes it
            // through a registration too.
            if !direct.is_null() && core.slow_reg.get() != direct {
                let a = Arc::into_raw(core.wake_state()) as *mut c_void;
                if sys::coio_future_add_done_callback(direct, Some(reg_wake), a, Some(reg_drop))
                    == sys::COIO_OK
                {
                    set_ref(&core.slow_reg, direct);
                } else {
                    reg_drop(a);
                }
            }
            let mut w = ptr::null_mut();
            let st = sys::coio_future_new(core.lp, &mut w);
            if st != sys::COIO_OK {
                return st;
            }
            core.wake_fut.set(w);
            WAKER_SUSPENSIONS.with(|c| c.set(c.get() + 1));
            let st = sys::coio_step_await(task, w);
            if st != sys::COIO_OK {
                return st;
            }
            sys::COIO_STEP_AWAIT as c_int
        }
    }
}

/// Drops the body (catching a panic in its drop) once it finished.
unsafe fn drop_body<F: std::future::Future>(cell: &TaskCell<F>, lp: *mut sys::coio_loop) {
    let slot = &mut *cell.fut.get();
    if let Err(p) = catch_unwind(AssertUnwindSafe(|| *slot = None)) {
        report_panic(lp, "panic while dropping a task's future", &*p);
    }
}

unsafe extern "C" fn drop_cell<F: std::future::Future>(arg: *mut c_void) {
    let cell = Box::from_raw(arg as *mut TaskCell<F>);
    if let Some(w) = &*cell.core.wake.get() {
        w.core.store(ptr::null_mut(), Ordering::Release);
    }
    set_ref(&cell.core.wake_fut, ptr::null_mut());
    set_ref(&cell.core.slow_reg, ptr::null_mut());
    let lp = cell.core.lp;
    if let Err(p) = catch_unwind(AssertUnwindSafe(move || drop(cell))) {
        report_panic(lp, "panic while dropping a task's future", &*p);
    }
}

pub(crate) unsafe fn finish_plain<T: 'static>(task: *mut sys::coio_future, out: T) -> c_int {
    let (p, d) = value_into_raw(out);
    let st = sys::coio_future_set_result(task, p, d);
    if st != sys::COIO_OK {
        value_drop::<T>(p);
        return st;
    }
    sys::COIO_OK
}

pub(crate) unsafe fn finish_try<T: 'static>(task: *mut sys::coio_future, out: Result<T>) -> c_int {
    match out {
        Ok(v) => finish_plain(task, v),
        Err(Error::Cancelled(msg)) => {
            // asyncio's `raise CancelledError(msg)`: the task ends cancelled with this message.
            let c = msg.map(|m| CString::new(m.replace('\0', "?")).unwrap_or_default());
            sys::coio_task_set_cancelled(task, c.as_ref().map_or(ptr::null(), |c| c.as_ptr()));
            sys::COIO_ECANCELLED
        }
        Err(e) => {
            let msg = e
                .message()
                .map(str::to_string)
                .unwrap_or_else(|| e.to_string());
            let c = CString::new(msg.replace('\0', "?")).unwrap_or_default();
            sys::coio_future_set_error(task, e.code(), c.as_ptr());
            sys::COIO_EFAILED
        }
    }
}

/// Creates the task (in `group` if given).
pub(crate) fn spawn_raw<F, T>(
    lp: *mut sys::coio_loop,
    fut: F,
    finish: unsafe fn(*mut sys::coio_future, F::Output) -> c_int,
    group: Option<*mut sys::coio_task_group>,
) -> Result<Task<T>>
where
    F: std::future::Future + 'static,
    T: 'static,
{
    let cell = Box::new(TaskCell {
        core: TaskCore {
            task: Cell::new(ptr::null_mut()),
            lp,
            direct: Cell::new(ptr::null_mut()),
            many: Cell::new(false),
            resumed_ok: Cell::new(ptr::null_mut()),
            cancel: Cell::new(false),
            cancel_msg: Cell::new(None),
            polling: Cell::new(false),
            wake_fut: Cell::new(ptr::null_mut()),
            slow_reg: Cell::new(ptr::null_mut()),
            woken: Cell::new(false),
            wake: UnsafeCell::new(None),
        },
        fut: UnsafeCell::new(Some(fut)),
        finish,
    });
    let arg = Box::into_raw(cell);
    let mut t = ptr::null_mut();
    let st = unsafe {
        match group {
            None => sys::coio_task_new(
                lp,
                Some(step::<F>),
                arg as *mut c_void,
                Some(drop_cell::<F>),
                ptr::null(),
                &mut t,
            ),
            Some(g) => sys::coio_task_group_task_new(
                g,
                Some(step::<F>),
                arg as *mut c_void,
                Some(drop_cell::<F>),
                ptr::null(),
                &mut t,
            ),
        }
    };
    if st != sys::COIO_OK {
        unsafe { drop_cell::<F>(arg as *mut c_void) };
        return Err(Error::from_status(st).unwrap_or(Error::Invalid));
    }
    Ok(Task {
        fut: unsafe { Future::from_raw_with(t, take_boxed::<T>, true) },
    })
}

/// Runs `fut` as a coio task on the running loop (asyncio's `create_task`) and returns its
/// [`Task`].  The first step runs on the loop's next pass, as in asyncio.  The task
/// completes with the future's output; if the body panics it fails with the panic message.
///
/// Panics when no coio loop is running on this thread (use
/// [`LoopRef::spawn`](crate::LoopRef::spawn) before running it).
///
/// ```
/// let lp = coio::Loop::new_virtual().unwrap();
/// let n = lp
///     .run_until_complete(async {
///         let t = coio::spawn(async { 21 * 2 });
///         t.await.unwrap()
///     })
///     .unwrap();
/// assert_eq!(n, 42);
/// ```
pub fn spawn<F>(fut: F) -> Task<F::Output>
where
    F: std::future::Future + 'static,
    F::Output: 'static,
{
    let lp = current_raw_loop();
    assert!(
        !lp.is_null(),
        "coio::spawn: no coio loop is running on this thread"
    );
    spawn_raw(lp, fut, finish_plain::<F::Output>, None).expect("coio::spawn")
}

/// As [`spawn`], for a body returning `coio::Result<T>`: `Ok(v)` completes the task with `v`,
/// `Err(Error::Cancelled(_))` ends it cancelled (as a coroutine that lets `CancelledError`
/// out), any other error fails it with that error's code and message.  Awaiting the task
/// gives `Result<T>`.
///
/// ```
/// let lp = coio::Loop::new_virtual().unwrap();
/// let r = lp
///     .run_until_complete(async {
///         let t = coio::spawn_try(async {
///             coio::sleep(1.0).await?;
///             Ok(5)
///         });
///         t.cancel(Some("enough")).unwrap();
///         t.await
///     })
///     .unwrap();
/// assert_eq!(r, Err(coio::Error::Cancelled(Some("enough".into()))));
/// ```
pub fn spawn_try<F, T>(fut: F) -> Task<T>
where
    F: std::future::Future<Output = Result<T>> + 'static,
    T: 'static,
{
    let lp = current_raw_loop();
    assert!(
        !lp.is_null(),
        "coio::spawn_try: no coio loop is running on this thread"
    );
    spawn_raw(lp, fut, finish_try::<T>, None).expect("coio::spawn_try")
}

/// A coio task running a Rust future (asyncio's `Task`).  It is a coio future: it derefs to
/// [`Future<T>`] (cancel, done callbacks, result) and awaiting it gives `Result<T>`.  Dropping
/// the handle does not cancel the task.
///
/// ```
/// let lp = coio::Loop::new_virtual().unwrap();
/// let t = lp.spawn(async { "done" }).unwrap();
/// t.set_name("worker").unwrap();
/// assert_eq!(t.name().as_deref(), Some("worker"));
/// lp.run_until_done(&t).unwrap();
/// assert_eq!(t.take(), Ok("done"));
/// ```
pub struct Task<T> {
    fut: Future<T>,
}

impl<T> Clone for Task<T> {
    fn clone(&self) -> Self {
        Task {
            fut: self.fut.clone(),
        }
    }
}

impl<T> std::ops::Deref for Task<T> {
    type Target = Future<T>;
    fn deref(&self) -> &Future<T> {
        &self.fut
    }
}

impl<T> From<Task<T>> for Future<T> {
    fn from(t: Task<T>) -> Future<T> {
        t.fut
    }
}

impl<T> RawFuture for Task<T> {
    fn raw_future(&self) -> *mut sys::coio_future {
        self.fut.raw_future()
    }
}

impl<T> std::future::Future for Task<T> {
    type Output = Result<T>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        Pin::new(&mut self.get_mut().fut).poll(cx)
    }
}

impl<T> std::fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "<Task {} {:?}>",
            self.name().unwrap_or_default(),
            self.fut
        )
    }
}

impl<T> Task<T> {
    /// The task's name ("Task-N" unless set).
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let t = lp.spawn(async {}).unwrap();
    /// assert!(t.name().unwrap().starts_with("Task-"));
    /// ```
    pub fn name(&self) -> Option<String> {
        unsafe { crate::error::opt_string(sys::coio_task_name(self.raw_future())) }
    }

    /// Renames the task.
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let t = lp.spawn(async {}).unwrap();
    /// t.set_name("x").unwrap();
    /// ```
    pub fn set_name(&self, name: &str) -> Result<()> {
        let c = CString::new(name.replace('\0', "?")).unwrap_or_default();
        check(unsafe { sys::coio_task_set_name(self.raw_future(), c.as_ptr()) })
    }

    /// The number of pending cancellation requests (asyncio's `Task.cancelling()`).
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let t = lp.spawn(async {}).unwrap();
    /// t.cancel(None).unwrap();
    /// assert_eq!(t.cancelling(), 1);
    /// ```
    pub fn cancelling(&self) -> i32 {
        unsafe { sys::coio_task_cancelling(self.raw_future()) }
    }

    /// asyncio's `Task.uncancel()`: one cancellation request fewer; returns how many remain.
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let t = lp.spawn(async {}).unwrap();
    /// t.cancel(None).unwrap();
    /// assert_eq!(t.uncancel(), 0);
    /// ```
    pub fn uncancel(&self) -> i32 {
        unsafe { sys::coio_task_uncancel(self.raw_future()) }
    }
}
