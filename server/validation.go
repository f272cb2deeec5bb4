package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/labstack/echo/v4"

	"github.com/sentstub/sentstub"
)

const (
	validationFailed       = sentstub.ValidationFailed
	methodNotAllowed       = "Method not allowed"
	bodyTimeoutMessage     = "Request body not received in time"
	headerRepeated         = "must be sent at most once"
	idempotencyKeyInvalid  = "Invalid Idempotency-Key format"
	invalidMessageExt      = "x-sentstub-invalid-message"
	bodyField              = "body"
	contentTypeField       = "Content-Type"
	contentTypeMustBeJSON  = "must be application/json"
	bodyNotJSON            = "must be valid JSON"
	bodyTooLargeMessageFmt = "Request body must not exceed %d bytes"
)

func bodyTooLarge(limit int64) *sentstub.Error {
	return &sentstub.Error{Code: sentstub.ETOOLARGE, Message: fmt.Sprintf(bodyTooLargeMessageFmt, limit),
		Details: map[string][]string{bodyField: {fmt.Sprintf("must not exceed %d bytes", limit)}}}
}

// pathParamsPool recycles the path-parameter maps that validation needs
// only while it runs.
var pathParamsPool = sync.Pool{New: func() any { return map[string]string{} }}

// validate checks the request against its operation in the OpenAPI
// document: parameters, headers and body, collecting every problem. The
// body is read once, bounded, and left on the request with the value
// kin-openapi validated, which the generated strict handler binds instead
// of decoding the JSON a second time. A JSON body must be exactly one JSON
// value: kin-openapi decodes the first and ignores what follows, so that
// `{"is_active":false} garbage` would pass.
func (s *Server) validate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := requestOf(c)
		if r.op == nil {
			if err := s.checkMethod(c); err != nil {
				return err
			}
			return next(c)
		}
		req := c.Request()
		body, err := s.readBody(req)
		if err != nil {
			return err
		}
		r.body = body
		// Problems found here rather than by kin-openapi, which takes the
		// first of repeated headers (the generated handler would then refuse
		// them, after the idempotency middleware claimed the first key).
		problems := repeatedHeaders(req, r.op.headers...)
		var params map[string]string
		if names := c.ParamNames(); len(names) > 0 {
			params = pathParamsPool.Get().(map[string]string)
			defer func() {
				clear(params)
				pathParamsPool.Put(params)
			}()
			for i, name := range names {
				params[name] = c.ParamValues()[i]
			}
		}
		if problems == nil && r.op.shortcut.passes(req, params, body) {
			return next(c)
		}
		options := &s.filterOptions
		if len(body) > 0 && isJSONBody(r.op, req) && !json.Valid(body) {
			if problems == nil {
				problems = map[string][]string{}
			}
			problems[bodyField] = []string{bodyNotJSON}
			noBody := s.filterOptions
			noBody.ExcludeRequestBody = true // it would look at the first value only
			options = &noBody
		}
		input := &openapi3filter.RequestValidationInput{
			Request:    req,
			PathParams: params,
			Route:      r.op.route,
			Options:    options,
		}
		if err := openapi3filter.ValidateRequest(req.Context(), input); err != nil || problems != nil {
			return validationError(r.op, err, problems)
		}
		r.op.shortcut.learn(req, body)
		return next(c)
	}
}

// checkMethod refuses a method that a path of the spec does not serve,
// OPTIONS included (Echo's router would answer OPTIONS 204): 405
// VALIDATION_001, with an Allow header naming the methods the path serves.
// Echo's router marks such a request by the Allow value it found for it.
func (s *Server) checkMethod(c echo.Context) error {
	allow, ok := s.allow[c.Path()]
	if c.Get(echo.ContextKeyHeaderAllow) == nil || !ok {
		return nil
	}
	c.Response().Header().Set(echo.HeaderAllow, allow)
	return &sentstub.Error{Code: sentstub.EMETHOD, Message: methodNotAllowed}
}

// repeatedHeaders returns the problem of each of the named headers that
// req carries more than once, keyed by its name, or nil: a header that
// names one thing (a key, a profile) cannot be sent twice.
func repeatedHeaders(req *http.Request, names ...headerName) map[string][]string {
	var problems map[string][]string
	for _, name := range names {
		if len(req.Header[name.key]) > 1 {
			if problems == nil {
				problems = map[string][]string{}
			}
			problems[name.spec] = []string{headerRepeated}
		}
	}
	return problems
}

// headerName is a header as the spec spells it (the key of its problems)
// and as net/http keys it, canonicalized once.
type headerName struct{ spec, key string }

func newHeaderName(spec string) headerName { return headerName{spec, http.CanonicalHeaderKey(spec)} }

// headerValue is req's first value of the header name, as Header.Get.
func headerValue(req *http.Request, name headerName) string {
	if v := req.Header[name.key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// isJSONBody reports whether the body of req is to be JSON: its
// Content-Type is JSON, and one the operation accepts (kin-openapi reports
// any other).
func isJSONBody(op *operation, req *http.Request) bool {
	rb := op.route.Operation.RequestBody
	ct := req.Header.Get(echo.HeaderContentType)
	if rb == nil || rb.Value == nil || rb.Value.Content.Get(ct) == nil {
		return false
	}
	mediaType, _, err := mime.ParseMediaType(ct)
	return err == nil && (mediaType == echo.MIMEApplicationJSON || strings.HasSuffix(mediaType, "+json"))
}

// readBody reads the body, at most bodyLimit bytes, puts it back as a
// replayable reader with an exact ContentLength, and returns it: an empty
// or chunked empty body becomes http.NoBody with length 0, which
// validation and binding both treat as `{}`.
func (s *Server) readBody(req *http.Request) ([]byte, error) {
	if req.ContentLength > s.bodyLimit {
		return nil, bodyTooLarge(s.bodyLimit)
	}
	if req.Body == nil || req.Body == http.NoBody {
		req.Body, req.ContentLength = http.NoBody, 0
		return nil, nil
	}
	var data []byte
	var err error
	if req.ContentLength > 0 {
		// The length is known and within the limit: one exact read.
		data = make([]byte, req.ContentLength)
		_, err = io.ReadFull(req.Body, data)
	} else {
		data, err = io.ReadAll(http.MaxBytesReader(nil, req.Body, s.bodyLimit))
	}
	req.Body.Close()
	if err != nil {
		return nil, s.bodyReadError(req, err)
	}
	if len(data) == 0 {
		req.Body, req.ContentLength = http.NoBody, 0
		return nil, nil
	}
	req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(data)), int64(len(data))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
	return data, nil
}

// bodyReadError says why the body of req could not be read. The server
// only reads what the client sends, so every such failure is the client's
// (or its connection's), never the server's: a body over the limit is 413;
// one that did not arrive within the server's read timeout, 408; one that
// ended early, is malformed (bad chunked encoding: net/http says so with
// errors of no type of their own) or whose connection broke, 400. The cause
// is kept for the log.
func (s *Server) bodyReadError(req *http.Request, err error) error {
	var (
		tooLarge *http.MaxBytesError
		netErr   net.Error
		problem  string
	)
	switch {
	case errors.As(err, &tooLarge):
		return bodyTooLarge(s.bodyLimit)
	case errors.As(err, &netErr) && netErr.Timeout():
		return &sentstub.Error{Code: sentstub.EREQUESTTIMEOUT, Message: bodyTimeoutMessage,
			Details: map[string][]string{bodyField: {"did not arrive within the server's read timeout"}}, Cause: err}
	case errors.Is(err, io.ErrUnexpectedEOF) && req.ContentLength > 0:
		problem = "is shorter than its Content-Length"
	case errors.Is(err, io.ErrUnexpectedEOF):
		problem = "ended before its last chunk"
	default:
		problem = "could not be read: malformed, or its connection broke"
	}
	return &sentstub.Error{Code: sentstub.EINVALID, Message: validationFailed,
		Details: map[string][]string{bodyField: {problem}}, Cause: fmt.Errorf("read request body: %w", err)}
}

// validationError turns kin-openapi's errors (err, may be nil) and the
// problems validate found itself into one API error: 400 VALIDATION_007
// when the Idempotency-Key is malformed (reported before any other
// problem), otherwise 400 VALIDATION_001 with every problem keyed by field.
// A parameter may name its own message with x-sentstub-invalid-message
// (the toggle's id: "Invalid webhook ID format."); when that parameter is
// the only problem, the answer is exactly sent.dm's: that message and no
// details.
func validationError(op *operation, err error, problems map[string][]string) error {
	details := map[string][]string{}
	var (
		keyProblems []string
		message     string
	)
	for _, e := range flatten(err) {
		if e == nil {
			continue
		}
		var reqErr *openapi3filter.RequestError
		if !errors.As(e, &reqErr) {
			details["request"] = append(details["request"], e.Error())
			continue
		}
		switch {
		case reqErr.Parameter != nil:
			p := reqErr.Parameter
			problems := describe(reqErr)
			if p.In == openapi3.ParameterInHeader && p.Name == headerIdempotencyKey {
				keyProblems = append(keyProblems, problems...)
				continue
			}
			if m, ok := p.Extensions[invalidMessageExt].(string); ok && message == "" {
				message = m
			}
			details[p.Name] = append(details[p.Name], problems...)
		case reqErr.RequestBody != nil:
			for field, problems := range bodyProblems(reqErr) {
				details[field] = append(details[field], problems...)
			}
		default:
			details["request"] = append(details["request"], describe(reqErr)...)
		}
	}
	for field, p := range problems {
		details[field] = append(details[field], p...)
	}
	if len(keyProblems) > 0 {
		keyProblems = append(keyProblems, problems[headerIdempotencyKey]...) // repeated, too
		return &sentstub.Error{Code: sentstub.EBADIDEMPOTENCYKEY, Message: idempotencyKeyInvalid,
			Details: map[string][]string{headerIdempotencyKey: keyProblems}}
	}
	if message != "" && len(details) == 1 {
		return &sentstub.Error{Code: sentstub.EINVALID, Message: message}
	}
	if message == "" {
		message = validationFailed
	}
	return &sentstub.Error{Code: sentstub.EINVALID, Message: message, Details: details}
}

// flatten lists the errors of a MultiError, recursively. Only a MultiError
// itself is opened: errors.As would reach through a RequestError into the
// MultiError of its schema problems and lose the RequestError.
func flatten(err error) []error {
	if me, ok := err.(openapi3.MultiError); ok {
		var all []error
		for _, e := range me {
			all = append(all, flatten(e)...)
		}
		return all
	}
	return []error{err}
}

// bodyProblems describes what is wrong with a request body, keyed by the
// JSON field at fault ("body" for the body as a whole).
func bodyProblems(reqErr *openapi3filter.RequestError) map[string][]string {
	out := map[string][]string{}
	if strings.Contains(reqErr.Reason, "Content-Type") {
		out[contentTypeField] = []string{contentTypeMustBeJSON}
		return out
	}
	var parseErr *openapi3filter.ParseError
	if errors.As(reqErr.Err, &parseErr) {
		out[bodyField] = []string{bodyNotJSON}
		return out
	}
	for _, e := range flatten(reqErr.Err) {
		var se *openapi3.SchemaError
		if !errors.As(e, &se) {
			out[bodyField] = append(out[bodyField], e.Error())
			continue
		}
		field := strings.Join(se.JSONPointer(), ".")
		if field == "" {
			field = bodyField
		}
		out[field] = append(out[field], schemaProblem(se))
	}
	return out
}

// describe returns the problems of a parameter error in plain words.
func describe(reqErr *openapi3filter.RequestError) []string {
	var problems []string
	for _, e := range flatten(reqErr.Err) {
		var se *openapi3.SchemaError
		if errors.As(e, &se) {
			problems = append(problems, schemaProblem(se))
			continue
		}
		if errors.Is(e, openapi3filter.ErrInvalidRequired) {
			problems = append(problems, "is required")
			continue
		}
		problems = append(problems, e.Error())
	}
	if len(problems) == 0 {
		problems = append(problems, reqErr.Reason)
	}
	sort.Strings(problems)
	return problems
}

func schemaProblem(se *openapi3.SchemaError) string {
	switch se.SchemaField {
	case "format":
		if se.Schema != nil && se.Schema.Format == "uuid" {
			return "must be a UUID"
		}
	case "pattern":
		if se.Schema != nil {
			return "must match " + se.Schema.Pattern
		}
	case "nullable", "type":
		if se.Schema != nil && se.Schema.Type != nil && len(*se.Schema.Type) == 1 {
			return "must be a " + (*se.Schema.Type)[0]
		}
	}
	return se.Reason
}
