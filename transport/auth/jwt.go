package auth

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/troupe-chat/troupe/actors"
)

// ErrInvalidToken is wrapped by every verification failure: bad signature or
// algorithm, expired, malformed, wrong audience or issuer, bad claims. The
// library's own error (jwt.ErrTokenExpired and the like) is wrapped too.
var ErrInvalidToken = errors.New("auth: invalid token")

// MaxSubjectBytes is the longest accepted sub, the user id.
const MaxSubjectBytes = 128

// Options configure a JWTVerifier.
type Options struct {
	// HMACSecret enables HS256 with this key.
	HMACSecret []byte
	// PublicKeyFile enables RS256 and ES256 with the keys of this file: a
	// JWKS document, or one or more PEM public keys (RSA; EC P-256). Reload
	// reads it again.
	PublicKeyFile string
	// Leeway is the clock skew allowed on exp and nbf.
	Leeway time.Duration
	// Audience, when set, must appear in the token's aud.
	Audience string
	// Issuer, when set, must equal the token's iss.
	Issuer string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// JWTVerifier checks client JWTs; it implements actors.TokenVerifier and is safe
// for concurrent use.
type JWTVerifier struct {
	parser  *jwt.Parser
	hmacKey []byte
	keyFile string                     // static: the public key file, "" for none
	keys    atomic.Pointer[publicKeys] // replaced by Reload
	err     error                      // set when the verifier was built from bad options: every Verify fails
}

var _ actors.TokenVerifier = (*JWTVerifier)(nil)

// New returns a verifier for opts. It fails when no key is configured.
func New(opts Options) (*JWTVerifier, error) {
	var methods []string
	v := &JWTVerifier{}
	if len(opts.HMACSecret) > 0 {
		v.hmacKey = append([]byte(nil), opts.HMACSecret...)
		methods = append(methods, jwt.SigningMethodHS256.Alg())
	}
	if opts.PublicKeyFile != "" {
		keys, err := loadPublicKeys(opts.PublicKeyFile)
		if err != nil {
			return nil, err
		}
		v.keyFile = opts.PublicKeyFile
		v.keys.Store(keys)
		methods = append(methods, jwt.SigningMethodRS256.Alg(), jwt.SigningMethodES256.Alg())
	}
	if len(methods) == 0 {
		return nil, errors.New("auth: no token key configured (neither an HMAC secret nor a public key file)")
	}
	if opts.Leeway < 0 {
		return nil, fmt.Errorf("auth: negative leeway %v", opts.Leeway)
	}
	popts := []jwt.ParserOption{
		jwt.WithValidMethods(methods),
		jwt.WithLeeway(opts.Leeway),
	}
	if opts.Audience != "" {
		popts = append(popts, jwt.WithAudience(opts.Audience))
	}
	if opts.Issuer != "" {
		popts = append(popts, jwt.WithIssuer(opts.Issuer))
	}
	if opts.Now != nil {
		popts = append(popts, jwt.WithTimeFunc(opts.Now))
	}
	v.parser = jwt.NewParser(popts...)
	return v, nil
}

// NewHS256 returns a verifier of HS256 tokens signed with secret, enforcing exp
// with leeway. With an empty secret or a negative leeway the verifier rejects
// every token (use New to get the configuration error instead).
func NewHS256(secret []byte, leeway time.Duration) *JWTVerifier {
	v, err := New(Options{HMACSecret: secret, Leeway: leeway})
	if err != nil {
		return &JWTVerifier{err: err}
	}
	return v
}

// claims is the JSON shape of a client token's payload.
type claims struct {
	jwt.RegisteredClaims
	Name  string   `json:"name,omitempty"`
	Rooms []string `json:"rooms,omitempty"`
}

// Verify checks token's signature, algorithm, time claims (with leeway),
// audience and issuer, and returns its claims. Every error wraps ErrInvalidToken.
func (v *JWTVerifier) Verify(token string) (actors.Claims, error) {
	if v.err != nil {
		return actors.Claims{}, fmt.Errorf("%w: verifier misconfigured: %w", ErrInvalidToken, v.err)
	}
	var c claims
	if _, err := v.parser.ParseWithClaims(token, &c, v.key); err != nil {
		return actors.Claims{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if n := len(c.Subject); n == 0 || n > MaxSubjectBytes {
		return actors.Claims{}, fmt.Errorf("%w: sub must be 1 to %d bytes, has %d", ErrInvalidToken, MaxSubjectBytes, n)
	}
	out := actors.Claims{Subject: c.Subject, Name: c.Name}
	if c.ExpiresAt != nil {
		out.Expires = c.ExpiresAt.Time
	}
	if len(c.Rooms) > 0 {
		out.Rooms = c.Rooms
	}
	return out, nil
}

// key picks the verification key for the token's algorithm; the parser has
// already refused algorithms not configured.
func (v *JWTVerifier) key(t *jwt.Token) (any, error) {
	switch t.Method.(type) {
	case *jwt.SigningMethodHMAC:
		if v.hmacKey != nil {
			return v.hmacKey, nil
		}
	case *jwt.SigningMethodRSA, *jwt.SigningMethodECDSA:
		if keys := v.keys.Load(); keys != nil {
			return keys.key(t)
		}
	}
	return nil, fmt.Errorf("no key for algorithm %s", t.Method.Alg())
}

// Reload reads the public key file again (on SIGHUP). On error the keys in
// use stay. Without a key file it does nothing.
func (v *JWTVerifier) Reload() error {
	if v.keyFile == "" {
		return nil
	}
	keys, err := loadPublicKeys(v.keyFile)
	if err != nil {
		return err
	}
	v.keys.Store(keys)
	return nil
}

// SignHS256 mints an HS256 token for c: sub, and name, exp and rooms when set (a
// zero Expires gives a token without exp). Tests and tools use it; the server
// only verifies.
func SignHS256(secret []byte, c actors.Claims) (string, error) {
	if len(secret) == 0 {
		return "", errors.New("auth: sign: empty secret")
	}
	cl := claims{Name: c.Name, Rooms: c.Rooms}
	cl.Subject = c.Subject
	if !c.Expires.IsZero() {
		cl.ExpiresAt = jwt.NewNumericDate(c.Expires)
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, cl).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("auth: sign: %w", err)
	}
	return s, nil
}
