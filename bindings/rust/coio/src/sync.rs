//! asyncio's synchronisation primitives: [`Event`], [`Lock`], [`Semaphore`], [`Condition`],
//! [`Barrier`].  Waits are futures; handles are cheap to clone (they share one object, freed
//! with the last handle: waits still pending are then cancelled).
use crate::error::{check, Error, Result};
use crate::future::{take_index, take_unit, Future};
use crate::lp::LoopRef;
use coio_sys as sys;
use std::ptr;
use std::rc::Rc;

macro_rules! prim {
    ($name:ident, $raw:ty, $free:path) => {
        struct $name(*mut $raw);
        impl Drop for $name {
            fn drop(&mut self) {
                unsafe { $free(self.0) };
            }
        }
    };
}

prim!(EventRaw, sys::coio_event, sys::coio_event_free);
prim!(LockRaw, sys::coio_lock, sys::coio_lock_free);
prim!(SemRaw, sys::coio_semaphore, sys::coio_semaphore_free);
prim!(CondRaw, sys::coio_condition, sys::coio_condition_free);
prim!(BarrierRaw, sys::coio_barrier, sys::coio_barrier_free);

fn fut_unit(st: i32, f: *mut sys::coio_future) -> Future<()> {
    match check(st) {
        Ok(()) => unsafe { Future::from_raw_with(f, take_unit, false) },
        Err(e) => Future::failed(e),
    }
}

fn lp_raw(lp: &LoopRef) -> Result<*mut sys::coio_loop> {
    let r = lp.as_raw();
    if r.is_null() {
        Err(Error::Closed)
    } else {
        Ok(r)
    }
}

/// asyncio's `Event`.
///
/// ```
/// let lp = coio::Loop::new_virtual().unwrap();
/// let ev = coio::Event::new(&lp).unwrap();
/// let e2 = ev.clone();
/// lp.call_later(1.0, move || e2.set().unwrap()).unwrap();
/// lp.run_until_complete(ev.wait()).unwrap().unwrap();
/// assert!(ev.is_set());
/// ```
#[derive(Clone)]
pub struct Event(Rc<EventRaw>);

impl Event {
    /// A cleared event of `lp`.
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// assert!(!coio::Event::new(&lp).unwrap().is_set());
    /// ```
    pub fn new(lp: &LoopRef) -> Result<Event> {
        let mut e = ptr::null_mut();
        check(unsafe { sys::coio_event_new(lp_raw(lp)?, &mut e) })?;
        Ok(Event(Rc::new(EventRaw(e))))
    }
    /// Sets the event: every waiter wakes.
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let e = coio::Event::new(&lp).unwrap();
    /// e.set().unwrap();
    /// assert!(e.wait().done());
    /// ```
    pub fn set(&self) -> Result<()> {
        check(unsafe { sys::coio_event_set(self.0 .0) })
    }
    /// Clears the event.
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let e = coio::Event::new(&lp).unwrap();
    /// e.set().unwrap();
    /// e.clear().unwrap();
    /// assert!(!e.is_set());
    /// ```
    pub fn clear(&self) -> Result<()> {
        check(unsafe { sys::coio_event_clear(self.0 .0) })
    }
    /// Whether the event is set.
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// assert!(!coio::Event::new(&lp).unwrap().is_set());
    /// ```
    pub fn is_set(&self) -> bool {
        unsafe { sys::coio_event_is_set(self.0 .0) == 1 }
    }
    /// A future that completes once the event is set.
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// assert!(!coio::Event::new(&lp).unwrap().wait().done());
    /// ```
    pub fn wait(&self) -> Future<()> {
        let mut f = ptr::null_mut();
        fut_unit(unsafe { sys::coio_event_wait(self.0 .0, &mut f) }, f)
    }
}

/// asyncio's `Lock` (FIFO-fair).
///
/// ```
/// let lp = coio::Loop::new_virtual().unwrap();
/// let l = coio::Lock::new(&lp).unwrap();
/// lp.run_until_complete(l.acquire()).unwrap().unwrap();
/// assert!(l.locked());
/// l.release().unwrap();
/// ```
#[derive(Clone)]
pub struct Lock(Rc<LockRaw>);

impl Lock {
    /// An unlocked lock of `lp`.
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// assert!(!coio::Lock::new(&lp).unwrap().locked());
    /// ```
    pub fn new(lp: &LoopRef) -> Result<Lock> {
        let mut l = ptr::null_mut();
        check(unsafe { sys::coio_lock_new(lp_raw(lp)?, &mut l) })?;
        Ok(Lock(Rc::new(LockRaw(l))))
    }
    /// A future that completes when the lock is acquired.
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let l = coio::Lock::new(&lp).unwrap();
    /// assert!(l.acquire().done()); // free: at once
    /// ```
    pub fn acquire(&self) -> Future<()> {
        let mut f = ptr::null_mut();
        fut_unit(unsafe { sys::coio_lock_acquire(self.0 .0, &mut f) }, f)
    }
    /// Releases the lock (hands it to the first waiter).  [`Error::State`] if not locked.
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// assert_eq!(coio::Lock::new(&lp).unwrap().release(), Err(coio::Error::State));
    /// ```
    pub fn release(&self) -> Result<()> {
        check(unsafe { sys::coio_lock_release(self.0 .0) })
    }
    /// Whether the lock is held.
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let l = coio::Lock::new(&lp).unwrap();
    /// let _a = l.acquire();
    /// assert!(l.locked());
    /// ```
    pub fn locked(&self) -> bool {
        unsafe { sys::coio_lock_locked(self.0 .0) == 1 }
    }
}

/// asyncio's `Semaphore` / `BoundedSemaphore`.
///
/// ```
/// let lp = coio::Loop::new_virtual().unwrap();
/// let s = coio::Semaphore::new(&lp, 1, false).unwrap();
/// assert!(s.acquire().done());
/// assert!(!s.acquire().done());
/// ```
#[derive(Clone)]
pub struct Semaphore(Rc<SemRaw>);

impl Semaphore {
    /// A semaphore with `value` permits; `bounded`: releasing above it is [`Error::State`].
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let s = coio::Semaphore::new(&lp, 2, true).unwrap();
    /// assert_eq!(s.value(), 2);
    /// assert_eq!(s.release(), Err(coio::Error::State));
    /// ```
    pub fn new(lp: &LoopRef, value: u32, bounded: bool) -> Result<Semaphore> {
        let mut s = ptr::null_mut();
        let flags = if bounded {
            sys::COIO_SEMAPHORE_BOUNDED
        } else {
            0
        };
        check(unsafe { sys::coio_semaphore_new(lp_raw(lp)?, value, flags, &mut s) })?;
        Ok(Semaphore(Rc::new(SemRaw(s))))
    }
    /// A future that completes when a permit is taken.
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let s = coio::Semaphore::new(&lp, 1, false).unwrap();
    /// lp.run_until_complete(s.acquire()).unwrap().unwrap();
    /// assert_eq!(s.value(), 0);
    /// ```
    pub fn acquire(&self) -> Future<()> {
        let mut f = ptr::null_mut();
        fut_unit(unsafe { sys::coio_semaphore_acquire(self.0 .0, &mut f) }, f)
    }
    /// Gives a permit back.
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let s = coio::Semaphore::new(&lp, 0, false).unwrap();
    /// s.release().unwrap();
    /// assert_eq!(s.value(), 1);
    /// ```
    pub fn release(&self) -> Result<()> {
        check(unsafe { sys::coio_semaphore_release(self.0 .0) })
    }
    /// Whether an acquire would wait.
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// assert!(coio::Semaphore::new(&lp, 0, false).unwrap().locked());
    /// ```
    pub fn locked(&self) -> bool {
        unsafe { sys::coio_semaphore_locked(self.0 .0) == 1 }
    }
    /// The permits available.
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// assert_eq!(coio::Semaphore::new(&lp, 3, false).unwrap().value(), 3);
    /// ```
    pub fn value(&self) -> i64 {
        unsafe { sys::coio_semaphore_value(self.0 .0) as i64 }
    }
}

/// asyncio's `Condition` (with its own lock, or a shared [`Lock`]).
///
/// ```
/// let lp = coio::Loop::new_virtual().unwrap();
/// let c = coio::Condition::new(&lp, None).unwrap();
/// lp.run_until_complete(c.lock().acquire()).unwrap().unwrap();
/// let w = c.wait(); // releases the lock and waits
/// c.lock().acquire(); // (queued behind nobody: the lock is free now)
/// assert!(!w.done());
/// ```
#[derive(Clone)]
pub struct Condition(Rc<CondRaw>, #[allow(dead_code)] Option<Lock>); // keeps a shared lock alive

impl Condition {
    /// A condition of `lp` using `lock` (`None`: a lock of its own).
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let l = coio::Lock::new(&lp).unwrap();
    /// let c = coio::Condition::new(&lp, Some(&l)).unwrap();
    /// assert!(!c.lock().locked());
    /// ```
    pub fn new(lp: &LoopRef, lock: Option<&Lock>) -> Result<Condition> {
        let mut c = ptr::null_mut();
        let l = lock.map_or(ptr::null_mut(), |l| l.0 .0);
        check(unsafe { sys::coio_condition_new(lp_raw(lp)?, l, &mut c) })?;
        Ok(Condition(Rc::new(CondRaw(c)), lock.cloned()))
    }
    /// The condition's lock.
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let c = coio::Condition::new(&lp, None).unwrap();
    /// assert!(!c.lock().locked());
    /// ```
    pub fn lock(&self) -> CondLock<'_> {
        CondLock(self)
    }
    fn lock_raw(&self) -> *mut sys::coio_lock {
        unsafe { sys::coio_condition_lock(self.0 .0) }
    }
    /// Releases the lock, waits for a notify, re-acquires the lock ([`Error::State`] if the
    /// lock is not held).
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let c = coio::Condition::new(&lp, None).unwrap();
    /// assert!(c.wait().error().unwrap().is_some()); // not held
    /// ```
    pub fn wait(&self) -> Future<()> {
        let mut f = ptr::null_mut();
        fut_unit(unsafe { sys::coio_condition_wait(self.0 .0, &mut f) }, f)
    }
    /// Wakes the first `n` waiters.
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let c = coio::Condition::new(&lp, None).unwrap();
    /// assert_eq!(c.notify(1), Err(coio::Error::State)); // not held
    /// ```
    pub fn notify(&self, n: usize) -> Result<()> {
        check(unsafe { sys::coio_condition_notify(self.0 .0, n) })
    }
    /// Wakes every waiter.
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let c = coio::Condition::new(&lp, None).unwrap();
    /// assert_eq!(c.notify_all(), Err(coio::Error::State));
    /// ```
    pub fn notify_all(&self) -> Result<()> {
        check(unsafe { sys::coio_condition_notify_all(self.0 .0) })
    }
}

/// The lock of a [`Condition`] (borrowed from it).
///
/// ```
/// let lp = coio::Loop::new_virtual().unwrap();
/// let c = coio::Condition::new(&lp, None).unwrap();
/// let l: coio::CondLock = c.lock();
/// assert!(!l.locked());
/// ```
pub struct CondLock<'a>(&'a Condition);

impl CondLock<'_> {
    /// As [`Lock::acquire`].
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let c = coio::Condition::new(&lp, None).unwrap();
    /// assert!(c.lock().acquire().done());
    /// ```
    pub fn acquire(&self) -> Future<()> {
        let mut f = ptr::null_mut();
        fut_unit(
            unsafe { sys::coio_lock_acquire(self.0.lock_raw(), &mut f) },
            f,
        )
    }
    /// As [`Lock::release`].
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let c = coio::Condition::new(&lp, None).unwrap();
    /// assert_eq!(c.lock().release(), Err(coio::Error::State));
    /// ```
    pub fn release(&self) -> Result<()> {
        check(unsafe { sys::coio_lock_release(self.0.lock_raw()) })
    }
    /// As [`Lock::locked`].
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let c = coio::Condition::new(&lp, None).unwrap();
    /// assert!(!c.lock().locked());
    /// ```
    pub fn locked(&self) -> bool {
        unsafe { sys::coio_lock_locked(self.0.lock_raw()) == 1 }
    }
}

/// asyncio's `Barrier`: [`wait`](Barrier::wait) completes with the wait's index once
/// `parties` tasks wait.
///
/// ```
/// let lp = coio::Loop::new_virtual().unwrap();
/// let b = coio::Barrier::new(&lp, 2).unwrap();
/// let w0 = b.wait();
/// let w1 = b.wait();
/// lp.run_until_done(&w1).unwrap();
/// let mut ix = [w0.take().unwrap(), w1.take().unwrap()];
/// ix.sort();
/// assert_eq!(ix, [0, 1]);
/// ```
#[derive(Clone)]
pub struct Barrier(Rc<BarrierRaw>);

impl Barrier {
    /// A barrier for `parties` waits ([`Error::Invalid`] for 0).
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// assert_eq!(coio::Barrier::new(&lp, 0).err(), Some(coio::Error::Invalid));
    /// ```
    pub fn new(lp: &LoopRef, parties: u32) -> Result<Barrier> {
        let mut b = ptr::null_mut();
        check(unsafe { sys::coio_barrier_new(lp_raw(lp)?, parties, &mut b) })?;
        Ok(Barrier(Rc::new(BarrierRaw(b))))
    }
    /// A future that completes with this wait's index (0 .. parties-1), or fails with
    /// [`Error::Broken`].
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let b = coio::Barrier::new(&lp, 1).unwrap();
    /// let w = b.wait();
    /// lp.run_until_done(&w).unwrap();
    /// assert_eq!(w.take(), Ok(0));
    /// ```
    pub fn wait(&self) -> Future<usize> {
        let mut f = ptr::null_mut();
        match check(unsafe { sys::coio_barrier_wait(self.0 .0, &mut f) }) {
            Ok(()) => unsafe { Future::from_raw_with(f, take_index, false) },
            Err(e) => Future::failed(e),
        }
    }
    /// Fails the waiters with [`Error::Broken`] and starts filling again.
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// coio::Barrier::new(&lp, 2).unwrap().reset().unwrap();
    /// ```
    pub fn reset(&self) -> Result<()> {
        check(unsafe { sys::coio_barrier_reset(self.0 .0) })
    }
    /// Breaks the barrier until a reset.
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let b = coio::Barrier::new(&lp, 2).unwrap();
    /// b.abort().unwrap();
    /// assert!(b.broken());
    /// ```
    pub fn abort(&self) -> Result<()> {
        check(unsafe { sys::coio_barrier_abort(self.0 .0) })
    }
    /// The number of parties.
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// assert_eq!(coio::Barrier::new(&lp, 3).unwrap().parties(), 3);
    /// ```
    pub fn parties(&self) -> i64 {
        unsafe { sys::coio_barrier_parties(self.0 .0) as i64 }
    }
    /// The waits now filling it.
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let b = coio::Barrier::new(&lp, 3).unwrap();
    /// let _w = b.wait();
    /// assert_eq!(b.n_waiting(), 1);
    /// ```
    pub fn n_waiting(&self) -> i64 {
        unsafe { sys::coio_barrier_n_waiting(self.0 .0) as i64 }
    }
    /// Whether the barrier is broken.
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// assert!(!coio::Barrier::new(&lp, 3).unwrap().broken());
    /// ```
    pub fn broken(&self) -> bool {
        unsafe { sys::coio_barrier_broken(self.0 .0) == 1 }
    }
}
