//! Integration tests of the safe binding: ownership (drops exactly once), panics, tasks,
//! cancellation, wakers, combinators, primitives.
use coio::{Error, Loop};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Counts its drops.
struct Tracked(Rc<Cell<u32>>);
impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

fn lp() -> Loop {
    Loop::new_virtual().unwrap()
}

#[test]
fn call_soon_closure_dropped_once_after_running() {
    let l = lp();
    let drops = Rc::new(Cell::new(0));
    let runs = Rc::new(Cell::new(0));
    let t = Tracked(drops.clone());
    let r = runs.clone();
    l.call_soon(move || {
        let _keep = &t;
        r.set(r.get() + 1);
    })
    .unwrap();
    assert_eq!(drops.get(), 0);
    l.run_until_complete(coio::sleep(0.0)).unwrap().unwrap();
    assert_eq!((runs.get(), drops.get()), (1, 1));
}

#[test]
fn cancelled_handle_drops_closure_at_once_and_never_runs() {
    let l = lp();
    let drops = Rc::new(Cell::new(0));
    let t = Tracked(drops.clone());
    let h = l
        .call_later(1.0, move || {
            let _keep = &t;
            panic!("must not run");
        })
        .unwrap();
    h.cancel();
    assert_eq!(drops.get(), 1);
    assert!(h.cancelled());
    h.cancel();
    l.run_until_complete(coio::sleep(2.0)).unwrap().unwrap();
    assert_eq!(drops.get(), 1);
}

#[test]
fn closing_the_loop_drops_pending_closures_once() {
    let drops = Rc::new(Cell::new(0));
    {
        let l = lp();
        for _ in 0..3 {
            let t = Tracked(drops.clone());
            l.call_later(5.0, move || drop(t)).unwrap();
        }
        l.close().unwrap();
        assert_eq!(drops.get(), 3);
    }
    assert_eq!(drops.get(), 3);
}

#[test]
fn failed_registration_keeps_nothing() {
    let l = lp();
    l.close().unwrap();
    let drops = Rc::new(Cell::new(0));
    let t = Tracked(drops.clone());
    assert_eq!(l.call_soon(move || drop(t)).err(), Some(Error::Closed));
    assert_eq!(drops.get(), 1); // dropped by us, once
    assert_eq!(l.run_until_complete(async {}).err(), Some(Error::Closed));
}

#[test]
fn callback_panic_is_reported_and_the_loop_goes_on() {
    let l = lp();
    let after = Rc::new(Cell::new(false));
    let a = after.clone();
    let handled = Rc::new(RefCell::new(Vec::new()));
    let h = handled.clone();
    l.set_exception_handler(move |ctx| {
        h.borrow_mut()
            .push((ctx.message.clone(), ctx.error.clone()))
    })
    .unwrap();
    l.call_soon(|| panic!("boom in a callback")).unwrap();
    l.call_soon(move || a.set(true)).unwrap();
    l.run_until_complete(coio::sleep(0.0)).unwrap().unwrap();
    assert!(after.get());
    assert_eq!(
        *handled.borrow(),
        vec![(
            "panic in a callback".to_string(),
            Some("boom in a callback".to_string())
        )]
    );
}

#[test]
fn task_panic_fails_the_task_with_the_message() {
    let l = lp();
    let r = l.run_until_complete(async {
        let t = coio::spawn(async {
            coio::sleep(0.1).await.unwrap();
            panic!("boom in a task");
        });
        t.await
    });
    match r.unwrap() {
        Err(Error::Failed {
            message: Some(m), ..
        }) => assert!(m.contains("boom in a task"), "{m}"),
        other => panic!("unexpected {other:?}"),
    }
    // The top-level form: run_until_complete reports it as its error.
    let r = l.run_until_complete(async { panic!("top") });
    assert!(matches!(r, Err(Error::Failed { message: Some(ref m), .. }) if m.contains("top")));
}

#[test]
fn task_output_dropped_once_whether_taken_or_not() {
    let l = lp();
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    let t = l.spawn(async move { Tracked(d) }).unwrap();
    l.run_until_done(&t).unwrap();
    assert_eq!(drops.get(), 0);
    let v = t.take().unwrap();
    assert_eq!(t.take().err(), Some(Error::State));
    drop(v);
    assert_eq!(drops.get(), 1);
    // Never taken: dropped with the future.
    let d = drops.clone();
    let t = l.spawn(async move { Tracked(d) }).unwrap();
    l.run_until_done(&t).unwrap();
    drop(t);
    assert_eq!(drops.get(), 2);
}

#[test]
fn future_results_are_typed_and_owned() {
    let l = lp();
    let drops = Rc::new(Cell::new(0));
    let f = l.create_future::<Tracked>().unwrap();
    f.set_result(Tracked(drops.clone())).unwrap();
    assert_eq!(f.set_result(Tracked(drops.clone())), Err(Error::State));
    assert_eq!(drops.get(), 1); // the refused value
    drop(f);
    assert_eq!(drops.get(), 2);
}

#[test]
fn unfinished_task_body_dropped_when_the_loop_closes() {
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    let l = lp();
    let t = l
        .spawn(async move {
            let _t = Tracked(d);
            coio::sleep(100.0).await.unwrap();
        })
        .unwrap();
    l.run_until_complete(coio::sleep(1.0)).unwrap().unwrap();
    assert_eq!(drops.get(), 0);
    drop(l);
    assert_eq!(drops.get(), 1);
    assert!(!t.done()); // as in asyncio, a task killed at close stays pending
}

#[test]
fn cancel_with_message_reaches_the_body_and_the_awaiter() {
    let l = lp();
    let seen = Rc::new(RefCell::new(None));
    let s = seen.clone();
    let r = l.run_until_complete(async move {
        let t = coio::spawn_try(async move {
            let r = coio::sleep(10.0).await;
            *s.borrow_mut() = Some(r.clone());
            r
        });
        coio::sleep(1.0).await.unwrap();
        t.cancel(Some("stop now")).unwrap();
        t.await
    });
    let want = Error::Cancelled(Some("stop now".into()));
    assert_eq!(r.unwrap(), Err(want.clone()));
    assert_eq!(*seen.borrow(), Some(Err(want)));
}

#[test]
fn a_swallowed_cancellation_lets_the_task_finish() {
    let l = lp();
    let r = l.run_until_complete(async {
        let t = coio::spawn(async {
            let first = coio::sleep(10.0).await;
            coio::sleep(1.0).await.unwrap();
            first.is_err()
        });
        coio::sleep(1.0).await.unwrap();
        t.cancel(None).unwrap();
        t.await
    });
    assert_eq!(r.unwrap(), Ok(true));
    assert_eq!(l.time(), 2.0);
}

#[test]
fn cancelled_before_its_first_step_the_body_never_runs() {
    let l = lp();
    let ran = Rc::new(Cell::new(false));
    let r2 = ran.clone();
    let t = l.spawn(async move { r2.set(true) }).unwrap();
    t.cancel(None).unwrap();
    assert_eq!(l.run_until_done(&t), Err(Error::Cancelled(None)));
    assert!(!ran.get());
}

#[test]
fn a_coio_future_is_awaited_directly_by_the_step() {
    let l = lp();
    let before = coio::waker_suspensions();
    let r = l.run_until_complete(async {
        let q = coio::Queue::<u32>::new(&coio::current_loop(), 0).unwrap();
        let q2 = q.clone();
        let t = coio::spawn(async move {
            for i in 0..50 {
                coio::sleep(0.1).await.unwrap();
                q2.put_nowait(i).unwrap();
            }
        });
        let mut n = 0;
        for _ in 0..50 {
            n += q.get().await.unwrap();
        }
        t.await.unwrap();
        n
    });
    assert_eq!(r.unwrap(), (0..50).sum());
    assert_eq!(coio::waker_suspensions(), before);
}

#[test]
fn join_of_two_coio_futures_uses_the_waker() {
    let l = lp();
    let before = coio::waker_suspensions();
    let r = l.run_until_complete(async {
        let a = coio::spawn(async { coio::sleep(2.0).await.map(|_| "a") });
        let b = coio::spawn(async { coio::sleep(1.0).await.map(|_| "b") });
        let (x, y) = futures::join!(a, b);
        (
            x.unwrap().unwrap(),
            y.unwrap().unwrap(),
            coio::current_loop().time(),
        )
    });
    assert_eq!(r.unwrap(), ("a", "b", 2.0));
    assert!(coio::waker_suspensions() > before);
}

#[test]
fn select_over_coio_futures() {
    use futures::future::{select, Either};
    let l = lp();
    let r = l.run_until_complete(async {
        let slow = coio::sleep(5.0);
        let fast = coio::sleep(1.0);
        match select(Box::pin(slow), Box::pin(fast)).await {
            Either::Left(_) => "slow",
            Either::Right(_) => "fast",
        }
    });
    assert_eq!(r.unwrap(), "fast");
    assert_eq!(l.time(), 1.0);
}

#[test]
fn a_channel_fed_by_another_thread_wakes_the_task() {
    let l = Loop::new().unwrap(); // real time: the loop waits for the thread
    let (tx, rx) = futures::channel::oneshot::channel::<u32>();
    let r = l.run_until_complete(async move {
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            tx.send(99).unwrap();
        });
        rx.await.unwrap()
    });
    assert_eq!(r.unwrap(), 99);
}

#[test]
fn a_waker_that_outlives_its_loop_is_harmless() {
    let slot: Arc<std::sync::Mutex<Option<std::task::Waker>>> = Default::default();
    {
        let l = lp();
        let s = slot.clone();
        let t = l
            .spawn(std::future::poll_fn(move |cx| {
                *s.lock().unwrap() = Some(cx.waker().clone());
                std::task::Poll::<()>::Pending
            }))
            .unwrap();
        l.run_until_complete(coio::sleep(1.0)).unwrap().unwrap();
        assert!(!t.done());
    }
    let w = slot.lock().unwrap().take().unwrap();
    std::thread::spawn(move || w.wake()).join().unwrap();
    let w2 = slot.lock().unwrap().take();
    assert!(w2.is_none());
}

#[test]
fn a_wake_from_inside_the_poll_runs_the_task_again() {
    let l = lp();
    let polls = Rc::new(Cell::new(0));
    let p = polls.clone();
    let r = l.run_until_complete(std::future::poll_fn(move |cx| {
        p.set(p.get() + 1);
        if p.get() < 5 {
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(p.get())
        }
    }));
    assert_eq!(r.unwrap(), 5);
}

#[test]
fn remote_wakes_from_many_threads() {
    let l = Loop::new().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let remote = l.remote();
    let f = l.create_future::<()>().unwrap();
    let f2 = f.clone();
    let h = hits.clone();
    // The last of 4 x 50 remote calls completes the future (checked on the loop thread).
    let done_at = 200;
    let lr = l.handle();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let r = remote.clone();
            let h = h.clone();
            std::thread::spawn(move || {
                for _ in 0..50 {
                    let h = h.clone();
                    r.call_soon(move || {
                        h.fetch_add(1, Ordering::SeqCst);
                    })
                    .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    lr.call_soon(move || f2.set_result(()).unwrap()).unwrap();
    l.run_until_done(&f).unwrap();
    assert_eq!(hits.load(Ordering::SeqCst), done_at);
}

#[test]
fn gather_fails_at_the_first_error_and_wait_for_times_out() {
    let l = lp();
    let r = l.run_until_complete(async {
        let ok = coio::spawn_try(async {
            coio::sleep(1.0).await?;
            Ok(1)
        });
        let bad = coio::spawn_try(async {
            Err::<i32, _>(Error::Failed {
                code: 42,
                message: Some("x".into()),
            })
        });
        let g = coio::gather([ok.clone(), bad]).await;
        let later = ok.await;
        (g, later)
    });
    let (g, later) = r.unwrap();
    assert_eq!(
        g,
        Err(Error::Failed {
            code: 42,
            message: Some("x".into())
        })
    );
    assert_eq!(later, Ok(1));
}

#[test]
fn shield_protects_the_inner_task() {
    let l = lp();
    let r = l.run_until_complete(async {
        let inner = coio::spawn_try(async {
            coio::sleep(2.0).await?;
            Ok("inner")
        });
        let outer = coio::spawn_try(coio::shield(inner.clone()));
        coio::sleep(1.0).await.unwrap();
        outer.cancel(None).unwrap();
        (outer.await, inner.await)
    });
    let (o, i) = r.unwrap();
    assert!(o.unwrap_err().is_cancelled());
    assert_eq!(i, Ok("inner"));
}

#[test]
fn timeout_scope_expires_and_reports_timed_out() {
    let l = lp();
    let r = l.run_until_complete(async {
        let a = coio::timeout(Some(1.0), async {
            coio::sleep(3.0).await?;
            Ok("late")
        })
        .await;
        let b = coio::timeout(Some(5.0), async {
            coio::sleep(1.0).await?;
            Ok("in time")
        })
        .await;
        (a, b, coio::current_loop().time())
    });
    assert_eq!(r.unwrap(), (Err(Error::TimedOut), Ok("in time"), 2.0));
}

#[test]
fn task_group_failure_cancels_siblings() {
    let l = lp();
    let cancelled = Rc::new(Cell::new(false));
    let c = cancelled.clone();
    let r = l.run_until_complete(async move {
        let tg = coio::TaskGroup::new()?;
        tg.spawn_try(async move {
            let r = coio::sleep(10.0).await;
            c.set(r.as_ref().is_err_and(Error::is_cancelled));
            r
        })?;
        tg.spawn_try(async {
            coio::sleep(1.0).await?;
            Err::<(), _>(Error::Failed {
                code: 7,
                message: Some("child failed".into()),
            })
        })?;
        let r = tg.finish().await;
        Ok::<_, Error>((r, tg.errors()))
    });
    let (fin, errs) = r.unwrap().unwrap();
    assert!(
        matches!(fin, Err(Error::Failed { message: Some(ref m), .. }) if m.contains("1 sub-exception"))
    );
    assert_eq!(
        errs,
        vec![Error::Failed {
            code: 7,
            message: Some("child failed".into())
        }]
    );
    assert!(cancelled.get());
    assert_eq!(l.time(), 1.0);
}

#[test]
fn queue_ping_pong_and_item_ownership() {
    let l = lp();
    let a = coio::Queue::<u32>::new(&l, 0).unwrap();
    let b = coio::Queue::<u32>::new(&l, 0).unwrap();
    let (a2, b2) = (a.clone(), b.clone());
    let r = l.run_until_complete(async move {
        let ponger = coio::spawn(async move {
            for _ in 0..100 {
                let v = a2.get().await.unwrap();
                b2.put_nowait(v + 1).unwrap();
            }
        });
        let mut sum = 0;
        for i in 0..100 {
            a.put_nowait(i).unwrap();
            sum += b.get().await.unwrap();
        }
        ponger.await.unwrap();
        sum
    });
    assert_eq!(r.unwrap(), (1..=100).sum());
    // Items left in a queue are dropped with it, once.
    let drops = Rc::new(Cell::new(0));
    let q = coio::Queue::new(&l, 0).unwrap();
    q.put_nowait(Tracked(drops.clone())).ok().unwrap();
    let full = coio::Queue::new(&l, 1).unwrap();
    full.put_nowait(Tracked(drops.clone())).ok().unwrap();
    let (e, back) = full.put_nowait(Tracked(drops.clone())).err().unwrap();
    assert_eq!(e, Error::Full);
    drop(back);
    assert_eq!(drops.get(), 1);
    drop(q);
    drop(full);
    assert_eq!(drops.get(), 3);
}

#[test]
fn primitives_in_tasks() {
    let l = lp();
    let lr = l.handle();
    let r = l.run_until_complete(async move {
        let lock = coio::Lock::new(&lr).unwrap();
        let ev = coio::Event::new(&lr).unwrap();
        let sem = coio::Semaphore::new(&lr, 2, false).unwrap();
        let bar = coio::Barrier::new(&lr, 3).unwrap();
        let log = Rc::new(RefCell::new(Vec::new()));
        let mut ts = vec![];
        for i in 0..3 {
            let (lock, ev, sem, bar, log) = (
                lock.clone(),
                ev.clone(),
                sem.clone(),
                bar.clone(),
                log.clone(),
            );
            ts.push(coio::spawn_try(async move {
                ev.wait().await?;
                sem.acquire().await?;
                lock.acquire().await?;
                log.borrow_mut().push(i);
                coio::sleep(1.0).await?;
                lock.release()?;
                sem.release()?;
                bar.wait().await
            }));
        }
        coio::sleep(0.5).await?;
        ev.set()?;
        let idx = coio::gather(ts).await?;
        let mut idx = idx;
        idx.sort();
        let t = coio::current_loop().time();
        let logged = log.borrow().clone();
        Ok::<_, Error>((logged, idx, t))
    });
    assert_eq!(r.unwrap().unwrap(), (vec![0, 1, 2], vec![0, 1, 2], 3.5));
}

#[test]
fn condition_wait_and_notify() {
    let l = lp();
    let lr = l.handle();
    let r = l.run_until_complete(async move {
        let c = coio::Condition::new(&lr, None).unwrap();
        let c2 = c.clone();
        let waiter = coio::spawn_try(async move {
            c2.lock().acquire().await?;
            c2.wait().await?;
            let held = c2.lock().locked();
            c2.lock().release()?;
            Ok(held)
        });
        coio::sleep(1.0).await?;
        c.lock().acquire().await?;
        c.notify(1)?;
        c.lock().release()?;
        waiter.await
    });
    assert_eq!(r.unwrap(), Ok(true));
}

#[test]
fn as_completed_times_out() {
    let l = lp();
    let r = l.run_until_complete(async {
        let l = coio::current_loop();
        let mut out = vec![];
        for c in coio::as_completed(vec![l.sleep(1.0), l.sleep(9.0)], Some(2.0)) {
            out.push(c.await);
        }
        out
    });
    assert_eq!(r.unwrap(), vec![Ok(()), Err(Error::TimedOut)]);
}

#[test]
fn a_stopped_loop_and_run_forever() {
    let l = lp();
    let lr = l.handle();
    l.call_later(3.0, move || lr.stop().unwrap()).unwrap();
    l.run_forever().unwrap();
    assert_eq!(l.time(), 3.0);
    let f = l.create_future::<u8>().unwrap();
    let lr = l.handle();
    l.call_soon(move || lr.stop().unwrap()).unwrap();
    assert_eq!(l.run_until_done(&f), Err(Error::State));
}

#[test]
fn small_values_travel_inline_and_move_out_once() {
    let l = lp();
    let f = l.create_future::<u32>().unwrap();
    f.set_result(0).unwrap();
    assert_eq!(f.result(), Ok(0));
    assert_eq!(f.take(), Ok(0));
    assert_eq!(f.take(), Err(Error::State));
    assert_eq!(f.result(), Err(Error::State));
    let q = coio::Queue::<(bool, char)>::new(&l, 0).unwrap();
    q.put_nowait((true, 'z')).unwrap();
    q.put_nowait((false, '\0')).unwrap();
    assert_eq!(q.get_nowait(), Ok((true, 'z')));
    assert_eq!(l.run_until_complete(q.get()).unwrap(), Ok((false, '\0')));
    let big = l.create_future::<[u64; 4]>().unwrap();
    big.set_result([1, 2, 3, 4]).unwrap();
    assert_eq!(big.result(), Ok([1, 2, 3, 4]));
    let unit = l.spawn(async {}).unwrap();
    l.run_until_done(&unit).unwrap();
    assert_eq!(unit.take(), Ok(()));
    assert_eq!(unit.take(), Err(Error::State));
}

#[test]
fn futures_unordered_over_coio_futures() {
    use futures::stream::{FuturesUnordered, StreamExt};
    let l = lp();
    let r = l.run_until_complete(async {
        let lr = coio::current_loop();
        let mut set: FuturesUnordered<_> = [3.0, 1.0, 2.0]
            .into_iter()
            .map(|d| {
                let s = lr.sleep(d);
                async move { s.await.map(|_| d) }
            })
            .collect();
        let mut order = vec![];
        while let Some(d) = set.next().await {
            order.push(d.unwrap());
        }
        order
    });
    assert_eq!(r.unwrap(), vec![1.0, 2.0, 3.0]);
}

#[test]
fn cancelling_a_task_that_waits_on_no_coio_future_drops_its_body() {
    let l = lp();
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    let (_tx, rx) = futures::channel::oneshot::channel::<u32>();
    let r = l.run_until_complete(async move {
        let t = coio::spawn(async move {
            let _guard = Tracked(d);
            rx.await.ok()
        });
        coio::sleep(1.0).await.unwrap();
        t.cancel(Some("stop")).unwrap();
        t.await
    });
    assert_eq!(r.unwrap(), Err(Error::Cancelled(Some("stop".into()))));
    assert_eq!(drops.get(), 1);
}

#[test]
fn cancel_messages_of_the_cancel_delivered_and_of_the_body() {
    let l = lp();
    let r = l.run_until_complete(async {
        // Cancelled while not waiting on a future: the cancel() message is delivered.
        let seen = Rc::new(RefCell::new(None));
        let s = seen.clone();
        let t = coio::spawn_try(async move {
            let r = coio::sleep(0.0).await; // the cancel lands while this is done already
            *s.borrow_mut() = Some(r.clone());
            r
        });
        coio::sleep(0.0).await.unwrap();
        t.cancel(Some("first")).unwrap();
        let a = t.await;
        // A body that ends cancelled with a message of its own.
        let u = coio::spawn_try(async {
            match coio::sleep(5.0).await {
                Err(Error::Cancelled(_)) => Err::<(), _>(Error::Cancelled(Some("mine".into()))),
                r => r,
            }
        });
        coio::sleep(1.0).await.unwrap();
        u.cancel(Some("theirs")).unwrap();
        let b = u.await;
        let s = seen.borrow().clone();
        (a, s, b)
    });
    let (a, s, b) = r.unwrap();
    assert_eq!(a, Err(Error::Cancelled(Some("first".into()))));
    assert_eq!(s, Some(Err(Error::Cancelled(Some("first".into())))));
    assert_eq!(b, Err(Error::Cancelled(Some("mine".into()))));
}
