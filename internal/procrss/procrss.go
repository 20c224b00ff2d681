// Package procrss measures the peak resident memory of a child process,
// for the tests and benchmarks that hold vccingest to its memory goals.
//
// The rusage of a finished child is no good for this: Go starts children
// with vfork, and Linux counts the parent's memory, shared until exec, in
// the child's ru_maxrss (a sync that did nothing showed the test process's
// 209 MiB). So the child's own high-water mark is read while it runs: the
// VmHWM line of /proc/<pid>/status (Linux only; elsewhere Watch reports 0).
package procrss

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Watch follows the peak resident memory of the running process pid,
// reading its VmHWM every 10 ms until stop, which returns the highest
// seen, in bytes. Call stop once the process has exited (after Wait).
func Watch(pid int) (stop func() int64) {
	done := make(chan struct{})
	peak := make(chan int64, 1)
	go func() {
		var hi int64
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			hi = max(hi, HWM(pid))
			select {
			case <-done:
				peak <- hi
				return
			case <-tick.C:
			}
		}
	}()
	return func() int64 {
		close(done)
		return <-peak
	}
}

// HWM is the peak resident memory of pid so far, in bytes (0 once it has
// exited, or where /proc has no such line).
func HWM(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
