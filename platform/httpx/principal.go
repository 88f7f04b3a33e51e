package httpx

import (
	"time"

	"github.com/gin-gonic/gin"
)

// Principal is the authenticated caller: the user and the session its access
// token belongs to.
type Principal struct {
	UserID string
	// SessionID is the session of a token the service issued; empty for an
	// external account, whose sessions belong to its issuer.
	SessionID string
	// External is true when the token came from the external issuer
	// (AUTH_JWKS_URL) rather than from this service.
	External bool
	// IssuedAt is the token's iat; zero when it has none.
	IssuedAt time.Time
}

const principalKey = "httpx.principal"

// SetPrincipal records the authenticated caller on the request.
func SetPrincipal(c *gin.Context, p Principal) { c.Set(principalKey, p) }

// PrincipalFrom returns the authenticated caller, if any.
func PrincipalFrom(c *gin.Context) (Principal, bool) {
	v, ok := c.Get(principalKey)
	if !ok {
		return Principal{}, false
	}
	p, ok := v.(Principal)
	return p, ok
}

// MustPrincipal returns the authenticated caller of a route behind the
// authentication middleware; reaching it without one is a wiring bug.
func MustPrincipal(c *gin.Context) Principal {
	p, ok := PrincipalFrom(c)
	if !ok {
		panic("httpx: route is not behind the authentication middleware")
	}
	return p
}
