package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"unicode/utf8"

	genclient "github.com/sentstub/sentstub/gen/client"
)

// The sent.dm error codes that the webhook operations can answer (Error.Code).
const (
	// CodeUnauthenticated (401): no x-api-key was sent.
	CodeUnauthenticated = "AUTH_001"
	// CodeInvalidAPIKey (401): the x-api-key is unknown.
	CodeInvalidAPIKey = "AUTH_002"
	// CodeForbidden (403): the key may not act for the x-profile-id sent: a
	// profile key sent one, or the profile is not the organization's.
	CodeForbidden = "AUTH_004"
	// CodeValidationFailed (400, also 405 and 413): the request is
	// malformed; Error.Details names the fields.
	CodeValidationFailed = "VALIDATION_001"
	// CodeInvalidIdempotencyKey (400): the Idempotency-Key is malformed.
	CodeInvalidIdempotencyKey = "VALIDATION_007"
	// CodeWebhookInactive (400): TestWebhook on an inactive webhook.
	CodeWebhookInactive = "BUSINESS_010"
	// CodeWebhookNotFound (404): the caller has no webhook with this id.
	CodeWebhookNotFound = "RESOURCE_008"
	// CodeIdempotencyConflict (409): a request with the same
	// Idempotency-Key is still being processed. Retried.
	CodeIdempotencyConflict = "CONFLICT_001"
	// CodeServiceUnavailable (503): the server could not process the
	// request now; nothing was executed. Retried.
	CodeServiceUnavailable = "SERVICE_001"
	// CodeInternal (500): an unexpected server error. Retried.
	CodeInternal = "INTERNAL_001"
)

// Error is an answer of the API that is not 2xx. When the body is sent.dm's
// error envelope, Code, Message, Details, DocURL and RequestID come from
// it; otherwise (a proxy's HTML error page, say) Code is empty and Message
// describes the status and the start of the body.
type Error struct {
	// StatusCode is the HTTP status of the answer.
	StatusCode int
	// Code is sent.dm's error code, such as CodeWebhookNotFound; empty
	// when the body is not the error envelope.
	Code string
	// Message is the API's human-readable message.
	Message string
	// Details are, for validation failures, messages keyed by field name;
	// nil otherwise.
	Details map[string][]string
	// DocURL documents the error code; empty if the API sent none.
	DocURL string
	// RequestID is meta.request_id of the envelope, else the X-Request-Id
	// header; quote it when reporting a problem. Empty if neither was sent.
	RequestID string
	// Response is the answer's metadata, as WithResponseInto gives it: its
	// own X-Request-Id (which differs from RequestID on a replay), whether
	// it was replayed, sandbox, rate limits, Retry-After, the header.
	Response ResponseMeta
}

// Error describes the answer on one line, starting in lower case so that it
// reads well wrapped: `sentdm: status 404, code RESOURCE_008: Webhook not
// found (request_id req_7X9zKp2jDw)`.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sentdm: status %d", e.StatusCode)
	if e.Code != "" {
		fmt.Fprintf(&b, ", code %s", e.Code)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if len(e.Details) > 0 {
		fields := make([]string, 0, len(e.Details))
		for f := range e.Details {
			fields = append(fields, f)
		}
		sort.Strings(fields)
		for _, f := range fields {
			fmt.Fprintf(&b, "; %s: %s", f, strings.Join(e.Details[f], ", "))
		}
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " (request_id %s)", e.RequestID)
	}
	return b.String()
}

// IsNotFound reports whether err is or wraps an *Error with status 404:
// for ToggleWebhookStatus, the webhook does not exist for the caller
// (Code CodeWebhookNotFound). A 404 without that code usually means that
// the base URL does not serve the API's paths.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.StatusCode == http.StatusNotFound
}

// errorEnvelope is the part of sent.dm's error envelope the client reads.
// It reuses the generated ErrorDetail, but reads meta loosely: a timestamp
// in an unexpected shape must not cost the caller the error's code.
type errorEnvelope struct {
	Error *genclient.ErrorDetail `json:"error"`
	Meta  *struct {
		RequestID string `json:"request_id"`
	} `json:"meta"`
}

// snippetLen bounds the part of an unexpected body quoted in an Error.
const snippetLen = 200

// newError builds the *Error for a non-2xx answer with the given body and
// metadata.
func newError(body []byte, meta ResponseMeta) *Error {
	e := &Error{StatusCode: meta.StatusCode, RequestID: meta.RequestID, Response: meta}
	var env errorEnvelope
	if json.Unmarshal(body, &env) == nil && env.Error != nil && env.Error.Code != "" {
		e.Code = env.Error.Code
		e.Message = env.Error.Message
		if env.Error.Details != nil {
			e.Details = *env.Error.Details
		}
		if env.Error.DocURL != nil {
			e.DocURL = *env.Error.DocURL
		}
		if env.Meta != nil && env.Meta.RequestID != "" {
			e.RequestID = env.Meta.RequestID
		}
		return e
	}
	status := fmt.Sprintf("%d %s", e.StatusCode, http.StatusText(e.StatusCode))
	if s := snippet(body); s != "" {
		e.Message = fmt.Sprintf("unexpected %s answer without a sent.dm error envelope; body: %q", status, s)
	} else {
		e.Message = fmt.Sprintf("unexpected %s answer with an empty body", status)
	}
	return e
}

// snippet returns the start of body with runs of white space collapsed,
// cut at snippetLen bytes on a rune boundary, with "..." when cut.
func snippet(body []byte) string {
	s := strings.Join(strings.Fields(string(body)), " ")
	if len(s) <= snippetLen {
		return s
	}
	cut := snippetLen
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
