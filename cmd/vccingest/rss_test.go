package main

import (
	"bytes"
	"os/exec"

	"github.com/vccingest/vccingest/internal/procrss"
)

// watchRSS follows the peak resident memory of the running process pid
// (procrss.Watch: the child's own, not the test process's too).
func watchRSS(pid int) (stop func() int64) { return procrss.Watch(pid) }

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
