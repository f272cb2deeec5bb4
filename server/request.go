package server

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/sentstub/sentstub"
)

// request is what the middlewares learn about a request, carried in its
// context so that the strict handlers (which get the request's context, not
// Echo's) see it too. It is added once, by begin, and filled in place.
type request struct {
	id    string
	start time.Time
	op    *operation // nil when no operation of the spec matches

	// caller is the owner of the request's API key; account is the account
	// the request acts for: the caller, or the profile named by
	// x-profile-id. Both are nil on operations without security.
	caller  *sentstub.Account
	account *sentstub.Account

	sandbox bool // the response is a sandbox fake

	body []byte // the request's body, once validate has read it; read only

	delay time.Duration // X-Sentstub-Delay, for the operation (see delayed)

	// clientGone is set when the request failed because its client hung up
	// first: what the server wrote after that reached nobody.
	clientGone bool
}

// statusClientClosed is the status the access log and the metrics record
// for a request whose client hung up before it was answered: nginx's 499,
// "client closed request". It is never sent.
const statusClientClosed = 499

// recordedStatus is the status the access log and the metrics record for
// r, whose answer had the status sent.
func (r *request) recordedStatus(sent int) int {
	if r.clientGone {
		return statusClientClosed
	}
	return sent
}

type requestKey struct{}

func requestFromContext(ctx context.Context) *request {
	r, _ := ctx.Value(requestKey{}).(*request)
	if r == nil {
		// Only reachable when a handler is called without begin, as in a
		// unit test; an empty request keeps such calls from panicking.
		r = &request{id: newRequestID()}
	}
	return r
}

func requestOf(c echo.Context) *request { return requestFromContext(c.Request().Context()) }

const requestIDAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// newRequestID returns an id shaped like sent.dm's: "req_" and ten base-62
// characters (about 59 bits of randomness).
func newRequestID() string {
	var b [14]byte
	copy(b[:], "req_")
	n := rand.Uint64()
	for i := 4; i < len(b); i++ {
		b[i] = requestIDAlphabet[n%62]
		n /= 62
	}
	return string(b[:])
}
