//! asyncio's combinators over coio futures: [`gather`], [`wait`], [`as_completed`],
//! [`wait_for`], [`shield`], [`timeout`] scopes and [`TaskGroup`].
use crate::error::{check, Error, Result};
use crate::future::{take_unit, Future, RawFuture};
use crate::task::{self, current_raw_loop, Task};
use coio_sys as sys;
use std::collections::HashMap;
use std::os::raw::c_void;
use std::pin::Pin;
use std::ptr;
use std::rc::Rc;
use std::task::{Context, Poll};

fn timeout_arg(t: Option<f64>) -> f64 {
    t.unwrap_or(sys::COIO_NO_TIMEOUT)
}

fn loop_of(fs: &[Future<impl Sized>]) -> *mut sys::coio_loop {
    match fs.iter().find(|f| !f.raw_future().is_null()) {
        Some(f) => unsafe { sys::coio_future_loop(f.raw_future()) },
        None => current_raw_loop(),
    }
}

fn raws<T>(fs: &[Future<T>]) -> Result<Vec<*mut sys::coio_future>> {
    fs.iter()
        .map(|f| {
            if f.raw_future().is_null() {
                Err(f.error().ok().flatten().unwrap_or(Error::Invalid))
            } else {
                Ok(f.raw_future())
            }
        })
        .collect()
}

fn unit(raw: *mut sys::coio_future) -> Future<()> {
    unsafe { Future::from_raw_with(raw, take_unit, false) }
}

/// The future of [`gather`] / [`gather_settled`].
///
/// ```
/// let lp = coio::Loop::new_virtual().unwrap();
/// let g: coio::Gather<(), ()> = coio::gather(vec![lp.sleep(1.0), lp.sleep(2.0)]);
/// assert_eq!(lp.run_until_complete(g).unwrap(), Ok(vec![(), ()]));
/// ```
pub struct Gather<T, O> {
    all: Future<()>,
    children: Vec<Future<T>>,
    collect: fn(&[Future<T>]) -> Result<Vec<O>>,
}

impl<T, O> std::future::Future for Gather<T, O> {
    type Output = Result<Vec<O>>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Vec<O>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.all).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Ready(Ok(())) => Poll::Ready((this.collect)(&this.children)),
        }
    }
}

impl<T, O> RawFuture for Gather<T, O> {
    fn raw_future(&self) -> *mut sys::coio_future {
        self.all.raw_future()
    }
}

impl<T, O> Gather<T, O> {
    /// Cancels every child that is not done (asyncio's `gather(...).cancel()`).
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let g = coio::gather(vec![lp.sleep(1.0)]);
    /// assert_eq!(g.cancel(), Ok(true));
    /// ```
    pub fn cancel(&self) -> Result<bool> {
        self.all.cancel(None)
    }
}

fn gather_with<T, O, I>(
    fs: I,
    flags: u32,
    collect: fn(&[Future<T>]) -> Result<Vec<O>>,
) -> Gather<T, O>
where
    I: IntoIterator,
    I::Item: Into<Future<T>>,
{
    let children: Vec<Future<T>> = fs.into_iter().map(Into::into).collect();
    let all = match raws(&children) {
        Err(e) => Future::failed(e),
        Ok(r) => {
            let lp = loop_of(&children);
            let mut out = ptr::null_mut();
            match check(unsafe { sys::coio_gather(lp, r.as_ptr(), r.len(), flags, &mut out) }) {
                Ok(()) => unit(out),
                Err(e) => Future::failed(e),
            }
        }
    };
    Gather {
        all,
        children,
        collect,
    }
}

/// asyncio's `gather`: waits for every future (or task) and gives their results in argument
/// order.  The first child that fails or is cancelled ends it with that error (the others
/// keep running); cancelling it cancels the children.
///
/// ```
/// let lp = coio::Loop::new_virtual().unwrap();
/// let v = lp
///     .run_until_complete(async {
///         let ts: Vec<_> = (0..3).map(|i| coio::spawn(async move { i * 10 })).collect();
///         coio::gather(ts).await
///     })
///     .unwrap();
/// assert_eq!(v, Ok(vec![0, 10, 20]));
/// ```
pub fn gather<T, I>(fs: I) -> Gather<T, T>
where
    I: IntoIterator,
    I::Item: Into<Future<T>>,
{
    gather_with(fs, 0, |cs| cs.iter().map(Future::take).collect())
}

/// asyncio's `gather(..., return_exceptions=True)`: waits for every child and gives each
/// one's outcome.
///
/// ```
/// let lp = coio::Loop::new_virtual().unwrap();
/// let v = lp
///     .run_until_complete(async {
///         let ok = coio::spawn_try(async { Ok(1) });
///         let bad = coio::spawn_try(async { Err::<i32, _>(coio::Error::Broken) });
///         coio::gather_settled(vec![ok, bad]).await
///     })
///     .unwrap();
/// assert_eq!(v, Ok(vec![Ok(1), Err(coio::Error::Broken)]));
/// ```
pub fn gather_settled<T, I>(fs: I) -> Gather<T, Result<T>>
where
    I: IntoIterator,
    I::Item: Into<Future<T>>,
{
    gather_with(fs, sys::COIO_RETURN_EXCEPTIONS, |cs| {
        Ok(cs.iter().map(Future::take).collect())
    })
}

/// What [`wait`] gives: the futures done (in completion order) and those still pending (in
/// argument order).
///
/// ```
/// let r: coio::WaitResult<u8> = coio::WaitResult { done: vec![], pending: vec![] };
/// assert!(r.done.is_empty());
/// ```
pub struct WaitResult<T> {
    /// Done, in completion order.
    pub done: Vec<Future<T>>,
    /// Still pending, in argument order.
    pub pending: Vec<Future<T>>,
}

/// The future of [`wait`].
///
/// ```
/// let lp = coio::Loop::new_virtual().unwrap();
/// let w: coio::Wait<()> = coio::wait(vec![lp.sleep(1.0)], None, coio::ReturnWhen::AllCompleted);
/// let r = lp.run_until_complete(w).unwrap().unwrap();
/// assert_eq!(r.done.len(), 1);
/// ```
pub struct Wait<T> {
    w: Future<()>,
    inputs: Vec<Future<T>>,
}

impl<T> std::future::Future for Wait<T> {
    type Output = Result<WaitResult<T>>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match Pin::new(&mut this.w).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Ready(Ok(())) => {
                let mut v = ptr::null_mut();
                if let Err(e) =
                    check(unsafe { sys::coio_future_result(this.w.raw_future(), &mut v) })
                {
                    return Poll::Ready(Err(e));
                }
                let r = unsafe { &*(v as *const sys::coio_wait_result) };
                let index: HashMap<*mut sys::coio_future, usize> = this
                    .inputs
                    .iter()
                    .enumerate()
                    .map(|(i, f)| (f.raw_future(), i))
                    .collect();
                let pick = |p: *const *mut sys::coio_future, n: usize| -> Vec<Future<T>> {
                    (0..n)
                        .filter_map(|k| index.get(unsafe { &*p.add(k) }))
                        .map(|&i| this.inputs[i].clone())
                        .collect()
                };
                Poll::Ready(Ok(WaitResult {
                    done: pick(r.done, r.ndone),
                    pending: pick(r.pending, r.npending),
                }))
            }
        }
    }
}

/// asyncio's `wait`: completes when `when` is met or after `timeout` seconds (`None`: no
/// timeout), with the futures done and those pending.  Nothing is ever cancelled.
///
/// ```
/// let lp = coio::Loop::new_virtual().unwrap();
/// let r = lp
///     .run_until_complete(async {
///         let l = coio::current_loop();
///         let fs = vec![l.sleep(1.0), l.sleep(5.0)];
///         coio::wait(fs, Some(2.0), coio::ReturnWhen::AllCompleted).await.unwrap()
///     })
///     .unwrap();
/// assert_eq!((r.done.len(), r.pending.len()), (1, 1));
/// ```
pub fn wait<T, I>(fs: I, timeout: Option<f64>, when: sys::ReturnWhen) -> Wait<T>
where
    I: IntoIterator,
    I::Item: Into<Future<T>>,
{
    let inputs: Vec<Future<T>> = fs.into_iter().map(Into::into).collect();
    let w = match raws(&inputs) {
        Err(e) => Future::failed(e),
        Ok(r) => {
            let lp = loop_of(&inputs);
            let mut out = ptr::null_mut();
            let st = unsafe {
                sys::coio_wait(
                    lp,
                    r.as_ptr(),
                    r.len(),
                    timeout_arg(timeout),
                    when as i32,
                    &mut out,
                )
            };
            match check(st) {
                Ok(()) => unit(out),
                Err(e) => Future::failed(e),
            }
        }
    };
    Wait { w, inputs }
}

/// asyncio's `as_completed`: an iterator of [`Completion`]s that complete in completion
/// order, each giving the outcome of the next input to finish.  After `timeout` seconds the
/// remaining ones fail with [`Error::TimedOut`]; nothing is cancelled.
///
/// ```
/// let lp = coio::Loop::new_virtual().unwrap();
/// let order = lp
///     .run_until_complete(async {
///         let slow = coio::spawn(async { coio::sleep(2.0).await.map(|_| "slow") });
///         let fast = coio::spawn(async { coio::sleep(1.0).await.map(|_| "fast") });
///         let mut out = vec![];
///         for c in coio::as_completed(vec![slow, fast], None) {
///             out.push(c.await.unwrap().unwrap());
///         }
///         out
///     })
///     .unwrap();
/// assert_eq!(order, ["fast", "slow"]);
/// ```
pub fn as_completed<T, I>(fs: I, timeout: Option<f64>) -> AsCompleted<T>
where
    I: IntoIterator,
    I::Item: Into<Future<T>>,
{
    let inputs: Vec<Future<T>> = fs.into_iter().map(Into::into).collect();
    let mut it = ptr::null_mut();
    let err = match raws(&inputs) {
        Err(e) => Some(e),
        Ok(r) => {
            let lp = loop_of(&inputs);
            check(unsafe {
                sys::coio_as_completed(lp, r.as_ptr(), r.len(), timeout_arg(timeout), &mut it)
            })
            .err()
        }
    };
    let left = if err.is_some() { 1 } else { inputs.len() };
    AsCompleted {
        it,
        inputs: Rc::new(inputs),
        left,
        err,
    }
}

/// The iterator of [`as_completed`].
///
/// ```
/// let lp = coio::Loop::new_virtual().unwrap();
/// let it: coio::AsCompleted<()> = coio::as_completed(vec![lp.sleep(1.0)], None);
/// assert_eq!(it.len(), 1);
/// ```
pub struct AsCompleted<T> {
    it: *mut sys::coio_as_completed_iter,
    inputs: Rc<Vec<Future<T>>>,
    left: usize,
    err: Option<Error>,
}

impl<T> Iterator for AsCompleted<T> {
    type Item = Completion<T>;
    fn next(&mut self) -> Option<Completion<T>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        if let Some(e) = self.err.take() {
            return Some(Completion {
                next: Future::failed(e),
                inputs: self.inputs.clone(),
            });
        }
        let mut n = ptr::null_mut();
        let next = match check(unsafe { sys::coio_as_completed_next(self.it, &mut n) }) {
            Ok(()) => unit(n),
            Err(e) => Future::failed(e),
        };
        Some(Completion {
            next,
            inputs: self.inputs.clone(),
        })
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl<T> ExactSizeIterator for AsCompleted<T> {}

impl<T> Drop for AsCompleted<T> {
    fn drop(&mut self) {
        unsafe { sys::coio_as_completed_free(self.it) };
    }
}

/// One completion of [`as_completed`]: awaiting it gives the outcome of the input that
/// finished (`Err(Error::TimedOut)` after the timeout).
///
/// ```
/// let lp = coio::Loop::new_virtual().unwrap();
/// let mut it = coio::as_completed(vec![lp.sleep(1.0)], None);
/// let c: coio::Completion<()> = it.next().unwrap();
/// assert_eq!(lp.run_until_complete(c).unwrap(), Ok(()));
/// ```
pub struct Completion<T> {
    next: Future<()>,
    inputs: Rc<Vec<Future<T>>>,
}

impl<T> std::future::Future for Completion<T> {
    type Output = Result<T>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        let this = self.get_mut();
        match Pin::new(&mut this.next).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Ready(Ok(())) => {
                let mut v: *mut c_void = ptr::null_mut();
                unsafe { sys::coio_future_result(this.next.raw_future(), &mut v) };
                let f = v as *mut sys::coio_future;
                match this.inputs.iter().find(|i| i.raw_future() == f) {
                    Some(i) => Poll::Ready(i.take()),
                    None => Poll::Ready(Err(Error::State)),
                }
            }
        }
    }
}

/// asyncio's `wait_for`: `f`'s outcome, or after `timeout` seconds (`None`: none) `f` is
/// cancelled and, if it ended cancelled, [`Error::TimedOut`].
///
/// ```
/// let lp = coio::Loop::new_virtual().unwrap();
/// let r = lp.run_until_complete(async {
///     let t = coio::spawn_try(async { coio::sleep(10.0).await });
///     coio::wait_for(t, Some(1.0)).await
/// });
/// assert_eq!(r.unwrap(), Err(coio::Error::TimedOut));
/// ```
pub fn wait_for<T>(f: impl Into<Future<T>>, timeout: Option<f64>) -> Future<T> {
    let f = f.into();
    if f.raw_future().is_null() {
        return f;
    }
    let mut out = ptr::null_mut();
    match check(unsafe { sys::coio_wait_for(f.raw_future(), timeout_arg(timeout), &mut out) }) {
        Ok(()) => unsafe { Future::<T>::from_raw_with(out, fail_take::<T>, false) }.with_source(&f),
        Err(e) => Future::failed(e),
    }
}

unsafe fn fail_take<T>(_: *mut sys::coio_future) -> Result<T> {
    Err(Error::State)
}

/// asyncio's `shield`: `f`'s outcome, but cancelling the returned future does not cancel
/// `f`.
///
/// ```
/// let lp = coio::Loop::new_virtual().unwrap();
/// let inner = lp.spawn(async { 7 }).unwrap();
/// let s = coio::shield(inner.clone());
/// s.cancel(None).unwrap();
/// lp.run_until_done(&inner).unwrap();
/// assert_eq!(inner.take(), Ok(7));
/// ```
pub fn shield<T>(f: impl Into<Future<T>>) -> Future<T> {
    let f = f.into();
    if f.raw_future().is_null() {
        return f;
    }
    let mut out = ptr::null_mut();
    match check(unsafe { sys::coio_shield(f.raw_future(), &mut out) }) {
        Ok(()) => unsafe { Future::<T>::from_raw_with(out, fail_take::<T>, false) }.with_source(&f),
        Err(e) => Future::failed(e),
    }
}

/// The future of [`timeout`] / [`timeout_at`].
///
/// ```
/// let lp = coio::Loop::new_virtual().unwrap();
/// let r = lp.run_until_complete(coio::timeout(Some(1.0), async { Ok(3) }));
/// assert_eq!(r.unwrap(), Ok(3));
/// ```
pub struct Timeout<F> {
    body: F,
    at: f64,
    absolute: bool,
    tm: *mut sys::coio_timeout,
    entered: bool,
}

/// asyncio's `async with timeout(delay)`: runs `body` in the current task; at the deadline the
/// task is cancelled and, if the body lets that cancellation out, the result is
/// [`Error::TimedOut`].  `None`: no deadline.  It must be awaited inside a coio task
/// ([`Error::State`] otherwise).
///
/// ```
/// let lp = coio::Loop::new_virtual().unwrap();
/// let r = lp.run_until_complete(coio::timeout(Some(1.0), async {
///     coio::sleep(5.0).await?;
///     Ok("slept")
/// }));
/// assert_eq!(r.unwrap(), Err(coio::Error::TimedOut));
/// ```
pub fn timeout<F, T>(delay: Option<f64>, body: F) -> Timeout<F>
where
    F: std::future::Future<Output = Result<T>>,
{
    Timeout {
        body,
        at: delay.unwrap_or(f64::INFINITY),
        absolute: false,
        tm: ptr::null_mut(),
        entered: false,
    }
}

/// asyncio's `timeout_at(when)`: as [`timeout`] with an absolute loop time.
///
/// ```
/// let lp = coio::Loop::new_virtual().unwrap();
/// let r = lp.run_until_complete(coio::timeout_at(2.0, async {
///     coio::sleep(1.0).await?;
///     Ok(coio::current_loop().time())
/// }));
/// assert_eq!(r.unwrap(), Ok(1.0));
/// ```
pub fn timeout_at<F, T>(when: f64, body: F) -> Timeout<F>
where
    F: std::future::Future<Output = Result<T>>,
{
    Timeout {
        body,
        at: when,
        absolute: true,
        tm: ptr::null_mut(),
        entered: false,
    }
}

impl<F, T> std::future::Future for Timeout<F>
where
    F: std::future::Future<Output = Result<T>>,
{
    type Output = Result<T>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        let this = unsafe { self.get_unchecked_mut() };
        if !this.entered {
            this.entered = true;
            let lp = current_raw_loop();
            let st = unsafe {
                if this.absolute {
                    sys::coio_timeout_enter_at(lp, this.at, &mut this.tm)
                } else {
                    sys::coio_timeout_enter(lp, this.at, &mut this.tm)
                }
            };
            if let Err(e) = check(st) {
                return Poll::Ready(Err(e));
            }
        }
        if this.tm.is_null() {
            return Poll::Ready(Err(Error::State));
        }
        let body = unsafe { Pin::new_unchecked(&mut this.body) };
        match body.poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(r) => {
                let status = match &r {
                    Ok(_) => sys::COIO_OK,
                    Err(Error::Cancelled(_)) => sys::COIO_ECANCELLED,
                    Err(_) => sys::COIO_EFAILED,
                };
                let tm = std::mem::replace(&mut this.tm, ptr::null_mut());
                let st = unsafe { sys::coio_timeout_exit(tm, status) };
                if st == sys::COIO_ETIMEDOUT {
                    Poll::Ready(Err(Error::TimedOut))
                } else {
                    Poll::Ready(r)
                }
            }
        }
    }
}

impl<F> Timeout<F> {
    /// The deadline in loop time (`f64::INFINITY` if none); `None` before the scope is entered
    /// (its first poll).
    ///
    /// ```
    /// let t = coio::timeout(Some(1.0), async { Ok(()) });
    /// assert_eq!(t.when(), None);
    /// ```
    pub fn when(&self) -> Option<f64> {
        if self.tm.is_null() {
            return None;
        }
        let mut w = 0.0;
        (unsafe { sys::coio_timeout_when(self.tm, &mut w) } == sys::COIO_OK).then_some(w)
    }
}

impl<F> Drop for Timeout<F> {
    fn drop(&mut self) {
        if !self.tm.is_null() {
            // Left without finishing: leave the scope as if cancelled (ESTATE outside the
            // task: the task frees it when it ends).
            unsafe { sys::coio_timeout_exit(self.tm, sys::COIO_ECANCELLED) };
        }
    }
}

/// asyncio's `TaskGroup`, entered in the running task: spawn children with
/// [`spawn`](TaskGroup::spawn), then await [`finish`](TaskGroup::finish) (the `__aexit__`).
/// A child that fails cancels the others and the parent once; `finish` then fails with
/// "unhandled errors in a TaskGroup (N sub-exceptions)" and [`errors`](TaskGroup::errors)
/// lists them.  Dropped before `finish`, the group is abandoned (its children keep running).
///
/// ```
/// let lp = coio::Loop::new_virtual().unwrap();
/// let r = lp.run_until_complete(async {
///     let tg = coio::TaskGroup::new()?;
///     let a = tg.spawn(async { 1 })?;
///     let b = tg.spawn(async { 2 })?;
///     tg.finish().await?;
///     Ok::<_, coio::Error>(a.take()? + b.take()?)
/// });
/// assert_eq!(r.unwrap(), Ok(3));
/// ```
pub struct TaskGroup {
    g: *mut sys::coio_task_group,
    lp: *mut sys::coio_loop,
}

impl TaskGroup {
    /// Enters a group whose parent is the running task ([`Error::State`] outside a task).
    ///
    /// ```
    /// assert!(coio::TaskGroup::new().is_err()); // no task runs here
    /// ```
    pub fn new() -> Result<TaskGroup> {
        let lp = current_raw_loop();
        if lp.is_null() {
            return Err(Error::State);
        }
        let mut g = ptr::null_mut();
        check(unsafe { sys::coio_task_group_new(lp, &mut g) })?;
        Ok(TaskGroup { g, lp })
    }

    /// Spawns `fut` as a child task (see [`spawn`](crate::spawn)).  [`Error::State`] once the
    /// group is aborting or finished.
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// lp.run_until_complete(async {
    ///     let tg = coio::TaskGroup::new().unwrap();
    ///     tg.spawn(async { println!("child") }).unwrap();
    ///     tg.finish().await.unwrap();
    /// })
    /// .unwrap();
    /// ```
    pub fn spawn<F>(&self, fut: F) -> Result<Task<F::Output>>
    where
        F: std::future::Future + 'static,
        F::Output: 'static,
    {
        task::spawn_raw(self.lp, fut, task::finish_plain::<F::Output>, Some(self.g))
    }

    /// Spawns a fallible child (see [`spawn_try`](crate::spawn_try)): an `Err` fails the
    /// child, which aborts the group.
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let r = lp.run_until_complete(async {
    ///     let tg = coio::TaskGroup::new().unwrap();
    ///     tg.spawn_try(async { Err::<(), _>(coio::Error::Broken) }).unwrap();
    ///     let r = tg.finish().await;
    ///     (r.is_err(), tg.errors())
    /// });
    /// assert_eq!(r.unwrap(), (true, vec![coio::Error::Broken]));
    /// ```
    pub fn spawn_try<F, T>(&self, fut: F) -> Result<Task<T>>
    where
        F: std::future::Future<Output = Result<T>> + 'static,
        T: 'static,
    {
        task::spawn_raw(self.lp, fut, task::finish_try::<T>, Some(self.g))
    }

    /// Leaves the group after a body that succeeded and waits for every child.
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// lp.run_until_complete(async { coio::TaskGroup::new().unwrap().finish().await.unwrap() })
    ///     .unwrap();
    /// ```
    pub fn finish(&self) -> Future<()> {
        self.finish_with(Ok(()))
    }

    /// Leaves the group with the body's outcome (an `Err` aborts the group first; a
    /// cancellation goes on to the parent).
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let r = lp.run_until_complete(async {
    ///     let tg = coio::TaskGroup::new().unwrap();
    ///     tg.finish_with(Err(&coio::Error::Broken)).await
    /// });
    /// assert!(r.unwrap().is_err());
    /// ```
    pub fn finish_with(&self, body: std::result::Result<(), &Error>) -> Future<()> {
        let status = match body {
            Ok(()) => sys::COIO_OK,
            Err(Error::Cancelled(_)) => sys::COIO_ECANCELLED,
            Err(e) => e.code().min(-1),
        };
        let mut out = ptr::null_mut();
        match check(unsafe { sys::coio_task_group_exit(self.g, status, &mut out) }) {
            Ok(()) => unit(out),
            Err(e) => Future::failed(e),
        }
    }

    /// The children's errors, in failure order.
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// lp.run_until_complete(async { assert!(coio::TaskGroup::new().unwrap().errors().is_empty()) })
    ///     .unwrap();
    /// ```
    pub fn errors(&self) -> Vec<Error> {
        let n = unsafe { sys::coio_task_group_errors(self.g, ptr::null_mut(), 0) };
        if n <= 0 {
            return vec![];
        }
        let mut v = vec![ptr::null_mut(); n as usize];
        let n = unsafe { sys::coio_task_group_errors(self.g, v.as_mut_ptr(), v.len()) };
        v.truncate(n.max(0) as usize);
        v.into_iter()
            .map(|f| {
                let e = crate::future::error_of(f);
                unsafe { sys::coio_future_release(f) };
                e
            })
            .collect()
    }
}

impl Drop for TaskGroup {
    fn drop(&mut self) {
        unsafe { sys::coio_task_group_free(self.g) };
    }
}
