//! Tutorial 08: a coroutine awaits a future that a callback completes.
fn foo(future: &coio::Future<String>, result: &str) {
    println!("设置结果到future {result}");
    future.set_result(result.to_string()).expect("set_result");
}

async fn main_coro(lp: coio::LoopRef) -> coio::Result<()> {
    let all_done = lp.create_future::<String>()?;
    println!("调用函数获取future对象");
    let f = all_done.clone();
    lp.call_soon(move || foo(&f, "the result"))?;
    let result = all_done.await?;
    println!("获取future里的结果 {result}");
    Ok(())
}

fn main() {
    let lp = coio::Loop::new_virtual().expect("loop");
    let r = lp.run_until_complete(main_coro(lp.handle()));
    lp.close().expect("close");
    r.expect("run").expect("main");
}
