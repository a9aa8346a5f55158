//! Tutorial 03: a coroutine awaits two others in turn.
async fn main_coro() -> (String, String) {
    println!("主协程");
    println!("等待result1协程运行");
    let res1 = result1().await;
    println!("等待result2协程运行");
    let res2 = result2(&res1).await;
    (res1, res2)
}

async fn result1() -> String {
    println!("这是result1协程");
    "result1".to_string()
}

async fn result2(arg: &str) -> String {
    println!("这是result2协程");
    format!("result2接收了一个参数,{arg}")
}

fn main() {
    let lp = coio::Loop::new_virtual().expect("loop");
    let r = lp.run_until_complete(main_coro()).map(|(a, b)| {
        println!("获取返回值:('{a}', '{b}')");
    });
    println!("关闭事件循环");
    lp.close().expect("close");
    r.expect("run");
}
