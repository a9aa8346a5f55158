//! Tutorial 05: call_later runs callbacks in deadline order.
fn callback(n: i32) {
    println!("callback {n} invoked");
}

async fn main_coro(lp: coio::LoopRef) -> coio::Result<()> {
    println!("注册callbacks");
    lp.call_later(0.2, || callback(1))?;
    lp.call_later(0.1, || callback(2))?;
    lp.call_soon(|| callback(3))?;
    coio::sleep(0.4).await
}

fn main() {
    let lp = coio::Loop::new_virtual().expect("loop");
    let r = lp.run_until_complete(main_coro(lp.handle()));
    lp.close().expect("close");
    r.expect("run").expect("main");
}
