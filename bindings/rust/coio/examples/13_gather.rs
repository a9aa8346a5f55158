//! Tutorial 13: gather ten coroutines; results in argument order.
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
    let tasks = (0..10).map(num);
    let complete = coio::gather(tasks.map(coio::spawn_try)).await?;
    for i in complete {
        println!("当前数字 {i}");
    }
    Ok(())
}

fn main() {
    let lp = coio::Loop::new_virtual().expect("loop");
    let r = lp.run_until_complete(main_coro());
    lp.close().expect("close");
    r.expect("run").expect("main");
}
