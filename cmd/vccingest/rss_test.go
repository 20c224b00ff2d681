package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// watchRSS follows the peak resident memory of the running process pid:
// the VmHWM line of its /proc status, read every 10 ms until stop, which
// returns the highest seen, in bytes. The rusage of a finished child is no
// good for this: Go starts children with vfork, and Linux counts the
// parent's memory, shared until exec, in the child's ru_maxrss (a sync
// that did nothing showed the test process's 209 MiB).
func watchRSS(pid int) (stop func() int64) {
	done := make(chan struct{})
	peak := make(chan int64, 1)
	go func() {
		var hi int64
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			hi = max(hi, vmHWM(pid))
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

// vmHWM is the peak resident memory of pid so far, in bytes (0 once it
// has exited).
func vmHWM(pid int) int64 {
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

// runWatchingRSS runs cmd as CombinedOutput does and returns its peak RSS
// too (watchRSS).
func runWatchingRSS(cmd *exec.Cmd) ([]byte, int64, error) {
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return nil, 0, err
	}
	stop := watchRSS(cmd.Process.Pid)
	err := cmd.Wait()
	return out.Bytes(), stop(), err
}
