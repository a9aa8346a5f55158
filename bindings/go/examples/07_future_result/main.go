// 07_future_result: the tutorial's 07_future_result.py in Go. coio's repr of a future has no
// file and line to strip.
package main

import (
	"fmt"

	"coio.invalid/coio"
)

func shown(future *coio.Future[string]) string {
	return future.String()
}

func foo(future *coio.Future[string], result string) {
	fmt.Printf("此时future的状态:%s\n", shown(future))
	fmt.Printf("设置future的结果:%s\n", result)
	future.SetResult(result)
	fmt.Printf("此时future的状态:%s\n", shown(future))
}

func main() {
	loop := coio.MustNewLoop(coio.VirtualTime())
	allDone, _ := coio.NewFuture[string](loop)
	func() {
		defer func() {
			fmt.Println("关闭事件循环")
			loop.Close()
		}()
		loop.CallSoon(func() { foo(allDone, "Future is done!") })
		fmt.Println("进入事件循环")
		result, _ := coio.RunUntilComplete(loop, allDone)
		fmt.Println("返回结果", result)
	}()
	result, _ := allDone.Result()
	fmt.Println("获取future的结果", result)
}
