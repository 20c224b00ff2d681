package secret

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
)

// AzureKeyVault configures azkv:// references.
type AzureKeyVault struct {
	// Credential authenticates to Key Vault; nil means
	// azidentity.DefaultAzureCredential (managed identity, workload identity,
	// environment, Azure CLI).
	Credential azcore.TokenCredential
	// VaultURL replaces https://<vault-name>.vault.azure.net: sovereign
	// clouds, private endpoints and tests. Env VCCINGEST_AZKV_URL sets it
	// for the CLI.
	VaultURL string
	// ClientOptions are passed to the azsecrets client (tests set a
	// transport that trusts their certificate).
	ClientOptions *azsecrets.ClientOptions
}

// azkvRef is a parsed azkv://<vault>/<secret>[/<version>] reference.
type azkvRef struct{ vault, name, version string }

func parseAzkv(ref string) (azkvRef, error) {
	u, err := url.Parse(ref)
	if err != nil || u.Scheme != "azkv" || u.Host == "" {
		return azkvRef{}, fmt.Errorf("%w %q: use azkv://<vault-name>/<secret-name>[/<version>]", ErrBadReference, Describe(ref))
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) < 1 || len(parts) > 2 || parts[0] == "" || u.RawQuery != "" {
		return azkvRef{}, fmt.Errorf("%w %q: use azkv://<vault-name>/<secret-name>[/<version>]", ErrBadReference, Describe(ref))
	}
	r := azkvRef{vault: u.Host, name: parts[0]}
	if len(parts) == 2 {
		r.version = parts[1]
	}
	return r, nil
}

// resolveAzkv reads a secret from Azure Key Vault.
func (r Resolver) resolveAzkv(ctx context.Context, ref string) (Value, error) {
	kv, err := parseAzkv(ref)
	if err != nil {
		return Value{}, err
	}
	cfg := r.AzureKeyVault
	vaultURL := cfg.VaultURL
	if vaultURL == "" {
		if v, ok := r.lookupEnv("VCCINGEST_AZKV_URL"); ok && v != "" {
			vaultURL = v
		} else {
			vaultURL = "https://" + kv.vault + ".vault.azure.net"
		}
	}
	where := fmt.Sprintf("secret %q in Azure Key Vault %q", kv.name, kv.vault)
	cred := cfg.Credential
	if cred == nil {
		cred, err = azidentity.NewDefaultAzureCredential(nil)
		if err != nil {
			return Value{}, fmt.Errorf("%s: no Azure credential: %w", where, err)
		}
	}
	client, err := azsecrets.NewClient(vaultURL, cred, cfg.ClientOptions)
	if err != nil {
		return Value{}, fmt.Errorf("%s: %w", where, err)
	}
	resp, err := client.GetSecret(ctx, kv.name, kv.version, nil)
	if err != nil {
		var re *azcore.ResponseError
		if errors.As(err, &re) {
			switch re.StatusCode {
			case 404:
				return Value{}, fmt.Errorf("%s (%s): not found: check the vault and secret names and the version", where, vaultURL)
			case 401, 403:
				return Value{}, fmt.Errorf("%s (%s): access denied (%s): give this identity the 'Key Vault Secrets User' role or a get-secret access policy", where, vaultURL, re.ErrorCode)
			}
			return Value{}, fmt.Errorf("%s (%s): Key Vault answered %d %s", where, vaultURL, re.StatusCode, re.ErrorCode)
		}
		return Value{}, fmt.Errorf("%s (%s): %w", where, vaultURL, err)
	}
	if resp.Value == nil || *resp.Value == "" {
		return Value{}, fmt.Errorf("%s: the secret is empty", where)
	}
	return New(*resp.Value), nil
}
