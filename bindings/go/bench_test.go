package coio

import (
	"bufio"
	"iter"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The binding's costs side by side with the C step tasks of bench/coio_bench.c (run as a
// program when the build has it: COIO_BENCH, else ../../build/bench/coio_bench) and with plain
// goroutines:
//
//	go test -run '^$' -bench . -benchtime 1x   (one run; or the default -benchtime)
//
// ns/op is per await, per task, or per round trip as each benchmark says.

// cpuTime is the process's user + system CPU time: on a shared machine it is steadier than the
// wall clock, which counts the time other processes held the CPUs.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuMetric reports the CPU time per op (ops per b.N iteration) as cpu-ns/op, from start.
func cpuMetric(b *testing.B, start time.Duration, ops int) {
	b.ReportMetric(float64((cpuTime()-start).Nanoseconds())/float64(b.N*ops), "cpu-ns/op")
}

func mustLoop(b *testing.B) *Loop {
	l, err := NewLoop()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	return l
}

func runMain(b *testing.B, l *Loop, fn func(t *Task) (int, error)) {
	task, err := Spawn(l, nil, fn)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := RunUntilComplete(l, task); err != nil {
		b.Fatal(err)
	}
}

// Go -> C: one cgo call.
func BenchmarkCgoCall(b *testing.B) {
	c0 := cpuTime()
	for range b.N {
		cgoCall()
	}
	cpuMetric(b, c0, 1)
}

// Go -> C -> Go: a cgo call that calls back into Go (what every step and callback costs).
func BenchmarkCgoCallback(b *testing.B) {
	n := 0
	h := newHandle(&callback{nil, func() { n++ }})
	defer deleteHandle(h)
	b.ResetTimer()
	c0 := cpuTime()
	for range b.N {
		cgoCallback(uintptr(h))
	}
	cpuMetric(b, c0, 1)
}

// Per await: a task suspends b.N times with a bare yield (await asyncio.sleep(0)); C:
// task_yield_step.
func BenchmarkAwaitYield(b *testing.B) {
	l := mustLoop(b)
	b.ResetTimer()
	c0 := cpuTime()
	runMain(b, l, func(t *Task) (int, error) {
		for range b.N {
			if err := Sleep(t, 0); err != nil {
				return 0, err
			}
		}
		return 0, nil
	})
	cpuMetric(b, c0, 1)
}

// Per await: a task awaits a fresh coio sleep(0) future b.N times; C: task_yield_step_sleep0.
func BenchmarkAwaitFuture(b *testing.B) {
	l := mustLoop(b)
	b.ResetTimer()
	c0 := cpuTime()
	runMain(b, l, func(t *Task) (int, error) {
		for range b.N {
			f, err := NewSleep(l, 0)
			if err != nil {
				return 0, err
			}
			if _, err := Await(t, f); err != nil {
				return 0, err
			}
			f.Release()
		}
		return 0, nil
	})
	cpuMetric(b, c0, 1)
}

var spawnN = envInt("COIO_SPAWN_N", 100_000)

// Per task: spawn 100k tasks that each await sleep(0) once and return i, gather them; C:
// task_spawn_gather_step.
func BenchmarkSpawnGather(b *testing.B) {
	l := mustLoop(b)
	var c0 time.Duration
	for i := range b.N + 1 { // the first round warms up (coroutines, handle table), untimed
		if i == 1 {
			b.ResetTimer()
		}
		runMain(b, l, func(t *Task) (int, error) {
			fs := make([]*Future[int], spawnN)
			for i := range fs {
				f, err := Spawn(l, nil, func(t *Task) (int, error) {
					if err := Sleep(t, 0); err != nil {
						return 0, err
					}
					return i, nil
				})
				if err != nil {
					return 0, err
				}
				fs[i] = f
			}
			res, err := Gather(t, fs...)
			if err != nil {
				return 0, err
			}
			if res[spawnN-1] != spawnN-1 {
				b.Fatal("wrong result")
			}
			for _, f := range fs {
				f.Release()
			}
			return 0, nil
		})
		if i == 0 {
			c0 = cpuTime()
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*spawnN), "ns/task")
	cpuMetric(b, c0, spawnN)
}

// The floor of BenchmarkSpawnGather in this binding's design, without libcoio and without
// anything the binding itself does: per task one Go -> C call (the spawn) and two steps, each
// a call from C into Go that resumes the task's coroutine until it yields, over spawnN
// coroutines (made in a first, untimed round and reused, as the loop's idle ones are).
func BenchmarkSpawnGatherFloor(b *testing.B) {
	runtime.LockOSThread() // as a loop's goroutine is: coroutines resume on their thread
	defer runtime.UnlockOSThread()
	f := newFloorCoros(spawnN)
	defer f.end()
	b.ResetTimer()
	c0 := cpuTime()
	for range b.N {
		for range spawnN {
			cgoCall()
		}
		for range 2 {
			for i := range spawnN {
				f.step(i)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*spawnN), "ns/task")
	cpuMetric(b, c0, spawnN)
}

// floorCoros are coroutines that yield for ever, each step of one a call from C into Go that
// resumes it once (a task's step without libcoio and without the binding). They are made and
// ended inside calls from C, as a loop's are, on a goroutine locked to its thread.
type floorCoros struct {
	next []func() (int, bool)
	stop []func()
	cur  int
	h    handle
}

func newFloorCoros(n int) *floorCoros {
	f := &floorCoros{next: make([]func() (int, bool), n), stop: make([]func(), n), cur: -1}
	f.h = newHandle(&callback{nil, func() {
		switch f.cur {
		case -1:
			for i := range n {
				f.next[i], f.stop[i] = iter.Pull(func(yield func(int) bool) {
					for yield(0) {
					}
				})
			}
		case -2:
			for _, stop := range f.stop {
				stop()
			}
		default:
			f.next[f.cur]()
		}
	}})
	cgoCallback(uintptr(f.h))
	return f
}

func (f *floorCoros) step(i int) {
	f.cur = i
	cgoCallback(uintptr(f.h))
}

func (f *floorCoros) end() {
	f.cur = -2
	cgoCallback(uintptr(f.h))
	deleteHandle(f.h)
}

// The same with goroutines: each yields once (runtime.Gosched) and stores i; a
// sync.WaitGroup gathers them.
func BenchmarkSpawnGatherGoroutines(b *testing.B) {
	var c0 time.Duration
	for i := range b.N + 1 { // the first round warms up, untimed
		if i == 1 {
			b.ResetTimer()
			c0 = cpuTime()
		}
		res := make([]int, spawnN)
		var wg sync.WaitGroup
		wg.Add(spawnN)
		for i := range spawnN {
			go func() {
				runtime.Gosched()
				res[i] = i
				wg.Done()
			}()
		}
		wg.Wait()
		if res[spawnN-1] != spawnN-1 {
			b.Fatal("wrong result")
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*spawnN), "ns/task")
	cpuMetric(b, c0, spawnN)
}

// Per round trip: two tasks bounce b.N items through two coio queues; C:
// queue_ping_pong_step.
func BenchmarkPingPong(b *testing.B) {
	l := mustLoop(b)
	qa, _ := NewQueue[int](l, 0)
	qb, _ := NewQueue[int](l, 0)
	b.ResetTimer()
	c0 := cpuTime()
	runMain(b, l, func(t *Task) (int, error) {
		ponger, _ := Spawn(l, nil, func(t *Task) (int, error) {
			for range b.N {
				v, err := qa.Get(t)
				if err != nil {
					return 0, err
				}
				qb.PutNowait(v)
			}
			return 0, nil
		})
		for i := range b.N {
			qa.PutNowait(i)
			v, err := qb.Get(t)
			if err != nil {
				return 0, err
			}
			if v != i {
				b.Fatal("out of order")
			}
		}
		_, err := Await(t, ponger)
		return 0, err
	})
	cpuMetric(b, c0, 1)
}

// The floor of BenchmarkPingPong in this binding's design, without libcoio and without
// anything the binding itself does: per round trip two steps, each a call from C into Go that
// resumes one of two coroutines until it yields (no queue, no cgo call from the bodies).
func BenchmarkPingPongFloor(b *testing.B) {
	runtime.LockOSThread() // as a loop's goroutine is: coroutines resume on their thread
	defer runtime.UnlockOSThread()
	f := newFloorCoros(2)
	defer f.end()
	b.ResetTimer()
	c0 := cpuTime()
	for range b.N {
		f.step(0)
		f.step(1)
	}
	cpuMetric(b, c0, 1)
}

// The same with two goroutines and two unbuffered channels.
func BenchmarkPingPongChannels(b *testing.B) {
	ca, cb := make(chan int), make(chan int)
	c0 := cpuTime()
	go func() {
		for range b.N {
			cb <- <-ca
		}
	}()
	for i := range b.N {
		ca <- i
		if <-cb != i {
			b.Fatal("out of order")
		}
	}
	cpuMetric(b, c0, 1)
}

// The C step workloads of bench/coio_bench.c, run once as one program (real time, N=200000,
// 100k tasks), each reported as its own line with the program's ns/op as c-ns/op (the ns/op
// of these lines is meaningless).
var cBench struct {
	once sync.Once
	ns   map[string]float64
	err  error
}

func BenchmarkC(b *testing.B) {
	prog := os.Getenv("COIO_BENCH")
	if prog == "" {
		prog = filepath.Join("..", "..", "build", "bench", "coio_bench")
	}
	if _, err := os.Stat(prog); err != nil {
		b.Skipf("no coio_bench program (%v): set COIO_BENCH", err)
	}
	workloads := []string{"task_yield_step", "task_yield_step_sleep0", "task_spawn_gather_step", "queue_ping_pong_step"}
	cBench.once.Do(func() {
		args := append([]string{"200000", "--spawn-n", strconv.Itoa(spawnN)}, workloads...)
		out, err := exec.Command(prog, args...).Output()
		if err != nil {
			cBench.err = err
			return
		}
		cBench.ns = map[string]float64{}
		sc := bufio.NewScanner(strings.NewReader(string(out)))
		for sc.Scan() {
			// "name ops= N secs= S ns/op= X ...": the numbers are padded after the '='.
			f := strings.Fields(strings.ReplaceAll(sc.Text(), "=", "= "))
			for i := 1; i+1 < len(f); i++ {
				if f[i] == "ns/op=" {
					cBench.ns[f[0]], _ = strconv.ParseFloat(f[i+1], 64)
				}
			}
		}
	})
	if cBench.err != nil {
		b.Fatal(cBench.err)
	}
	for _, w := range workloads {
		b.Run(w, func(b *testing.B) {
			ns, ok := cBench.ns[w]
			if !ok {
				b.Fatalf("coio_bench printed no ns/op for %s", w)
			}
			b.ReportMetric(ns, "c-ns/op")
		})
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
