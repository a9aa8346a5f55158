//! [`Future<T>`]: a typed coio future, awaitable from Rust async code.
use crate::error::{check, opt_string, Error, Result};
use crate::lp::report_panic;
use crate::task;
use coio_sys as sys;
use std::cell::RefCell;

type WakeSlot = RefCell<Option<Waker>>;
use std::fmt;
use std::marker::PhantomData;
use std::os::raw::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::ptr;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// Reads a done future's value: `src` is the future that holds it.
pub(crate) type TakeFn<T> = unsafe fn(src: *mut sys::coio_future) -> Result<T>;

/// Anything backed by a coio future (a [`Future`], a [`Task`](crate::Task)), for the
/// functions that take one whatever its result type:
/// [`LoopRef::run_until_done`](crate::LoopRef::run_until_done), ...
///
/// ```
/// use coio::RawFuture;
/// let lp = coio::Loop::new_virtual().unwrap();
/// let f = lp.create_future::<u8>().unwrap();
/// assert!(!f.raw_future().is_null());
/// ```
pub trait RawFuture {
    /// The C handle (borrowed).
    fn raw_future(&self) -> *mut sys::coio_future;
}

/// A coio future whose result is a `T` (asyncio's `Future`).
///
/// It implements [`std::future::Future`] with `Output = Result<T, Error>`: awaiting it moves
/// the result out (a second taker gets [`Error::State`]; use [`result`](Future::result) to
/// clone it instead).  Cloning the handle adds a reference to the same coio future.  Inside a
/// coio task, awaiting a pending `Future` makes the task's step await it directly (no waker
/// round trip); elsewhere a done callback wakes the waker.  Not `Send`: a future belongs to
/// its loop's thread, so its value is also dropped there.
///
/// ```
/// let lp = coio::Loop::new_virtual().unwrap();
/// let f = lp.create_future::<String>().unwrap();
/// let g = f.clone();
/// let out = lp
///     .run_until_complete(async move {
///         coio::current_loop().call_soon(move || g.set_result("the result".into()).unwrap()).unwrap();
///         f.await
///     })
///     .unwrap();
/// assert_eq!(out.unwrap(), "the result");
/// ```
pub struct Future<T> {
    raw: *mut sys::coio_future,
    /// Where the value is taken from when it is not `raw` itself (wait_for, shield): an owned
    /// reference, or null.
    src: *mut sys::coio_future,
    take_fn: TakeFn<T>,
    boxed: bool,
    failed: Option<Box<Error>>,
    waker: Option<Rc<WakeSlot>>,
    _p: PhantomData<(*mut (), T)>,
}

impl<T> RawFuture for Future<T> {
    fn raw_future(&self) -> *mut sys::coio_future {
        self.raw
    }
}

/// Whether a `T` travels through C inline in the value pointer instead of boxed: zero-sized
/// values with no drop glue, and the small primitives (`bool`, `char`, 8-, 16- and 32-bit
/// integers, `f32`), whose bytes are all initialised (no padding) and fit beside a tag byte.
/// The tag keeps an inline value non-null, so a null value still means "taken".
pub(crate) fn is_inline<T: 'static>() -> bool {
    use std::any::TypeId;
    let t = TypeId::of::<T>();
    (std::mem::size_of::<T>() == 0 && !std::mem::needs_drop::<T>())
        || [
            TypeId::of::<bool>(),
            TypeId::of::<char>(),
            TypeId::of::<u8>(),
            TypeId::of::<i8>(),
            TypeId::of::<u16>(),
            TypeId::of::<i16>(),
            TypeId::of::<u32>(),
            TypeId::of::<i32>(),
            TypeId::of::<f32>(),
        ]
        .contains(&t)
}

/// The drop of inline values: nothing to free, but non-null so that a taken value (null
/// drop) is told apart from a present one.
unsafe extern "C" fn inline_drop(_p: *mut c_void) {}

/// A Rust value as coio's (value, drop) pair; [`value_from_raw`] takes it back.
pub(crate) fn value_into_raw<T: 'static>(v: T) -> (*mut c_void, sys::coio_free_fn) {
    if is_inline::<T>() {
        let mut bytes = [0u8; std::mem::size_of::<usize>()];
        let v = std::mem::ManuallyDrop::new(v);
        unsafe {
            ptr::copy_nonoverlapping(
                &*v as *const T as *const u8,
                bytes.as_mut_ptr(),
                std::mem::size_of::<T>(),
            )
        };
        let bits = (usize::from_le_bytes(bytes) << 8) | 1;
        (bits as *mut c_void, Some(inline_drop))
    } else {
        (
            Box::into_raw(Box::new(v)) as *mut c_void,
            Some(drop_box::<T>),
        )
    }
}

/// Takes back a value made by [`value_into_raw`] (the caller owns it).
pub(crate) unsafe fn value_from_raw<T: 'static>(p: *mut c_void) -> T {
    if is_inline::<T>() {
        let bytes = ((p as usize) >> 8).to_le_bytes();
        let mut v = std::mem::MaybeUninit::<T>::uninit();
        ptr::copy_nonoverlapping(
            bytes.as_ptr(),
            v.as_mut_ptr() as *mut u8,
            std::mem::size_of::<T>(),
        );
        v.assume_init()
    } else {
        *Box::from_raw(p as *mut T)
    }
}

/// A clone of the value at `p` (left in place).
unsafe fn value_clone<T: Clone + 'static>(p: *mut c_void) -> T {
    if is_inline::<T>() {
        let v = std::mem::ManuallyDrop::new(value_from_raw::<T>(p));
        (*v).clone()
    } else {
        (*(p as *const T)).clone()
    }
}

/// Drops a value made by [`value_into_raw`] that C never took.
pub(crate) unsafe fn value_drop<T: 'static>(p: *mut c_void) {
    drop(value_from_raw::<T>(p))
}

pub(crate) unsafe extern "C" fn drop_box<T>(p: *mut c_void) {
    if !p.is_null() {
        let b = Box::from_raw(p as *mut T);
        if let Err(e) = catch_unwind(AssertUnwindSafe(move || drop(b))) {
            report_panic(ptr::null_mut(), "panic while dropping a result", &*e);
        }
    }
}

pub(crate) unsafe fn take_boxed<T: 'static>(src: *mut sys::coio_future) -> Result<T> {
    let mut v = ptr::null_mut();
    let mut d: sys::coio_free_fn = None;
    check(sys::coio_future_take_result(src, &mut v, &mut d))?;
    if v.is_null() || d.is_none() {
        // Taken already (or shared with a future that keeps it: not ours to own).
        return Err(Error::State);
    }
    Ok(value_from_raw::<T>(v))
}

/// A unit result: nothing to read (the caller checked the outcome).
pub(crate) unsafe fn take_unit(_src: *mut sys::coio_future) -> Result<()> {
    Ok(())
}

pub(crate) unsafe fn take_index(src: *mut sys::coio_future) -> Result<usize> {
    let mut v = ptr::null_mut();
    check(sys::coio_future_result(src, &mut v))?;
    Ok(v as usize)
}

/// The error of a done future that did not succeed (ESTATE while pending).
pub(crate) fn error_of(f: *mut sys::coio_future) -> Error {
    let mut code = 0;
    let mut msg = ptr::null();
    let st = unsafe { sys::coio_future_error(f, &mut code, &mut msg) };
    if st != sys::COIO_OK {
        return Error::from_status(st).unwrap_or(Error::State);
    }
    if code == 0 {
        return Error::State;
    }
    if code == sys::COIO_ESYS {
        let mut e = 0;
        unsafe { sys::coio_future_errno(f, &mut e) };
        return Error::Sys(e);
    }
    Error::from_code(code, unsafe { opt_string(msg) })
}

impl<T: 'static> Future<T> {
    /// Wraps a C future reference (taken over) whose value is a `Box<T>` made by this crate.
    pub(crate) unsafe fn from_raw_boxed(raw: *mut sys::coio_future) -> Future<T> {
        Future::from_raw_with(raw, take_boxed::<T>, true)
    }
}

impl<T> Future<T> {
    pub(crate) unsafe fn from_raw_with(
        raw: *mut sys::coio_future,
        take_fn: TakeFn<T>,
        boxed: bool,
    ) -> Future<T> {
        Future {
            raw,
            src: ptr::null_mut(),
            take_fn,
            boxed,
            failed: None,
            waker: None,
            _p: PhantomData,
        }
    }

    /// A future that is already failed with `e` without any coio future behind it (the
    /// creating call failed).
    pub(crate) fn failed(e: Error) -> Future<T> {
        let mut f: Future<T> =
            unsafe { Future::from_raw_with(ptr::null_mut(), fail_take::<T>, false) };
        f.failed = Some(Box::new(e));
        f
    }

    /// The same future whose value is read from `src` (a new reference is taken).
    pub(crate) fn with_source(mut self, src: &Future<T>) -> Future<T> {
        let s = src.source();
        self.src = unsafe { sys::coio_future_ref(s) };
        self.take_fn = src.take_fn;
        self.boxed = src.boxed;
        self
    }

    fn source(&self) -> *mut sys::coio_future {
        if self.src.is_null() {
            self.raw
        } else {
            self.src
        }
    }

    fn creation_error(&self) -> Option<Error> {
        if self.raw.is_null() {
            Some(self.failed.as_deref().cloned().unwrap_or(Error::State))
        } else {
            None
        }
    }

    /// Whether the future is done (result, error or cancelled).
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let f = lp.create_future::<u8>().unwrap();
    /// f.set_result(1).unwrap();
    /// assert!(f.done());
    /// ```
    pub fn done(&self) -> bool {
        self.raw.is_null() || unsafe { sys::coio_future_done(self.raw) == 1 }
    }

    /// Whether the future was cancelled.
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let f = lp.create_future::<u8>().unwrap();
    /// f.cancel(None).unwrap();
    /// assert!(f.cancelled());
    /// ```
    pub fn cancelled(&self) -> bool {
        !self.raw.is_null() && unsafe { sys::coio_future_cancelled(self.raw) == 1 }
    }

    /// Cancels the future (a task: requests its cancellation) with an optional message.
    /// `Ok(true)` if it was cancelled, `Ok(false)` if it was done already.
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let f = lp.create_future::<u8>().unwrap();
    /// assert_eq!(f.cancel(Some("stop")), Ok(true));
    /// assert_eq!(f.take(), Err(coio::Error::Cancelled(Some("stop".into()))));
    /// ```
    pub fn cancel(&self, msg: Option<&str>) -> Result<bool> {
        if let Some(e) = self.creation_error() {
            return Err(e);
        }
        let c = msg.map(|m| std::ffi::CString::new(m.replace('\0', "?")).unwrap_or_default());
        let st = unsafe {
            sys::coio_future_cancel(self.raw, c.as_ref().map_or(ptr::null(), |c| c.as_ptr()))
        };
        if st < 0 {
            return Err(Error::from_status(st).unwrap_or(Error::Invalid));
        }
        Ok(st == 1)
    }

    /// Completes the future with `value` (asyncio's `set_result`).  [`Error::State`] if it is
    /// done already (the value is dropped).
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let f = lp.create_future::<Vec<u8>>().unwrap();
    /// f.set_result(vec![1, 2]).unwrap();
    /// assert_eq!(f.set_result(vec![3]), Err(coio::Error::State));
    /// assert_eq!(f.take(), Ok(vec![1, 2]));
    /// ```
    pub fn set_result(&self, value: T) -> Result<()>
    where
        T: 'static,
    {
        self.set_result_with(value, None)
    }

    pub(crate) fn set_result_with(&self, value: T, repr: sys::coio_repr_fn) -> Result<()>
    where
        T: 'static,
    {
        if let Some(e) = self.creation_error() {
            return Err(e);
        }
        if !self.boxed {
            return Err(Error::Invalid); // a future whose values the library makes
        }
        let (p, d) = value_into_raw(value);
        let st = unsafe { sys::coio_future_set_result_repr(self.raw, p, d, repr) };
        if st != sys::COIO_OK {
            unsafe { value_drop::<T>(p) };
        }
        check(st)
    }

    /// Fails the future with `err` (its code and message).
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let f = lp.create_future::<u8>().unwrap();
    /// let e = coio::Error::Failed { code: 5, message: Some("bad".into()) };
    /// f.set_error(&e).unwrap();
    /// assert_eq!(f.take(), Err(e));
    /// ```
    pub fn set_error(&self, err: &Error) -> Result<()> {
        if let Some(e) = self.creation_error() {
            return Err(e);
        }
        if let Error::Cancelled(m) = err {
            return self
                .cancel(m.as_deref())
                .and_then(|c| if c { Ok(()) } else { Err(Error::State) });
        }
        let msg = err
            .message()
            .map(str::to_string)
            .unwrap_or_else(|| err.to_string());
        let c = std::ffi::CString::new(msg.replace('\0', "?")).unwrap_or_default();
        check(unsafe { sys::coio_future_set_error(self.raw, err.code(), c.as_ptr()) })
    }

    /// The outcome, moving the result out (what awaiting does).  [`Error::State`] while
    /// pending or once the result was taken.
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let f = lp.create_future::<String>().unwrap();
    /// assert_eq!(f.take(), Err(coio::Error::State));
    /// f.set_result("x".into()).unwrap();
    /// assert_eq!(f.take(), Ok("x".to_string()));
    /// assert_eq!(f.take(), Err(coio::Error::State));
    /// ```
    pub fn take(&self) -> Result<T> {
        if let Some(e) = self.creation_error() {
            return Err(e);
        }
        match unsafe { sys::coio_future_result(self.raw, ptr::null_mut()) } {
            sys::COIO_OK => unsafe { (self.take_fn)(self.source()) },
            sys::COIO_ESTATE => Err(Error::State),
            _ => Err(error_of(self.raw)),
        }
    }

    /// The outcome with a clone of the result, which stays in the future (asyncio's
    /// `result()`).
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let f = lp.create_future::<String>().unwrap();
    /// f.set_result("r".into()).unwrap();
    /// assert_eq!(f.result(), Ok("r".to_string()));
    /// assert_eq!(f.result(), Ok("r".to_string()));
    /// ```
    pub fn result(&self) -> Result<T>
    where
        T: Clone + 'static,
    {
        if let Some(e) = self.creation_error() {
            return Err(e);
        }
        let mut v = ptr::null_mut();
        match unsafe { sys::coio_future_result(self.raw, &mut v) } {
            sys::COIO_OK if self.boxed => {
                let mut v = ptr::null_mut();
                unsafe { sys::coio_future_result(self.source(), &mut v) };
                if v.is_null() {
                    Err(Error::State)
                } else {
                    Ok(unsafe { value_clone::<T>(v) })
                }
            }
            sys::COIO_OK => unsafe { (self.take_fn)(self.source()) },
            sys::COIO_ESTATE => Err(Error::State),
            _ => Err(error_of(self.raw)),
        }
    }

    /// The error of a done future that failed or was cancelled (`None` if it succeeded);
    /// [`Error::State`] while pending.
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let f = lp.create_future::<u8>().unwrap();
    /// f.cancel(None).unwrap();
    /// assert_eq!(f.error(), Ok(Some(coio::Error::Cancelled(None))));
    /// ```
    pub fn error(&self) -> Result<Option<Error>> {
        if let Some(e) = self.creation_error() {
            return Ok(Some(e));
        }
        match unsafe { sys::coio_future_result(self.raw, ptr::null_mut()) } {
            sys::COIO_OK => Ok(None),
            sys::COIO_ESTATE => Err(Error::State),
            _ => Ok(Some(error_of(self.raw))),
        }
    }

    /// Calls `f(&future)` through the loop once the future is done (asyncio's
    /// `add_done_callback`; never synchronously).  The closure is dropped exactly once; a
    /// panic in it is caught and reported.
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let f = lp.create_future::<u32>().unwrap();
    /// f.add_done_callback(|f| println!("done: {:?}", f.result())).unwrap();
    /// f.set_result(3).unwrap();
    /// lp.run_until_done(&f).unwrap();
    /// ```
    pub fn add_done_callback<F>(&self, f: F) -> Result<()>
    where
        F: FnOnce(&Future<T>) + 'static,
        T: 'static,
    {
        if let Some(e) = self.creation_error() {
            return Err(e);
        }
        let src = if self.src.is_null() {
            ptr::null_mut()
        } else {
            unsafe { sys::coio_future_ref(self.src) }
        };
        let b = Box::new(DoneBox {
            f: Some(f),
            take_fn: self.take_fn,
            boxed: self.boxed,
            src,
        });
        let arg = Box::into_raw(b) as *mut c_void;
        let st = unsafe {
            sys::coio_future_add_done_callback(
                self.raw,
                Some(done_call::<T, F>),
                arg,
                Some(done_drop::<T, F>),
            )
        };
        if st != sys::COIO_OK {
            unsafe { done_drop::<T, F>(arg) };
        }
        check(st)
    }

    /// A handle reading the same coio future as a `Future<()>` (for code that only waits).
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let f = lp.create_future::<String>().unwrap();
    /// let u: coio::Future<()> = f.to_unit();
    /// assert!(!u.done());
    /// ```
    pub fn to_unit(&self) -> Future<()> {
        if let Some(e) = self.creation_error() {
            return Future::failed(e);
        }
        unsafe { Future::from_raw_with(sys::coio_future_ref(self.raw), take_unit, false) }
    }

    /// Whether `self` and `other` are the same coio future.
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let f = lp.create_future::<u8>().unwrap();
    /// assert!(f.same(&f.clone()));
    /// ```
    pub fn same<U>(&self, other: &Future<U>) -> bool {
        self.raw == other.raw && !self.raw.is_null()
    }
}

unsafe fn fail_take<T>(_src: *mut sys::coio_future) -> Result<T> {
    Err(Error::State)
}

struct DoneBox<T, F> {
    f: Option<F>,
    take_fn: TakeFn<T>,
    boxed: bool,
    src: *mut sys::coio_future,
}

unsafe extern "C" fn done_call<T: 'static, F: FnOnce(&Future<T>) + 'static>(
    fut: *mut sys::coio_future,
    arg: *mut c_void,
) {
    let b = &mut *(arg as *mut DoneBox<T, F>);
    if let Some(f) = b.f.take() {
        let mut view: Future<T> =
            Future::from_raw_with(sys::coio_future_ref(fut), b.take_fn, b.boxed);
        if !b.src.is_null() {
            view.src = sys::coio_future_ref(b.src);
        }
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| f(&view))) {
            report_panic(sys::coio_future_loop(fut), "panic in a done callback", &*p);
        }
    }
}

unsafe extern "C" fn done_drop<T, F>(arg: *mut c_void) {
    let b = Box::from_raw(arg as *mut DoneBox<T, F>);
    if !b.src.is_null() {
        sys::coio_future_release(b.src);
    }
    if let Err(p) = catch_unwind(AssertUnwindSafe(move || drop(b))) {
        report_panic(ptr::null_mut(), "panic while dropping a done callback", &*p);
    }
}

impl<T> Clone for Future<T> {
    fn clone(&self) -> Self {
        let mut f = unsafe {
            Future::from_raw_with(sys::coio_future_ref(self.raw), self.take_fn, self.boxed)
        };
        f.src = unsafe { sys::coio_future_ref(self.src) };
        f.failed = self.failed.clone();
        f
    }
}

impl<T> PartialEq for Future<T> {
    fn eq(&self, o: &Self) -> bool {
        self.same(o)
    }
}

impl<T> fmt::Debug for Future<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.repr())
    }
}

impl<T> Drop for Future<T> {
    fn drop(&mut self) {
        if self.waker.is_some() {
            unregister_waker(self.raw, &mut self.waker);
        }
        unsafe {
            if !self.src.is_null() {
                sys::coio_future_release(self.src);
            }
            sys::coio_future_release(self.raw);
        }
    }
}

unsafe extern "C" fn wake_slot_cb(_f: *mut sys::coio_future, arg: *mut c_void) {
    let slot = &*(arg as *const WakeSlot);
    let w = slot.borrow_mut().take();
    if let Some(w) = w {
        w.wake();
    }
}

unsafe extern "C" fn wake_slot_drop(arg: *mut c_void) {
    drop(Rc::from_raw(arg as *const WakeSlot));
}

impl<T> Unpin for Future<T> {}

impl<T> std::future::Future for Future<T> {
    type Output = Result<T>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        let this = self.get_mut();
        if this.raw.is_null() {
            return Poll::Ready(Err(this.failed.take().map_or(Error::State, |e| *e)));
        }
        // Inside a coio task: a cancellation being delivered is raised here.
        let core = task::current_core();
        if let Some(core) = core {
            if let Some(e) = core.take_cancel() {
                return Poll::Ready(Err(e));
            }
        }
        if core.is_some_and(|c| c.resumed_by(this.raw)) {
            return Poll::Ready(unsafe { (this.take_fn)(this.source()) });
        }
        match unsafe { sys::coio_future_result(this.raw, ptr::null_mut()) } {
            sys::COIO_OK => return Poll::Ready(unsafe { (this.take_fn)(this.source()) }),
            sys::COIO_ESTATE => {} // pending
            _ => return Poll::Ready(Err(error_of(this.raw))),
        }
        if let Some(core) = core {
            if core.record_direct(this.raw, cx.waker()) {
                return Poll::Pending; // the task's step awaits it
            }
        }
        this.register_waker(cx.waker());
        Poll::Pending
    }
}

impl<T> Future<T> {
    fn register_waker(&mut self, w: &Waker) {
        register_waker(self.raw, &mut self.waker, w)
    }
}

/// Makes `w` woken when `raw` is done: one done-callback registration per handle (`slot`),
/// whose waker is replaced when the poller's changes.
fn register_waker(raw: *mut sys::coio_future, slot: &mut Option<Rc<WakeSlot>>, w: &Waker) {
    if let Some(s) = slot {
        let mut cur = s.borrow_mut();
        if cur.is_some() {
            // Registered, and the callback has not run.
            if !matches!(&*cur, Some(old) if old.will_wake(w)) {
                *cur = Some(w.clone());
            }
            return;
        }
    }
    let new: Rc<WakeSlot> = Rc::new(RefCell::new(Some(w.clone())));
    let p = Rc::into_raw(new.clone());
    let st = unsafe {
        sys::coio_future_add_done_callback(
            raw,
            Some(wake_slot_cb),
            p as *mut c_void,
            Some(wake_slot_drop),
        )
    };
    if st != sys::COIO_OK {
        unsafe { wake_slot_drop(p as *mut c_void) };
        return;
    }
    *slot = Some(new);
}

/// Withdraws the registration of [`register_waker`], if it has not run.
fn unregister_waker(raw: *mut sys::coio_future, slot: &mut Option<Rc<WakeSlot>>) {
    if let Some(s) = slot.take() {
        let arg = Rc::as_ptr(&s) as *mut c_void;
        unsafe { sys::coio_future_remove_done_callback(raw, Some(wake_slot_cb), arg) };
    }
}

pub(crate) fn sleep_on(lp: *mut sys::coio_loop, delay: f64) -> Future<()> {
    let mut f = ptr::null_mut();
    match check(unsafe { sys::coio_sleep(lp, delay, &mut f) }) {
        Ok(()) => unsafe { Future::from_raw_with(f, take_unit, false) },
        Err(e) => Future::failed(e),
    }
}

/// A future that completes `delay` seconds from now on the running loop (`asyncio.sleep`);
/// a delay <= 0 takes one pass.  Like a coroutine, it does nothing until first polled: the
/// timer starts then, on the loop running that poll (it fails with [`Error::NotSupported`]
/// outside a running loop, [`Error::Invalid`] for a NaN or infinite delay).  Use
/// [`LoopRef::sleep`](crate::LoopRef::sleep) for a [`Future`] made at once.
///
/// ```
/// let lp = coio::Loop::new_virtual().unwrap();
/// lp.run_until_complete(async {
///     coio::sleep(0.2).await.unwrap();
///     assert_eq!(coio::current_loop().time(), 0.2);
/// })
/// .unwrap();
/// ```
pub fn sleep(delay: f64) -> Sleep {
    Sleep {
        delay,
        raw: ptr::null_mut(),
        waker: None,
    }
}

/// The future of [`sleep`].
///
/// ```
/// let lp = coio::Loop::new_virtual().unwrap();
/// let s: coio::Sleep = coio::sleep(1.0);
/// assert_eq!(lp.run_until_complete(s).unwrap(), Ok(()));
/// assert_eq!(lp.time(), 1.0);
/// ```
pub struct Sleep {
    delay: f64,
    /// The coio sleep future once started (owned reference).
    raw: *mut sys::coio_future,
    waker: Option<Rc<WakeSlot>>,
}

impl std::future::Future for Sleep {
    type Output = Result<()>;
    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        let core = task::current_core();
        if let Some(core) = core {
            if let Some(e) = core.take_cancel() {
                return Poll::Ready(Err(e));
            }
        }
        if this.raw.is_null() {
            let lp = match core {
                Some(c) => c.loop_raw(),
                None => task::current_raw_loop(),
            };
            if lp.is_null() {
                return Poll::Ready(Err(Error::NotSupported));
            }
            if let Err(e) = check(unsafe { sys::coio_sleep(lp, this.delay, &mut this.raw) }) {
                return Poll::Ready(Err(e));
            }
            // A fresh sleep is pending: no need to ask.
        } else if core.is_some_and(|c| c.resumed_by(this.raw)) {
            return Poll::Ready(Ok(()));
        } else {
            match unsafe { sys::coio_future_result(this.raw, ptr::null_mut()) } {
                sys::COIO_OK => return Poll::Ready(Ok(())),
                sys::COIO_ESTATE => {}
                _ => return Poll::Ready(Err(error_of(this.raw))),
            }
        }
        if let Some(core) = core {
            if core.record_direct(this.raw, cx.waker()) {
                return Poll::Pending;
            }
        }
        register_waker(this.raw, &mut this.waker, cx.waker());
        Poll::Pending
    }
}

impl Drop for Sleep {
    #[inline]
    fn drop(&mut self) {
        if !self.raw.is_null() {
            if self.waker.is_some() {
                unregister_waker(self.raw, &mut self.waker);
            }
            unsafe { sys::coio_future_release(self.raw) };
        }
    }
}
