//! Tutorial 12: wait with a timeout, then cancel what is still pending.
async fn num(n: u32) -> coio::Result<u32> {
    match coio::sleep(f64::from(n) * 0.1).await {
        Ok(()) => Ok(n),
        Err(e) => {
            if e.is_cancelled() {
                println!("数字{n}被取消");
            }
            Err(e)
        }
    }
}

async fn main_coro() -> coio::Result<()> {
    let tasks: Vec<_> = (0..10).map(|i| coio::spawn_try(num(i))).collect();
    let r = coio::wait(tasks.clone(), Some(0.45), coio::ReturnWhen::AllCompleted).await?;
    let index = |f: &coio::Future<u32>| tasks.iter().position(|t| t.same(f));
    let mut complete = r.done;
    complete.sort_by_key(index);
    for i in &complete {
        println!("当前数字 {}", i.result()?);
    }
    if !r.pending.is_empty() {
        println!("取消未完成的任务");
        let mut pending = r.pending;
        pending.sort_by_key(index);
        for p in &pending {
            p.cancel(None)?;
        }
    }
    Ok(())
}

fn main() {
    let lp = coio::Loop::new_virtual().expect("loop");
    let r = lp.run_until_complete(main_coro());
    lp.close().expect("close");
    r.expect("run").expect("main");
}
