// 01_run_coroutine: the tutorial's 01_run_coroutine.py in Go.
package main

import (
	"fmt"

	"coio.invalid/coio"
)

func foo(t *coio.Task) (any, error) {
	fmt.Println("这是一个协程")
	return nil, nil
}

func main() {
	loop := coio.MustNewLoop(coio.VirtualTime())
	defer func() {
		fmt.Println("关闭事件循环")
		loop.Close()
	}()
	fmt.Println("开始运行协程")
	coro, _ := coio.Spawn(loop, nil, foo)
	fmt.Println("进入事件循环")
	coio.RunUntilComplete(loop, coro)
}
