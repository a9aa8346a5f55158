//! Tutorial 02: run_until_complete gives the coroutine's return value.
async fn foo() -> String {
    println!("这是一个协程");
    "返回值".to_string()
}

fn main() {
    let lp = coio::Loop::new_virtual().expect("loop");
    // try: ... finally: close
    let run = || {
        println!("开始运行协程");
        let coro = foo();
        println!("进入事件循环");
        let result = lp.run_until_complete(coro)?;
        println!("run_until_complete可以获取协程的{result}，默认输出None");
        Ok::<_, coio::Error>(())
    };
    let r = run();
    println!("关闭事件循环");
    lp.close().expect("close");
    r.expect("run");
}
