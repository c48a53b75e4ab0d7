package auth

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/troupe-chat/troupe/actors"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

func mustSign(t *testing.T, c actors.Claims) string {
	t.Helper()
	tok, err := SignHS256(secret, c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// signMap signs arbitrary claims with method and key.
func signMap(t *testing.T, m jwt.SigningMethod, key any, c jwt.MapClaims) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(m, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func wantInvalid(t *testing.T, v *JWTVerifier, tok string) error {
	t.Helper()
	c, err := v.Verify(tok)
	if err == nil {
		t.Fatalf("Verify accepted %q: %+v", tok, c)
	}
	if !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("error %v does not wrap ErrInvalidToken", err)
	}
	return err
}

func TestVerifyValid(t *testing.T) {
	v := NewHS256(secret, 5*time.Second)
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	want := actors.Claims{Subject: "alice-42", Name: "Alice", Expires: exp, Rooms: []string{"ops", "vip"}}
	got, err := v.Verify(mustSign(t, want))
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != want.Subject || got.Name != want.Name || !got.Expires.Equal(exp) || !reflect.DeepEqual(got.Rooms, want.Rooms) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func TestVerifyMinimal(t *testing.T) {
	v := NewHS256(secret, 0)
	got, err := v.Verify(mustSign(t, actors.Claims{Subject: "bob"}))
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != "bob" || got.Name != "" || !got.Expires.IsZero() || got.Rooms != nil {
		t.Fatalf("got %+v", got)
	}
}

func TestVerifyRoomsClaim(t *testing.T) {
	v := NewHS256(secret, 0)
	tok := signMap(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "u", "rooms": []string{"a", "b:c"}})
	got, err := v.Verify(tok)
	if err != nil || !reflect.DeepEqual(got.Rooms, []string{"a", "b:c"}) {
		t.Fatalf("got %+v, %v", got, err)
	}
	// rooms of the wrong shape, name of the wrong type
	wantInvalid(t, v, signMap(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "u", "rooms": "a"}))
	wantInvalid(t, v, signMap(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "u", "rooms": []any{"a", 1}}))
	wantInvalid(t, v, signMap(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "u", "name": 5}))
}

func TestVerifyWrongSignature(t *testing.T) {
	v := NewHS256(secret, 0)
	other, err := SignHS256([]byte("another secret, 32 bytes long..."), actors.Claims{Subject: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if err := wantInvalid(t, v, other); !errors.Is(err, jwt.ErrTokenSignatureInvalid) {
		t.Fatalf("err = %v, want signature invalid", err)
	}
	// tampered payload
	tok := mustSign(t, actors.Claims{Subject: "alice"})
	parts := strings.Split(tok, ".")
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"admin"}`))
	wantInvalid(t, v, strings.Join(parts, "."))
}

func TestVerifyAlgorithms(t *testing.T) {
	v := NewHS256(secret, 0)
	// alg none
	none := signMap(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jwt.MapClaims{"sub": "alice"})
	wantInvalid(t, v, none)
	// alg none crafted by hand, with and without a signature
	hdr := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	body := base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"alice"}`))
	wantInvalid(t, v, hdr+"."+body+".")
	wantInvalid(t, v, hdr+"."+body+".c2ln")
	// a real RS256 token
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	if err := wantInvalid(t, v, signMap(t, jwt.SigningMethodRS256, key, jwt.MapClaims{"sub": "alice"})); !errors.Is(err, jwt.ErrTokenSignatureInvalid) {
		t.Fatalf("err = %v", err)
	}
	// an RS256 header over an HMAC signature (key confusion)
	rsHdr := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`))
	sig, err := jwt.SigningMethodHS256.Sign(rsHdr+"."+body, secret)
	if err != nil {
		t.Fatal(err)
	}
	wantInvalid(t, v, rsHdr+"."+body+"."+base64.RawURLEncoding.EncodeToString(sig))
	// other HMAC sizes are not configured
	wantInvalid(t, v, signMap(t, jwt.SigningMethodHS512, secret, jwt.MapClaims{"sub": "alice"}))
	wantInvalid(t, v, signMap(t, jwt.SigningMethodHS384, secret, jwt.MapClaims{"sub": "alice"}))
}

func TestVerifyExpiry(t *testing.T) {
	now := time.Unix(1763800000, 0)
	v, err := New(Options{HMACSecret: secret, Leeway: 5 * time.Second, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		exp time.Duration
		ok  bool
	}{
		{time.Hour, true},
		{0, true},                 // expires now: within leeway
		{-4 * time.Second, true},  // expired, within leeway
		{-6 * time.Second, false}, // beyond leeway
		{-time.Hour, false},
	} {
		tok := mustSign(t, actors.Claims{Subject: "alice", Expires: now.Add(tc.exp)})
		_, err := v.Verify(tok)
		if tc.ok && err != nil {
			t.Errorf("exp %v: %v", tc.exp, err)
		}
		if !tc.ok && (!errors.Is(err, ErrInvalidToken) || !errors.Is(err, jwt.ErrTokenExpired)) {
			t.Errorf("exp %v: err = %v, want expired", tc.exp, err)
		}
	}
	// nbf in the future beyond leeway
	wantInvalid(t, v, signMap(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "a", "nbf": now.Add(time.Minute).Unix()}))

	// real clock through NewHS256
	rv := NewHS256(secret, 5*time.Second)
	if _, err := rv.Verify(mustSign(t, actors.Claims{Subject: "a", Expires: time.Now().Add(-2 * time.Second)})); err != nil {
		t.Errorf("within leeway: %v", err)
	}
	wantInvalid(t, rv, mustSign(t, actors.Claims{Subject: "a", Expires: time.Now().Add(-10 * time.Second)}))
}

func TestVerifySubject(t *testing.T) {
	v := NewHS256(secret, 0)
	wantInvalid(t, v, mustSign(t, actors.Claims{Name: "no sub"}))
	wantInvalid(t, v, signMap(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": ""}))
	wantInvalid(t, v, signMap(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": 42}))
	wantInvalid(t, v, mustSign(t, actors.Claims{Subject: strings.Repeat("x", MaxSubjectBytes+1)}))
	if _, err := v.Verify(mustSign(t, actors.Claims{Subject: strings.Repeat("x", MaxSubjectBytes)})); err != nil {
		t.Fatalf("128-byte sub: %v", err)
	}
}

func TestVerifyMalformed(t *testing.T) {
	v := NewHS256(secret, 0)
	for _, tok := range []string{"", "abc", "a.b", "a.b.c", "...", "e30.e30.", strings.Repeat("A", 4096)} {
		wantInvalid(t, v, tok)
	}
}

func TestVerifyAudienceIssuer(t *testing.T) {
	v, err := New(Options{HMACSecret: secret, Audience: "troupe", Issuer: "https://id.example"})
	if err != nil {
		t.Fatal(err)
	}
	good := jwt.MapClaims{"sub": "a", "aud": []string{"other", "troupe"}, "iss": "https://id.example"}
	if _, err := v.Verify(signMap(t, jwt.SigningMethodHS256, secret, good)); err != nil {
		t.Fatal(err)
	}
	wantInvalid(t, v, signMap(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "a", "aud": "other", "iss": "https://id.example"}))
	wantInvalid(t, v, signMap(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "a", "aud": "troupe", "iss": "evil"}))
	wantInvalid(t, v, signMap(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "a"}))
}

func TestNewErrors(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Fatal("New without a key succeeded")
	}
	if _, err := New(Options{HMACSecret: secret, Leeway: -time.Second}); err == nil {
		t.Fatal("New with a negative leeway succeeded")
	}
	// NewHS256 with an empty secret rejects everything, even a token signed with
	// an empty key.
	v := NewHS256(nil, 0)
	tok := signMap(t, jwt.SigningMethodHS256, []byte{}, jwt.MapClaims{"sub": "a"})
	wantInvalid(t, v, tok)
	if _, err := SignHS256(nil, actors.Claims{Subject: "a"}); err == nil {
		t.Fatal("SignHS256 with an empty secret succeeded")
	}
}

func TestSecretCopied(t *testing.T) {
	s := append([]byte(nil), secret...)
	v := NewHS256(s, 0)
	tok := mustSign(t, actors.Claims{Subject: "a"})
	s[0] ^= 0xff
	if _, err := v.Verify(tok); err != nil {
		t.Fatalf("verifier depends on the caller's secret slice: %v", err)
	}
}
