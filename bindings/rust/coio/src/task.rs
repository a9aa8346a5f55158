//! Rust futures as coio step-driven tasks: [`spawn`], [`spawn_try`], [`Task<T>`].
//!
//! A task is a `coio_task_new` task whose step function polls the Rust future once.  When the
//! poll returns `Pending` having met exactly one pending coio [`Future`] and with no waker
//! kept anywhere, the step awaits that future directly (`coio_step_await`): the loop resumes
//! the task when it completes, as asyncio's `Task.__step` does, with no waker involved.
//! Otherwise (a `join!` over several futures, a channel fed by another thread, ...) the step
//! awaits a private wake-up future that the task's [`Waker`] completes: on the loop thread
//! directly, from other threads through the loop's thread-safe handle ([`Remote`]
//! (crate::Remote)), which is safe after the loop is gone.
//!
//! A cancellation delivered to the task (`resume_status == COIO_ECANCELLED`) is raised at the
//! first coio future the body polls next: that poll returns [`Error::Cancelled`].  A panic in
//! the body fails the task with the panic message; it never unwinds into C.
use crate::error::{check, Error, Result};
use crate::future::{drop_box, take_boxed, Future, RawFuture};
use crate::lp::{panic_message, remote_of, report_panic, RemoteInner};
use coio_sys as sys;
use std::cell::{Cell, RefCell, UnsafeCell};
use std::ffi::CString;
use std::os::raw::{c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
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
    /// A cancellation to raise at the next coio future the body polls.
    cancel: RefCell<Option<Option<String>>>,
    polling: Cell<bool>,
    /// The private future the step awaits when a waker is in use (owned reference, or null).
    wake_fut: Cell<*mut sys::coio_future>,
    /// The direct future a waker registration was added to (owned reference, or null).
    slow_reg: Cell<*mut sys::coio_future>,
    wake: Arc<WakeState>,
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
    woken: AtomicBool,
}

thread_local! {
    static CURRENT: Cell<*const TaskCore> = const { Cell::new(ptr::null()) };
}

/// Inside a task's poll: the pending cancellation, consumed.
pub(crate) fn take_pending_cancel() -> Option<Error> {
    CURRENT.with(|c| {
        let p = c.get();
        if p.is_null() {
            return None;
        }
        let core = unsafe { &*p };
        core.cancel.borrow_mut().take().map(Error::Cancelled)
    })
}

/// Inside a task's poll: records `f` as the future this step may await directly.  False when
/// not in a task, or when another future was recorded already (the caller then uses the
/// waker).
pub(crate) fn record_direct(f: *mut sys::coio_future) -> bool {
    CURRENT.with(|c| {
        let p = c.get();
        if p.is_null() {
            return false;
        }
        let core = unsafe { &*p };
        if unsafe { sys::coio_future_loop(f) } != core.lp {
            return false;
        }
        let d = core.direct.get();
        if d.is_null() {
            core.direct.set(f);
            true
        } else if d == f {
            true
        } else {
            core.many.set(true);
            false
        }
    })
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
            self.woken.store(true, Ordering::Relaxed);
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
    if !core.wake_fut.get().is_null() && core.wake_fut.get() == awaited && status == sys::COIO_OK {
        set_ref(&core.wake_fut, ptr::null_mut());
    }
    set_ref(&core.wake_fut, ptr::null_mut());
    if status == sys::COIO_ECANCELLED {
        let msg = if !awaited.is_null() && sys::coio_future_cancelled(awaited) == 1 {
            match crate::future::error_of(awaited) {
                Error::Cancelled(m) => m,
                _ => None,
            }
        } else {
            None
        };
        *core.cancel.borrow_mut() = Some(msg);
    }
    core.direct.set(ptr::null_mut());
    core.many.set(false);
    core.polling.set(true);
    let prev = CURRENT.with(|c| c.replace(core));
    let waker = std::mem::ManuallyDrop::new(Waker::from_raw(RawWaker::new(
        Arc::as_ptr(&core.wake) as *const (),
        &VTABLE,
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
            if core.cancel.borrow_mut().take().is_some() {
                // The cancellation reached no coio future: the task ends cancelled.
                drop(out);
                return sys::COIO_ECANCELLED;
            }
            (cell.finish)(task, out)
        }
        Ok(Poll::Pending) => {
            if core.wake.woken.swap(false, Ordering::Relaxed) {
                return sys::COIO_STEP_YIELD as c_int;
            }
            let direct = core.direct.get();
            let quiet = Arc::strong_count(&core.wake) == 1 && !core.many.get();
            if !direct.is_null() && quiet && sys::coio_step_await(task, direct) == sys::COIO_OK {
                return sys::COIO_STEP_AWAIT as c_int;
            }
            // Wakers are in use: await the private wake-up future; the direct future wakes it
            // through a registration too.
            if !direct.is_null() && core.slow_reg.get() != direct {
                let a = Arc::into_raw(core.wake.clone()) as *mut c_void;
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
    cell.core
        .wake
        .core
        .store(ptr::null_mut(), Ordering::Release);
    set_ref(&cell.core.wake_fut, ptr::null_mut());
    set_ref(&cell.core.slow_reg, ptr::null_mut());
    let lp = cell.core.lp;
    if let Err(p) = catch_unwind(AssertUnwindSafe(move || drop(cell))) {
        report_panic(lp, "panic while dropping a task's future", &*p);
    }
}

pub(crate) unsafe fn finish_plain<T: 'static>(task: *mut sys::coio_future, out: T) -> c_int {
    let p = Box::into_raw(Box::new(out)) as *mut c_void;
    let st = sys::coio_future_set_result(task, p, Some(drop_box::<T>));
    if st != sys::COIO_OK {
        drop_box::<T>(p);
        return st;
    }
    sys::COIO_OK
}

pub(crate) unsafe fn finish_try<T: 'static>(task: *mut sys::coio_future, out: Result<T>) -> c_int {
    match out {
        Ok(v) => finish_plain(task, v),
        Err(Error::Cancelled(_)) => sys::COIO_ECANCELLED,
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
    remote: Option<Arc<RemoteInner>>,
    fut: F,
    finish: unsafe fn(*mut sys::coio_future, F::Output) -> c_int,
    group: Option<*mut sys::coio_task_group>,
) -> Result<Task<T>>
where
    F: std::future::Future + 'static,
    T: 'static,
{
    let wake = Arc::new(WakeState {
        core: AtomicPtr::new(ptr::null_mut()),
        thread: std::thread::current().id(),
        remote: remote.or_else(|| remote_of(lp)),
        woken: AtomicBool::new(false),
    });
    let cell = Box::new(TaskCell {
        core: TaskCore {
            task: Cell::new(ptr::null_mut()),
            lp,
            direct: Cell::new(ptr::null_mut()),
            many: Cell::new(false),
            cancel: RefCell::new(None),
            polling: Cell::new(false),
            wake_fut: Cell::new(ptr::null_mut()),
            slow_reg: Cell::new(ptr::null_mut()),
            wake,
        },
        fut: UnsafeCell::new(Some(fut)),
        finish,
    });
    let arg = Box::into_raw(cell);
    unsafe {
        let c = &*arg;
        c.core.wake.core.store(
            &c.core as *const TaskCore as *mut TaskCore,
            Ordering::Release,
        );
    }
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
    spawn_raw(lp, None, fut, finish_plain::<F::Output>, None).expect("coio::spawn")
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
    spawn_raw(lp, None, fut, finish_try::<T>, None).expect("coio::spawn_try")
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
