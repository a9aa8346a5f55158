//! Tutorial 09: done callbacks run in registration order once the result is set.
fn callback(future: &coio::Future<String>, n: i32) {
    println!("{n}: future done: {}", future.result().expect("result"));
}

async fn register_callbacks(all_done: &coio::Future<String>) -> coio::Result<()> {
    println!("注册callback到future对象");
    all_done.add_done_callback(|f| callback(f, 1))?;
    all_done.add_done_callback(|f| callback(f, 2))?;
    Ok(())
}

async fn main_coro(all_done: coio::Future<String>) -> coio::Result<()> {
    register_callbacks(&all_done).await?;
    println!("设置future的结果");
    all_done.set_result("the result".to_string())
}

fn main() {
    let lp = coio::Loop::new_virtual().expect("loop");
    let r = lp
        .create_future::<String>()
        .and_then(|all_done| lp.run_until_complete(main_coro(all_done)));
    lp.close().expect("close");
    r.expect("run").expect("main");
}
