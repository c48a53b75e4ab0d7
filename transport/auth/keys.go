package auth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
)

// publicKeys are the RS256/ES256 verification keys read from one file:
// either a JWKS document (keys picked by the token's kid) or PEM public keys
// (every key of the token's type is tried).
type publicKeys struct {
	jwks keyfunc.Keyfunc // set for a JWKS file
	rsa  []*rsa.PublicKey
	ec   []*ecdsa.PublicKey
}

// loadPublicKeys reads path as a JWKS document (JSON) or as PEM public keys.
func loadPublicKeys(path string) (*publicKeys, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: read public keys: %w", err)
	}
	trimmed := bytes.TrimSpace(raw)
	if bytes.HasPrefix(trimmed, []byte("{")) {
		k, err := keyfunc.NewJWKSetJSON(json.RawMessage(trimmed))
		if err != nil {
			return nil, fmt.Errorf("auth: parse JWKS %s: %w", path, err)
		}
		return &publicKeys{jwks: k}, nil
	}
	keys := &publicKeys{}
	for rest := trimmed; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		one := pem.EncodeToMemory(block)
		if k, err := jwt.ParseRSAPublicKeyFromPEM(one); err == nil {
			keys.rsa = append(keys.rsa, k)
			continue
		}
		k, err := jwt.ParseECPublicKeyFromPEM(one)
		if err != nil {
			return nil, fmt.Errorf("auth: %s: a %s block is neither an RSA nor an EC public key", path, block.Type)
		}
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("auth: %s: ES256 needs P-256 keys, got %s", path, k.Curve.Params().Name)
		}
		keys.ec = append(keys.ec, k)
	}
	if len(keys.rsa)+len(keys.ec) == 0 {
		return nil, fmt.Errorf("auth: %s holds no PEM public key and is not a JWKS document", path)
	}
	return keys, nil
}

// key returns what verifies t: the JWKS key named by kid, or the set of PEM
// keys of t's type.
func (p *publicKeys) key(t *jwt.Token) (any, error) {
	if p.jwks != nil {
		return p.jwks.Keyfunc(t)
	}
	var set jwt.VerificationKeySet
	switch t.Method.(type) {
	case *jwt.SigningMethodRSA:
		for _, k := range p.rsa {
			set.Keys = append(set.Keys, k)
		}
	case *jwt.SigningMethodECDSA:
		for _, k := range p.ec {
			set.Keys = append(set.Keys, k)
		}
	}
	if len(set.Keys) == 0 {
		return nil, errors.New("no public key for " + t.Method.Alg())
	}
	return set, nil
}
