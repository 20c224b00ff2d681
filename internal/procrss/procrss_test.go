package procrss

import (
	"os"
	"os/exec"
	"runtime"
	"testing"
)

// A child that touches 64 MiB peaks above it and a child that does nothing
// far below: each is measured on its own, not with this process's memory.
func TestWatch_MeasuresTheChildAlone(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("VmHWM is Linux's")
	}
	ballast := make([]byte, 256<<20) // this process's memory, which rusage would count
	for i := range ballast {
		ballast[i] = 1
	}
	for _, tc := range []struct {
		name     string
		script   string
		min, max int64
	}{
		{"idle", "sleep 0.3", 0, 32 << 20},
		{"64 MiB", "x=$(head -c 67108864 /dev/zero | tr '\\0' a); sleep 0.1", 64 << 20, 512 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command("sh", "-c", tc.script)
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			stop := Watch(cmd.Process.Pid)
			if err := cmd.Wait(); err != nil {
				t.Fatal(err)
			}
			peak := stop()
			t.Logf("peak %d MiB", peak>>20)
			if peak < tc.min || peak > tc.max {
				t.Errorf("peak %d MiB; want %d to %d MiB", peak>>20, tc.min>>20, tc.max>>20)
			}
		})
	}
	runtime.KeepAlive(ballast)
}
