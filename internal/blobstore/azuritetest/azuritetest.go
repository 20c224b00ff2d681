// Package azuritetest starts Azurite, Microsoft's Azure Storage emulator, on
// a loopback port for tests of azblob:// buckets. Azurite comes from npm
// (.ci/run installs it); without it the test fails under CI and is skipped,
// saying why, elsewhere.
package azuritetest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
)

// The emulator's well-known development account.
const (
	Account = "devstoreaccount1"
	Key     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// Binary finds azurite-blob: $VCCINGEST_AZURITE, then $PATH, then the
// directory .ci/run installs it into.
func Binary() (string, error) {
	if p := os.Getenv("VCCINGEST_AZURITE"); p != "" {
		return p, nil
	}
	if p, err := exec.LookPath("azurite-blob"); err == nil {
		return p, nil
	}
	home, _ := os.UserHomeDir()
	p := filepath.Join(home, ".cache", "vccingest", "azurite", "node_modules", ".bin", "azurite-blob")
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("azurite-blob not found: run .ci/run, or npm install azurite and set VCCINGEST_AZURITE")
}

// Start runs Azurite for the test, creates container, points the Azure
// environment variables at it and returns the azblob:// URL of the container.
func Start(t testing.TB, container string) string {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(bin, "--blobHost", "127.0.0.1", "--blobPort", fmt.Sprint(port),
		"--location", t.TempDir(), "--skipApiVersionCheck", "--silent", "--loose")
	if err := cmd.Start(); err != nil {
		t.Fatalf("start azurite: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("azurite did not listen on %s", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cred, err := azblob.NewSharedKeyCredential(Account, Key)
	if err != nil {
		t.Fatal(err)
	}
	client, err := azblob.NewClientWithSharedKeyCredential("http://"+addr+"/"+Account, cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.CreateContainer(context.Background(), container, nil); err != nil {
		t.Fatalf("create container: %v", err)
	}
	for k, v := range map[string]string{"AZURE_STORAGE_ACCOUNT": Account, "AZURE_STORAGE_KEY": Key} {
		t.Setenv(k, v)
	}
	return "azblob://" + container + "?protocol=http&domain=" + addr
}
