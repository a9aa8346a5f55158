//! Tutorial 14: two stages gathered; each prints the time elapsed (loop time: virtual).
fn time() -> f64 {
    coio::current_loop().time()
}

async fn step1(n: u32, start: f64) -> coio::Result<u32> {
    coio::sleep(f64::from(n)).await?;
    println!("第一阶段完成");
    println!("此时用时 {:.1}", time() - start);
    Ok(n)
}

async fn step2(n: u32, start: f64) -> coio::Result<u32> {
    coio::sleep(f64::from(n)).await?;
    println!("第二阶段完成");
    println!("此时用时 {:.1}", time() - start);
    Ok(n)
}

async fn main_coro() -> coio::Result<()> {
    let now = time();
    let result = coio::gather([
        coio::spawn_try(step1(5, now)),
        coio::spawn_try(step2(2, now)),
    ])
    .await?;
    for i in result {
        println!("{i}");
    }
    println!("总用时 {:.1}", time() - now);
    Ok(())
}

fn main() {
    let lp = coio::Loop::new_virtual().expect("loop");
    let r = lp.run_until_complete(main_coro());
    lp.close().expect("close");
    r.expect("run").expect("main");
}
