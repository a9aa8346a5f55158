//! Tutorial 11: awaiting a task gives its result.
async fn child() -> &'static str {
    println!("进入子协程");
    "the result"
}

async fn main_coro(lp: coio::LoopRef) -> coio::Result<()> {
    println!("将协程child包装成任务");
    let task = lp.spawn(child())?;
    match task.clone().await {
        Err(coio::Error::Cancelled(_)) => println!("取消任务抛出CancelledError异常"),
        Err(e) => return Err(e),
        Ok(r) => println!("获取任务的结果 {r}"),
    }
    Ok(())
}

fn main() {
    let lp = coio::Loop::new_virtual().expect("loop");
    let r = lp.run_until_complete(main_coro(lp.handle()));
    lp.close().expect("close");
    r.expect("run").expect("main");
}
