// 02_return_value: the tutorial's 02_return_value.py in Go.
package main

import (
	"fmt"

	"coio.invalid/coio"
)

func foo(t *coio.Task) (string, error) {
	fmt.Println("这是一个协程")
	return "返回值", nil
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
	result, _ := coio.RunUntilComplete(loop, coro)
	fmt.Printf("run_until_complete可以获取协程的%s，默认输出None\n", result)
}
