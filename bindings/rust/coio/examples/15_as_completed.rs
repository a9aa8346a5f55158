//! Tutorial 15: as_completed gives results in completion order.
async fn foo(n: u32) -> coio::Result<u32> {
    println!("Waiting:  {n}");
    coio::sleep(f64::from(n)).await?;
    Ok(n)
}

async fn main_coro() -> coio::Result<()> {
    let coroutine1 = foo(1);
    let coroutine2 = foo(2);
    let coroutine3 = foo(4);
    let tasks = vec![
        coio::spawn_try(coroutine1),
        coio::spawn_try(coroutine2),
        coio::spawn_try(coroutine3),
    ];
    for task in coio::as_completed(tasks, None) {
        let result = task.await?;
        println!("Task ret: {result}");
    }
    Ok(())
}

fn main() {
    let lp = coio::Loop::new_virtual().expect("loop");
    let start = lp.time();
    let r = lp.run_until_complete(main_coro());
    println!("{:.1}", lp.time() - start);
    r.expect("run").expect("main");
}
