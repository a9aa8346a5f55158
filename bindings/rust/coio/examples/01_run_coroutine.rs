//! Tutorial 01: run a coroutine until it completes.
async fn foo() {
    println!("这是一个协程");
}

fn main() {
    let lp = coio::Loop::new_virtual().expect("loop");
    // try: ... finally: close
    let run = || {
        println!("开始运行协程");
        let coro = foo();
        println!("进入事件循环");
        lp.run_until_complete(coro)
    };
    let r = run();
    println!("关闭事件循环");
    lp.close().expect("close");
    r.expect("run");
}
