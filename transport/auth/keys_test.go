package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/troupe-chat/troupe/actors"
)

func pemOf(t *testing.T, pub any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// signKid signs claims for sub with method and key, naming kid when set.
func signKid(t *testing.T, m jwt.SigningMethod, key any, kid, sub string) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, jwt.MapClaims{"sub": sub, "exp": time.Now().Add(time.Hour).Unix()})
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPublicKeysFromPEM(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	path := filepath.Join(t.TempDir(), "keys.pem")
	writeFile(t, path, pemOf(t, &rsaKey.PublicKey)+pemOf(t, &ecKey.PublicKey))
	v, err := New(Options{PublicKeyFile: path})
	if err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{
		"RS256": signKid(t, jwt.SigningMethodRS256, rsaKey, "", "rsa-user"),
		"ES256": signKid(t, jwt.SigningMethodES256, ecKey, "", "ec-user"),
	} {
		if c, err := v.Verify(tok); err != nil || !strings.HasSuffix(c.Subject, "-user") {
			t.Errorf("%s: %+v %v", name, c, err)
		}
	}
	wantInvalid(t, v, signKid(t, jwt.SigningMethodRS256, other, "", "intruder"))
	wantInvalid(t, v, signKid(t, jwt.SigningMethodHS256, secret, "", "no-hmac-configured"))
	wantInvalid(t, v, signKid(t, jwt.SigningMethodRS384, rsaKey, "", "rs384-not-allowed"))

	// Reload picks up a rotated key; a broken file keeps the keys in use.
	writeFile(t, path, pemOf(t, &other.PublicKey))
	if err := v.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(signKid(t, jwt.SigningMethodRS256, other, "", "rotated")); err != nil {
		t.Fatalf("after reload: %v", err)
	}
	wantInvalid(t, v, signKid(t, jwt.SigningMethodRS256, rsaKey, "", "old-key"))
	writeFile(t, path, "not a key")
	if err := v.Reload(); err == nil {
		t.Fatal("reloading a broken file succeeded")
	}
	if _, err := v.Verify(signKid(t, jwt.SigningMethodRS256, other, "", "kept")); err != nil {
		t.Fatalf("a failed reload dropped the keys: %v", err)
	}
}

func TestPublicKeysFromJWKS(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwks := fmt.Sprintf(`{"keys":[
		{"kty":"RSA","kid":"r1","alg":"RS256","use":"sig","n":%q,"e":%q},
		{"kty":"EC","kid":"e1","alg":"ES256","use":"sig","crv":"P-256","x":%q,"y":%q}]}`,
		b64(rsaKey.N.Bytes()), b64(big.NewInt(int64(rsaKey.E)).Bytes()),
		b64(ecKey.X.FillBytes(make([]byte, 32))), b64(ecKey.Y.FillBytes(make([]byte, 32))))
	path := filepath.Join(t.TempDir(), "jwks.json")
	writeFile(t, path, jwks)
	v, err := New(Options{PublicKeyFile: path, HMACSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{
		signKid(t, jwt.SigningMethodRS256, rsaKey, "r1", "a"),
		signKid(t, jwt.SigningMethodES256, ecKey, "e1", "b"),
		mustSign(t, actors.Claims{Subject: "c"}), // HS256 still works beside the key set
	} {
		if _, err := v.Verify(tok); err != nil {
			t.Errorf("verify: %v", err)
		}
	}
	wantInvalid(t, v, signKid(t, jwt.SigningMethodRS256, rsaKey, "unknown-kid", "d"))
	wantInvalid(t, v, signKid(t, jwt.SigningMethodES256, ecKey, "r1", "wrong-key-for-kid"))
}

func TestPublicKeyFileErrors(t *testing.T) {
	dir := t.TempDir()
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	for name, content := range map[string]string{
		"empty":     "",
		"garbage":   "hello",
		"bad json":  "{not json",
		"P-384 key": pemOf(t, &p384.PublicKey),
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
		writeFile(t, path, content)
		if _, err := New(Options{PublicKeyFile: path}); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
	if _, err := New(Options{PublicKeyFile: filepath.Join(dir, "missing.pem")}); err == nil {
		t.Error("a missing file was accepted")
	}
}
