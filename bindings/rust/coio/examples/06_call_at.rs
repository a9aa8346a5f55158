//! Tutorial 06: call_at with times relative to the loop's clock.
use std::cell::Cell;

thread_local! {
    static START: Cell<f64> = const { Cell::new(0.0) };
}

fn call_back(n: i32, lp: &coio::LoopRef) {
    println!(
        "callback {n} 运行时间点+{:.1}",
        lp.time() - START.with(Cell::get)
    );
}

async fn main_coro(lp: coio::LoopRef) -> coio::Result<()> {
    let now = lp.time();
    START.with(|s| s.set(now));
    println!("当前的内部时间 +0.0");
    println!("循环时间 +0.0");
    println!("注册callback");
    let l = lp.clone();
    lp.call_at(now + 0.1, move || call_back(1, &l))?;
    let l = lp.clone();
    lp.call_at(now + 0.2, move || call_back(2, &l))?;
    let l = lp.clone();
    lp.call_soon(move || call_back(3, &l))?;
    coio::sleep(1.0).await
}

fn main() {
    let lp = coio::Loop::new_virtual().expect("loop");
    println!("进入事件循环");
    let r = lp.run_until_complete(main_coro(lp.handle()));
    println!("关闭循环");
    lp.close().expect("close");
    r.expect("run").expect("main");
}
