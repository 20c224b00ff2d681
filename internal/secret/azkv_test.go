package secret_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/vccingest/vccingest/internal/secret"
)

// fakeVault speaks the Key Vault secrets REST protocol on loopback HTTPS,
// including the 401 challenge that starts the SDK's authentication.
type fakeVault struct {
	mu       sync.Mutex
	versions map[string][]string // name → values, oldest first; version i is "v<i+1>"
	authed   int                 // requests that carried the token
}

func (v *fakeVault) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer kv-test-token" {
		w.Header().Set("WWW-Authenticate", `Bearer authorization="https://login.microsoftonline.com/tenant", resource="https://vault.azure.net"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.authed++
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/") // secrets/<name>[/<version>]
	if len(parts) < 2 || parts[0] != "secrets" || r.Method != http.MethodGet {
		http.Error(w, `{"error":{"code":"BadRequest"}}`, http.StatusBadRequest)
		return
	}
	vals := v.versions[parts[1]]
	idx := len(vals) - 1
	if len(parts) == 3 && parts[2] != "" {
		if _, err := fmt.Sscanf(parts[2], "v%d", &idx); err != nil {
			idx = -1
		} else {
			idx--
		}
	}
	w.Header().Set("Content-Type", "application/json")
	if idx < 0 || idx >= len(vals) {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"error":{"code":"SecretNotFound","message":"A secret with (name/id) %s was not found in this key vault."}}`, parts[1])
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{
		"value": vals[idx], "id": fmt.Sprintf("https://%s/secrets/%s/v%d", r.Host, parts[1], idx+1),
		"attributes": map[string]any{"enabled": true},
	})
}

type testCredential struct{}

func (testCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: "kv-test-token", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func TestAzureKeyVault(t *testing.T) {
	vault := &fakeVault{versions: map[string][]string{"vcc-secret": {"first-value-111", "second-value-222"}}}
	srv := httptest.NewTLSServer(vault)
	defer srv.Close()
	r := secret.Resolver{AzureKeyVault: secret.AzureKeyVault{
		Credential: testCredential{},
		VaultURL:   srv.URL,
		ClientOptions: &azsecrets.ClientOptions{
			ClientOptions:                        azcore.ClientOptions{Transport: srv.Client(), Retry: policy.RetryOptions{MaxRetries: -1}},
			DisableChallengeResourceVerification: true,
		},
	}}
	ctx := context.Background()
	for _, tc := range []struct {
		ref, want, errHas string
	}{
		{"azkv://myvault/vcc-secret", "second-value-222", ""},
		{"azkv://myvault/vcc-secret/v1", "first-value-111", ""},
		{"azkv://myvault/missing", "", `secret "missing" in Azure Key Vault "myvault"`},
		{"azkv://myvault/vcc-secret/v9", "", "not found"},
		{"azkv://myvault", "", "azkv://<vault-name>/<secret-name>"},
		{"azkv://myvault/a/b/c", "", "azkv://<vault-name>/<secret-name>"},
	} {
		v, err := r.Resolve(ctx, tc.ref)
		switch {
		case tc.errHas == "" && (err != nil || v.Reveal() != tc.want):
			t.Errorf("%s: %v, %v", tc.ref, v.Reveal(), err)
		case tc.errHas != "" && (err == nil || !strings.Contains(err.Error(), tc.errHas)):
			t.Errorf("%s: error %v, want one containing %q", tc.ref, err, tc.errHas)
		}
		if err != nil && (strings.Contains(err.Error(), "value-111") || strings.Contains(err.Error(), "value-222") || strings.Contains(err.Error(), "kv-test-token")) {
			t.Errorf("%s: the error leaks a secret: %v", tc.ref, err)
		}
		if s := fmt.Sprintf("%v %+v %#v %s", v, v, v, v); strings.Contains(s, "value-") {
			t.Errorf("formatting leaks: %s", s)
		}
	}

	// Rotation: a new version is what the next resolution returns (nothing
	// is cached).
	vault.mu.Lock()
	vault.versions["vcc-secret"] = append(vault.versions["vcc-secret"], "third-value-333")
	vault.mu.Unlock()
	if v, err := r.Resolve(ctx, "azkv://myvault/vcc-secret"); err != nil || v.Reveal() != "third-value-333" {
		t.Errorf("after rotation: %v", err)
	}
	if vault.authed == 0 {
		t.Error("no request carried the token: the challenge flow did not run")
	}
}
