// 03_coroutine_chain: the tutorial's 03_coroutine_chain.py in Go. A coroutine awaited directly
// (await result1()) is a plain call: the body of a task may call functions that await.
package main

import (
	"fmt"

	"coio.invalid/coio"
)

func main_(t *coio.Task) ([2]string, error) {
	fmt.Println("主协程")
	fmt.Println("等待result1协程运行")
	res1, _ := result1(t)
	fmt.Println("等待result2协程运行")
	res2, _ := result2(t, res1)
	return [2]string{res1, res2}, nil
}

func result1(t *coio.Task) (string, error) {
	fmt.Println("这是result1协程")
	return "result1", nil
}

func result2(t *coio.Task, arg string) (string, error) {
	fmt.Println("这是result2协程")
	return fmt.Sprintf("result2接收了一个参数,%s", arg), nil
}

func main() {
	loop := coio.MustNewLoop(coio.VirtualTime())
	defer func() {
		fmt.Println("关闭事件循环")
		loop.Close()
	}()
	task, _ := coio.Spawn(loop, nil, main_)
	result, _ := coio.RunUntilComplete(loop, task)
	fmt.Printf("获取返回值:%s\n", coio.Repr(result))
}
