// Package auth verifies client tokens. JWTVerifier implements
// actors.TokenVerifier for the JWTs of ../../PROTOCOL.md: the user id is the token's
// sub (1–128 bytes); name, exp and rooms (private rooms the user may join) are
// optional. Only the algorithms configured in Options are accepted; exp and nbf
// are enforced with a leeway; aud and iss are checked when configured.
//
// HS256 is implemented today; Options leaves room for RS256 and ES256 keys.
package auth
