// 06_call_at: the tutorial's 06_call_at.py in Go.
package main

import (
	"fmt"
	"time"

	"coio.invalid/coio"
)

var start float64

func callBack(n int, loop *coio.Loop) {
	fmt.Printf("callback %d 运行时间点+%.1f\n", n, loop.Time()-start)
}

func main_(loop *coio.Loop) func(t *coio.Task) (any, error) {
	return func(t *coio.Task) (any, error) {
		now := loop.Time()
		start = now
		fmt.Println("当前的内部时间", "+0.0")
		fmt.Println("循环时间", "+0.0")
		fmt.Println("注册callback")
		loop.CallAt(now+0.1, func() { callBack(1, loop) })
		loop.CallAt(now+0.2, func() { callBack(2, loop) })
		loop.CallSoon(func() { callBack(3, loop) })
		return nil, coio.Sleep(t, time.Second)
	}
}

func main() {
	loop := coio.MustNewLoop(coio.VirtualTime())
	defer func() {
		fmt.Println("关闭循环")
		loop.Close()
	}()
	fmt.Println("进入事件循环")
	task, _ := coio.Spawn(loop, nil, main_(loop))
	coio.RunUntilComplete(loop, task)
}
