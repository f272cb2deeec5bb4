package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/sentstub/sentstub"
	"github.com/sentstub/sentstub/gen"
)

// wireError is how an error code appears on the wire.
type wireError struct {
	status int
	code   string // sent.dm's error code
}

// wireErrors is the one mapping from sentstub error codes to HTTP statuses
// and sent.dm codes (see docs/behaviour.md, Error codes).
var wireErrors = map[sentstub.Code]wireError{
	sentstub.EUNAUTHENTICATED:   {http.StatusUnauthorized, "AUTH_001"},
	sentstub.EBADAPIKEY:         {http.StatusUnauthorized, "AUTH_002"},
	sentstub.EFORBIDDEN:         {http.StatusForbidden, "AUTH_004"},
	sentstub.EINVALID:           {http.StatusBadRequest, "VALIDATION_001"},
	sentstub.EBADIDEMPOTENCYKEY: {http.StatusBadRequest, "VALIDATION_007"},
	sentstub.EINACTIVE:          {http.StatusBadRequest, "BUSINESS_010"},
	sentstub.ENOTFOUND:          {http.StatusNotFound, "RESOURCE_008"},
	sentstub.ENOROUTE:           {http.StatusNotFound, "RESOURCE_013"},
	sentstub.EMETHOD:            {http.StatusMethodNotAllowed, "VALIDATION_001"},
	sentstub.ETOOLARGE:          {http.StatusRequestEntityTooLarge, "VALIDATION_001"},
	sentstub.ECONFLICT:          {http.StatusConflict, "CONFLICT_001"},
	sentstub.ERATELIMITED:       {http.StatusTooManyRequests, "BUSINESS_002"},
	sentstub.EUNAVAILABLE:       {http.StatusServiceUnavailable, "SERVICE_001"},
	sentstub.EINTERNAL:          {http.StatusInternalServerError, "INTERNAL_001"},
	sentstub.ETIMEOUT:           {http.StatusGatewayTimeout, "INTERNAL_004"},
	sentstub.EDBUNAVAILABLE:     {http.StatusServiceUnavailable, "INTERNAL_005"},
	sentstub.EREQUESTTIMEOUT:    {http.StatusRequestTimeout, "VALIDATION_001"},
}

const docURLPrefix = "https://docs.sent.dm/errors/"

// genericInternalMessage answers an unexpected failure outside any operation
// whose spec documents a message of its own.
const genericInternalMessage = "An unexpected error occurred"

// handleError is Echo's HTTPErrorHandler and the only place where an error
// becomes a response: every error answer is the sent.dm envelope, whatever
// produced it (a handler, a middleware, Echo's router or binder, a panic).
func (s *Server) handleError(err error, c echo.Context) {
	r := requestOf(c)
	apiErr := s.apiError(err)
	wire, ok := wireErrors[apiErr.Code]
	if !ok {
		wire = wireErrors[sentstub.EINTERNAL]
	}
	simulated := isSimulated(err) // logged as such where it was simulated
	if wire.status >= 500 {
		// A client that hung up is not a server fault: say so quietly.
		level, msg := slog.LevelError, "request failed"
		if errors.Is(err, context.Canceled) && c.Request().Context().Err() != nil {
			level, msg = slog.LevelInfo, "client went away"
			r.clientGone = true
		}
		if !simulated {
			s.logger.LogAttrs(c.Request().Context(), level, msg,
				slog.String("request_id", r.id), slog.String("code", wire.code), slog.Any("error", err))
		}
		if wire.status == http.StatusInternalServerError {
			apiErr = &sentstub.Error{Code: sentstub.EINTERNAL, Message: genericInternalMessage}
			if r.op != nil && r.op.internalMessage != "" {
				apiErr.Message = r.op.internalMessage
			}
		}
	} else if apiErr.Cause != nil && !simulated {
		// The client's fault, such as a body that stalled or is malformed:
		// worth a line, with its cause, but not an error of the server's.
		s.logger.LogAttrs(c.Request().Context(), slog.LevelInfo, "request refused",
			slog.String("request_id", r.id), slog.Int("status", wire.status), slog.String("code", wire.code),
			slog.Any("error", apiErr.Cause))
	}
	if c.Response().Committed {
		return
	}
	var details *map[string][]string
	if apiErr.Details != nil {
		details = &apiErr.Details
	}
	docURL := docURLPrefix + wire.code
	body := gen.ErrorResponse{
		Success: false,
		Error:   gen.ErrorDetail{Code: wire.code, Message: apiErr.Message, Details: details, DocURL: &docURL},
		Meta:    s.meta(r),
	}
	if err := c.JSON(wire.status, body); err != nil {
		s.logger.LogAttrs(c.Request().Context(), slog.LevelWarn, "writing an error response failed",
			slog.String("request_id", r.id), slog.Any("error", err))
	}
}

// apiError classifies any error as a *sentstub.Error. Echo's own errors come
// from its router (404, 405) and from the generated parameter binding, which
// the request validator normally catches first.
func (s *Server) apiError(err error) *sentstub.Error {
	var apiErr *sentstub.Error
	if errors.As(err, &apiErr) {
		return apiErr
	}
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return bodyTooLarge(s.bodyLimit)
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		switch he.Code {
		case http.StatusNotFound:
			return &sentstub.Error{Code: sentstub.ENOROUTE, Message: "Resource not found"}
		case http.StatusMethodNotAllowed:
			return &sentstub.Error{Code: sentstub.EMETHOD, Message: methodNotAllowed}
		case http.StatusRequestEntityTooLarge:
			return bodyTooLarge(s.bodyLimit)
		case http.StatusUnauthorized:
			return &sentstub.Error{Code: sentstub.EUNAUTHENTICATED, Message: "User is not authenticated"}
		}
		if he.Code >= 400 && he.Code < 500 {
			msg, _ := he.Message.(string)
			if msg == "" {
				msg = http.StatusText(he.Code)
			}
			return &sentstub.Error{Code: sentstub.EINVALID, Message: validationFailed,
				Details: map[string][]string{"request": {msg}}}
		}
	}
	return &sentstub.Error{Code: sentstub.EINTERNAL}
}
