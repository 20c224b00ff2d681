package secret

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
)

// ErrBadReference reports a secret reference that is not of a known form.
var ErrBadReference = errors.New("bad secret reference")

// Resolver turns secret references into values. The zero Resolver reads the
// process environment and the file system.
type Resolver struct {
	// LookupEnv replaces os.LookupEnv (tests).
	LookupEnv func(string) (string, bool)
	// AzureKeyVault configures azkv:// references.
	AzureKeyVault AzureKeyVault
}

func (r Resolver) lookupEnv(name string) (string, bool) {
	if r.LookupEnv != nil {
		return r.LookupEnv(name)
	}
	return os.LookupEnv(name)
}

// Resolve resolves ref with the zero Resolver.
func Resolve(ctx context.Context, ref string) (Value, error) {
	return Resolver{}.Resolve(ctx, ref)
}

// Resolve returns the secret that ref names:
//
//	env:NAME    the environment variable NAME
//	file:PATH   the content of PATH (one trailing newline removed); the file
//	            must not be readable by group or others
//	azkv://VAULT/NAME[/VERSION]
//	            the secret NAME (that version, or the current one) of the
//	            Azure Key Vault VAULT
//
// The error names the reference, never the secret.
func (r Resolver) Resolve(ctx context.Context, ref string) (Value, error) {
	if err := ctx.Err(); err != nil {
		return Value{}, err
	}
	scheme, rest, ok := strings.Cut(ref, ":")
	if !ok || rest == "" {
		return Value{}, fmt.Errorf("%w %q: use env:NAME, file:PATH or azkv://vault/secret (a secret itself is never accepted)", ErrBadReference, Describe(ref))
	}
	switch scheme {
	case "env":
		lookup := r.LookupEnv
		if lookup == nil {
			lookup = os.LookupEnv
		}
		v, ok := lookup(rest)
		name := envName(rest)
		if !ok {
			return Value{}, fmt.Errorf("secret env:%s: the environment variable %s is not set%s", name, name, pastedHint(rest))
		}
		if v == "" {
			return Value{}, fmt.Errorf("secret env:%s: the environment variable %s is empty", name, name)
		}
		return New(v), nil
	case "file":
		return readFile(rest)
	case "azkv":
		return r.resolveAzkv(ctx, ref)
	default:
		return Value{}, fmt.Errorf("%w %q: unknown scheme %q; use env:NAME, file:PATH or azkv://vault/secret", ErrBadReference, Describe(ref), scheme)
	}
}

func readFile(path string) (Value, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return Value{}, fmt.Errorf("secret file:%s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return Value{}, fmt.Errorf("secret file:%s: not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return Value{}, fmt.Errorf("secret file:%s: the file is readable by group or others (mode %04o); run chmod 600 %s", path, perm, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return Value{}, fmt.Errorf("secret file:%s: %w", path, err)
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if s == "" {
		return Value{}, fmt.Errorf("secret file:%s: the file is empty", path)
	}
	return New(s), nil
}

// envName is the name of an environment variable in a form safe to print:
// as it is if it looks like one (upper-case letters, digits and _, as
// VCC_SECRET), else elided, since it may be the secret itself pasted in
// place of its name (env:<secret>).
func envName(name string) string {
	if conventionalEnvName(name) {
		return name
	}
	return "…(" + fmt.Sprint(len(name)) + " characters, not shown)"
}

func conventionalEnvName(name string) bool {
	for i, c := range name {
		if !(c >= 'A' && c <= 'Z' || c == '_' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return name != "" && len(name) <= 64
}

// pastedHint is what an unset variable's error adds when its name does
// not look like one.
func pastedHint(name string) string {
	if conventionalEnvName(name) {
		return ""
	}
	return " (environment variable names are usually upper case, as VCC_SECRET: is the secret itself pasted after env:?)"
}

// Describe returns ref in a form safe to print: references keep their scheme
// and name, anything else (which may be a secret pasted by mistake) is elided.
func Describe(ref string) string {
	scheme, rest, ok := strings.Cut(ref, ":")
	switch {
	case ok && scheme == "env":
		return "env:" + envName(rest)
	case ok && (scheme == "file" || scheme == "azkv"):
		return ref
	case ref == "":
		return ""
	default:
		return "…(" + fmt.Sprint(len(ref)) + " characters, not shown)"
	}
}
