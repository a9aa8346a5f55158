//! Tutorial 04: call_soon with plain functions (and a partial).
fn callback(args: i32, kwargs: &str) {
    println!("普通函数做为回调函数,获取参数:{args},{kwargs}");
}

async fn main_coro(lp: coio::LoopRef) -> coio::Result<()> {
    println!("注册callback");
    lp.call_soon(|| callback(1, "defalut"))?;
    let wrapped = |args| callback(args, "not defalut");
    lp.call_soon(move || wrapped(2))?;
    coio::sleep(0.2).await
}

fn main() {
    let lp = coio::Loop::new_virtual().expect("loop");
    let r = lp.run_until_complete(main_coro(lp.handle()));
    lp.close().expect("close");
    r.expect("run").expect("main");
}
