// Go (GOMAXPROCS=1) running coio's task workloads (bench/peers/README.md).
//
//	coio-peer-go [N] [--spawn-n M] [workload...]
//
// Prints the same `name ops=... secs=... ns/op=...` lines as coio_bench, floor_libev and
// reference_asyncio.py (plus ` bytes/op=...` for task_spawn_gather, and `  ! K timers fired
// out of deadline order` when that happens).  The runtime is held to one P (GOMAXPROCS=1), as
// every other contender runs its loop on one thread.
package main

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

var n int64 = 1_000_000

func report(name string, ops int64, secs float64, extra string) {
	fmt.Printf("%-24s ops=%9d secs=%8.4f ns/op=%9.1f%s\n", name, ops, secs, secs*1e9/float64(ops), extra)
}

// xorshift64*: the same deterministic stream on every run; a float64 in [0, 1).
type rng uint64

func (r *rng) next() float64 {
	x := uint64(*r)
	x ^= x >> 12
	x ^= x << 25
	x ^= x >> 27
	*r = rng(x)
	return float64((x*0x2545f4914f6cdd1d)>>11) / float64(uint64(1)<<53)
}

// task_yield_sleep0: one goroutine does N x runtime.Gosched() (asyncio's `await sleep(0)`).
func taskYield() float64 {
	t0 := time.Now()
	done := make(chan struct{})
	go func() {
		for i := int64(0); i < n; i++ {
			runtime.Gosched()
		}
		close(done)
	}()
	<-done
	return time.Since(t0).Seconds()
}

// queue_ping_pong: two channels a, b (capacity 1: a send never blocks here, as put_nowait);
// the main goroutine N x (a <- i, <-b), a ponger N x (<-a, b <- item); then the main
// goroutine waits for the ponger.
func pingPong() float64 {
	t0 := time.Now()
	a, b := make(chan int64, 1), make(chan int64, 1)
	ponged := make(chan struct{})
	go func() {
		for i := int64(0); i < n; i++ {
			b <- <-a
		}
		close(ponged)
	}()
	for i := int64(0); i < n; i++ {
		a <- i
		if v := <-b; v != i {
			panic("queue_ping_pong: items out of order")
		}
	}
	<-ponged
	return time.Since(t0).Seconds()
}

// timers_fire_ordered: N time.AfterFunc timers, deadlines in the last second (already due);
// counts the callbacks that run with an earlier deadline than the one before.
func timersFire() (float64, int64) {
	var r rng = 0x9e3779b97f4a7c15
	offs := make([]float64, n)
	for i := range offs {
		offs[i] = r.next()
	}
	var cnt, bad int64
	last := math.Inf(-1)
	done := make(chan struct{})
	base := time.Now()
	t0 := time.Now()
	for i := range offs {
		key := -offs[i]
		at := base.Add(-time.Duration(offs[i] * 1e9))
		time.AfterFunc(time.Until(at), func() {
			if key < last {
				bad++
			}
			last = key
			cnt++
			if cnt == n {
				close(done)
			}
		})
	}
	<-done
	return time.Since(t0).Seconds(), bad
}

// timers_schedule_cancel: N time.AfterFunc timers 10-11 s ahead, Stop each, one scheduler pass.
func timersCancel() float64 {
	var r rng = 0x2545f4914f6cdd1d
	ts := make([]*time.Timer, n)
	t0 := time.Now()
	for i := range ts {
		ts[i] = time.AfterFunc(time.Duration((10+r.next())*1e9), func() { panic("a timer fired") })
	}
	for _, t := range ts {
		t.Stop()
	}
	runtime.Gosched()
	return time.Since(t0).Seconds()
}

func peakRSS() (int64, bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			v, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(l[6:]), "kB")), 10, 64)
			return v * 1024, err == nil
		}
	}
	return 0, false
}

// task_spawn_gather: M goroutines that each yield once (Gosched) and store i; a WaitGroup
// gathers them; every result checked.  bytes/op = peak resident-set growth per goroutine.
func spawnGather(m int64) (float64, string) {
	reset := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
	p0, ok0 := peakRSS()
	t0 := time.Now()
	res := make([]int64, m)
	var wg sync.WaitGroup
	wg.Add(int(m))
	for i := int64(0); i < m; i++ {
		go func(i int64) {
			runtime.Gosched()
			res[i] = i
			wg.Done()
		}(i)
	}
	wg.Wait()
	secs := time.Since(t0).Seconds()
	for i, v := range res {
		if v != int64(i) {
			panic("task_spawn_gather: wrong result")
		}
	}
	p1, ok1 := peakRSS()
	if !reset || !ok0 || !ok1 {
		return secs, ""
	}
	return secs, fmt.Sprintf(" bytes/op=%.0f", float64(p1-p0)/float64(m))
}

var workloads = []string{"timers_fire_ordered", "timers_schedule_cancel", "task_yield_sleep0",
	"queue_ping_pong", "task_spawn_gather"}

func main() {
	runtime.GOMAXPROCS(1)
	args := os.Args[1:]
	if len(args) > 0 && args[0] != "" && args[0][0] >= '0' && args[0][0] <= '9' {
		v, err := strconv.ParseInt(args[0], 10, 64)
		if err != nil || v <= 0 {
			fmt.Fprintln(os.Stderr, "coio-peer-go: bad N")
			os.Exit(2)
		}
		n = v
		args = args[1:]
	}
	var spawnN int64
	only := map[string]bool{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--spawn-n" && i+1 < len(args) {
			v, err := strconv.ParseInt(args[i+1], 10, 64)
			if err != nil || v <= 0 {
				fmt.Fprintln(os.Stderr, "coio-peer-go: bad --spawn-n")
				os.Exit(2)
			}
			spawnN = v
			i++
			continue
		}
		known := false
		for _, w := range workloads {
			known = known || w == a
		}
		if !known {
			fmt.Fprintf(os.Stderr, "coio-peer-go: unknown workload '%s'; known: %s\n", a, strings.Join(workloads, " "))
			os.Exit(2)
		}
		only[a] = true
	}
	if spawnN == 0 {
		spawnN = min(n, 100_000)
	}
	fmt.Printf("# go %s GOMAXPROCS=1\n", runtime.Version())
	for _, w := range workloads {
		if len(only) > 0 && !only[w] {
			continue
		}
		switch w {
		case "timers_fire_ordered":
			secs, bad := timersFire()
			report(w, n, secs, "")
			if bad > 0 {
				fmt.Printf("  ! %d timers fired out of deadline order\n", bad)
			}
		case "timers_schedule_cancel":
			report(w, n, timersCancel(), "")
		case "task_yield_sleep0":
			report(w, n, taskYield(), "")
		case "queue_ping_pong":
			report(w, n, pingPong(), "")
		case "task_spawn_gather":
			secs, extra := spawnGather(spawnN)
			report(w, spawnN, secs, extra)
		}
	}
}
