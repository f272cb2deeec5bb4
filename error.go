// Package sentstub holds the domain of the stub: accounts, webhooks, the
// errors the API answers with, and the store interfaces the server depends
// on. It imports no generated code and no database driver; package server
// converts between these types and the generated models, and package store
// implements the interfaces on SQLite and PostgreSQL.
package sentstub

import (
	"errors"
	"fmt"
)

// Code classifies an Error. The server's error handler maps each code to an
// HTTP status and a sent.dm error code in one table; nothing else does.
type Code string

// The codes, with the HTTP status and sent.dm code each becomes.
const (
	EUNAUTHENTICATED   Code = "unauthenticated"     // 401 AUTH_001: no x-api-key
	EBADAPIKEY         Code = "bad_api_key"         // 401 AUTH_002: unknown x-api-key
	EFORBIDDEN         Code = "forbidden"           // 403 AUTH_004
	EINVALID           Code = "invalid"             // 400 VALIDATION_001
	EBADIDEMPOTENCYKEY Code = "bad_idempotency_key" // 400 VALIDATION_007
	EINACTIVE          Code = "inactive"            // 400 BUSINESS_010: the webhook is inactive
	ENOTFOUND          Code = "not_found"           // 404 RESOURCE_008: no such webhook for this caller
	ENOROUTE           Code = "no_route"            // 404 RESOURCE_013: no such path
	EMETHOD            Code = "method_not_allowed"  // 405 VALIDATION_001
	ETOOLARGE          Code = "too_large"           // 413 VALIDATION_001
	ECONFLICT          Code = "conflict"            // 409 CONFLICT_001: idempotent request in flight
	ERATELIMITED       Code = "rate_limited"        // 429 BUSINESS_002: the caller is over its rate limit
	EUNAVAILABLE       Code = "unavailable"         // 503 SERVICE_001: idempotency store down
	EINTERNAL          Code = "internal"            // 500 INTERNAL_001
	ETIMEOUT           Code = "timeout"             // 504 INTERNAL_004: the database did not answer in time
	EDBUNAVAILABLE     Code = "db_unavailable"      // 503 INTERNAL_005: the database cannot be reached
	EREQUESTTIMEOUT    Code = "request_timeout"     // 408 VALIDATION_001: the body did not arrive in time
)

// The messages of the codes whose message is sent.dm's title, whoever
// answers them: the server (rate limits, simulated failures) and the
// stores (a database that failed as a whole).
const (
	RateLimitedMessage   = "Rate limit exceeded"             // BUSINESS_002
	TimeoutMessage       = "Timeout waiting for operation"   // INTERNAL_004
	DBUnavailableMessage = "Service temporarily unavailable" // INTERNAL_005
)

// Error is an error the API reports to its caller. Message is shown to the
// caller as is, so it never carries internal detail; Details maps a field
// name to the problems found with it, for validation failures.
type Error struct {
	Code    Code
	Message string
	Details map[string][]string
	// Cause is the internal failure behind the error, for the log only.
	Cause error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("sentstub error: code=%s message=%s: %v", e.Code, e.Message, e.Cause)
	}
	return fmt.Sprintf("sentstub error: code=%s message=%s", e.Code, e.Message)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Cause }

// Errorf returns an Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the Error in err's chain, or EINTERNAL for
// any other non-nil error and "" for nil.
func ErrorCode(err error) Code {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	default:
		return EINTERNAL
	}
}
