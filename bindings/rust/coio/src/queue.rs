//! [`Queue<T>`]: asyncio's `Queue`, `LifoQueue` and `PriorityQueue` for Rust values.
use crate::error::{check, Error, Result};
use crate::future::{take_boxed, take_unit, value_drop, value_from_raw, value_into_raw, Future};
use crate::lp::LoopRef;
use coio_sys as sys;
use std::marker::PhantomData;
use std::os::raw::c_void;
use std::ptr;
use std::rc::Rc;

struct QueueRaw(*mut sys::coio_queue);
impl Drop for QueueRaw {
    fn drop(&mut self) {
        unsafe { sys::coio_queue_free(self.0) };
    }
}

/// A queue of `T` values (asyncio's `Queue`; FIFO, LIFO or priority).  The queue owns an item
/// from a successful put until a get hands it on; items still queued when the last handle is
/// dropped are dropped.  Handles are cheap to clone.
///
/// ```
/// let lp = coio::Loop::new_virtual().unwrap();
/// let q = coio::Queue::<String>::new(&lp, 0).unwrap();
/// q.put_nowait("a".into()).unwrap();
/// let got = lp.run_until_complete(q.get()).unwrap();
/// assert_eq!(got, Ok("a".to_string()));
/// ```
pub struct Queue<T> {
    raw: Rc<QueueRaw>,
    _p: PhantomData<T>,
}

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Self {
        Queue {
            raw: self.raw.clone(),
            _p: PhantomData,
        }
    }
}

impl<T: 'static> Queue<T> {
    fn with_kind(lp: &LoopRef, kind: sys::QueueKind, maxsize: usize) -> Result<Queue<T>> {
        let l = lp.as_raw();
        if l.is_null() {
            return Err(Error::Closed);
        }
        let mut q = ptr::null_mut();
        check(unsafe { sys::coio_queue_new(l, kind as i32, maxsize, &mut q) })?;
        Ok(Queue {
            raw: Rc::new(QueueRaw(q)),
            _p: PhantomData,
        })
    }

    /// A FIFO queue (`maxsize` 0: unbounded).
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// assert_eq!(coio::Queue::<u8>::new(&lp, 4).unwrap().maxsize(), 4);
    /// ```
    pub fn new(lp: &LoopRef, maxsize: usize) -> Result<Queue<T>> {
        Queue::with_kind(lp, sys::QueueKind::Fifo, maxsize)
    }

    /// A LIFO queue (`asyncio.LifoQueue`).
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let q = coio::Queue::lifo(&lp, 0).unwrap();
    /// q.put_nowait(1).unwrap();
    /// q.put_nowait(2).unwrap();
    /// assert_eq!(q.get_nowait(), Ok(2));
    /// ```
    pub fn lifo(lp: &LoopRef, maxsize: usize) -> Result<Queue<T>> {
        Queue::with_kind(lp, sys::QueueKind::Lifo, maxsize)
    }

    /// A priority queue (`asyncio.PriorityQueue`): the smallest priority first, equal ones
    /// FIFO.  Put with [`put_priority`](Queue::put_priority).
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let q = coio::Queue::priority(&lp, 0).unwrap();
    /// q.put_priority_nowait(2.0, "b").unwrap();
    /// q.put_priority_nowait(1.0, "a").unwrap();
    /// assert_eq!(q.get_nowait(), Ok("a"));
    /// ```
    pub fn priority(lp: &LoopRef, maxsize: usize) -> Result<Queue<T>> {
        Queue::with_kind(lp, sys::QueueKind::Priority, maxsize)
    }

    fn raw(&self) -> *mut sys::coio_queue {
        self.raw.0
    }

    /// A future that completes once `v` is in the queue (at once if there is room).
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let q = coio::Queue::new(&lp, 1).unwrap();
    /// assert!(q.put(1).done());
    /// assert!(!q.put(2).done()); // full: waits for a get
    /// ```
    pub fn put(&self, v: T) -> Future<()> {
        let (p, d) = value_into_raw(v);
        let mut f = ptr::null_mut();
        let st = unsafe { sys::coio_queue_put(self.raw(), p, d, &mut f) };
        self.put_future(st, p, f)
    }

    /// As [`put`](Queue::put) with a priority (priority queues only).
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let q = coio::Queue::priority(&lp, 0).unwrap();
    /// assert!(q.put_priority(0.5, 'x').done());
    /// ```
    pub fn put_priority(&self, priority: f64, v: T) -> Future<()> {
        let (p, d) = value_into_raw(v);
        let mut f = ptr::null_mut();
        let st = unsafe { sys::coio_queue_put_priority(self.raw(), priority, p, d, &mut f) };
        self.put_future(st, p, f)
    }

    fn put_future(&self, st: i32, p: *mut c_void, f: *mut sys::coio_future) -> Future<()> {
        match check(st) {
            Ok(()) => unsafe { Future::from_raw_with(f, take_unit, false) },
            Err(e) => {
                unsafe { value_drop::<T>(p) };
                Future::failed(e)
            }
        }
    }

    /// Puts `v` at once; on [`Error::Full`] or [`Error::Shutdown`] the item comes back.
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let q = coio::Queue::new(&lp, 1).unwrap();
    /// q.put_nowait(1).unwrap();
    /// assert_eq!(q.put_nowait(2), Err((coio::Error::Full, 2)));
    /// ```
    pub fn put_nowait(&self, v: T) -> std::result::Result<(), (Error, T)> {
        let (p, d) = value_into_raw(v);
        let st = unsafe { sys::coio_queue_put_nowait(self.raw(), p, d) };
        self.nowait_back(st, p)
    }

    /// As [`put_nowait`](Queue::put_nowait) with a priority.
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let q = coio::Queue::<u8>::new(&lp, 0).unwrap();
    /// assert_eq!(q.put_priority_nowait(1.0, 7), Err((coio::Error::Invalid, 7))); // not a priority queue
    /// ```
    pub fn put_priority_nowait(&self, priority: f64, v: T) -> std::result::Result<(), (Error, T)> {
        let (p, d) = value_into_raw(v);
        let st = unsafe { sys::coio_queue_put_priority_nowait(self.raw(), priority, p, d) };
        self.nowait_back(st, p)
    }

    fn nowait_back(&self, st: i32, p: *mut c_void) -> std::result::Result<(), (Error, T)> {
        match check(st) {
            Ok(()) => Ok(()),
            Err(e) => Err((e, unsafe { value_from_raw::<T>(p) })),
        }
    }

    /// A future that completes with the next item.  Dropping it while pending withdraws the
    /// get.
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let q = coio::Queue::new(&lp, 0).unwrap();
    /// let g = q.get();
    /// q.put_nowait(5).unwrap();
    /// assert_eq!(lp.run_until_complete(g).unwrap(), Ok(5));
    /// ```
    pub fn get(&self) -> Future<T> {
        let mut f = ptr::null_mut();
        match check(unsafe { sys::coio_queue_get(self.raw(), &mut f) }) {
            Ok(()) => unsafe { Future::from_raw_with(f, take_boxed::<T>, true) },
            Err(e) => Future::failed(e),
        }
    }

    /// Takes an item at once ([`Error::Empty`], or [`Error::Shutdown`] once shut down and
    /// empty).
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let q = coio::Queue::<u8>::new(&lp, 0).unwrap();
    /// assert_eq!(q.get_nowait(), Err(coio::Error::Empty));
    /// ```
    pub fn get_nowait(&self) -> Result<T> {
        let mut v = ptr::null_mut();
        let mut d: sys::coio_free_fn = None;
        check(unsafe { sys::coio_queue_get_nowait(self.raw(), &mut v, &mut d) })?;
        Ok(unsafe { value_from_raw::<T>(v) })
    }

    /// One item fewer unfinished ([`Error::State`] if called more often than items were put).
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let q = coio::Queue::new(&lp, 0).unwrap();
    /// q.put_nowait(()).unwrap();
    /// q.task_done().unwrap();
    /// assert_eq!(q.task_done(), Err(coio::Error::State));
    /// ```
    pub fn task_done(&self) -> Result<()> {
        check(unsafe { sys::coio_queue_task_done(self.raw()) })
    }

    /// A future that completes when every item put has been marked done.
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let q = coio::Queue::<u8>::new(&lp, 0).unwrap();
    /// assert!(q.join().done());
    /// ```
    pub fn join(&self) -> Future<()> {
        let mut f = ptr::null_mut();
        match check(unsafe { sys::coio_queue_join(self.raw(), &mut f) }) {
            Ok(()) => unsafe { Future::from_raw_with(f, take_unit, false) },
            Err(e) => Future::failed(e),
        }
    }

    /// asyncio 3.13's `shutdown`: puts fail, gets drain then fail; `immediate` empties it.
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let q = coio::Queue::new(&lp, 0).unwrap();
    /// q.shutdown(false).unwrap();
    /// assert_eq!(q.put_nowait(1), Err((coio::Error::Shutdown, 1)));
    /// ```
    pub fn shutdown(&self, immediate: bool) -> Result<()> {
        check(unsafe { sys::coio_queue_shutdown(self.raw(), immediate as i32) })
    }

    /// Items queued.
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let q = coio::Queue::new(&lp, 0).unwrap();
    /// q.put_nowait('a').unwrap();
    /// assert_eq!(q.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        unsafe { sys::coio_queue_size(self.raw()).max(0) as usize }
    }

    /// The maximum size (0: unbounded).
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// assert_eq!(coio::Queue::<u8>::new(&lp, 0).unwrap().maxsize(), 0);
    /// ```
    pub fn maxsize(&self) -> usize {
        unsafe { sys::coio_queue_maxsize(self.raw()).max(0) as usize }
    }

    /// Whether the queue is empty.
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// assert!(coio::Queue::<u8>::new(&lp, 0).unwrap().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        unsafe { sys::coio_queue_empty(self.raw()) == 1 }
    }

    /// Whether the queue is full (never for an unbounded one).
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// assert!(!coio::Queue::<u8>::new(&lp, 0).unwrap().is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        unsafe { sys::coio_queue_full(self.raw()) == 1 }
    }
}
