//! Tutorial 07: a callback completes a future that run_until_complete waits for.
fn shown(future: &coio::Future<String>) -> String {
    // coio's repr has no file and line to strip
    future.repr()
}

fn foo(future: &coio::Future<String>, result: &str) {
    println!("此时future的状态:{}", shown(future));
    println!("设置future的结果:{result}");
    future
        .set_result_repr(result.to_string())
        .expect("set_result");
    println!("此时future的状态:{}", shown(future));
}

fn main() {
    let lp = coio::Loop::new_virtual().expect("loop");
    let all_done = lp.create_future::<String>().expect("create_future");
    // try: ... finally: close
    let run = || {
        let f = all_done.clone();
        lp.call_soon(move || foo(&f, "Future is done!"))?;
        println!("进入事件循环");
        lp.run_until_done(&all_done)?;
        let result = all_done.result()?;
        println!("返回结果 {result}");
        Ok::<_, coio::Error>(())
    };
    let r = run();
    println!("关闭事件循环");
    lp.close().expect("close");
    r.expect("run");
    println!("获取future的结果 {}", all_done.result().expect("result"));
}
