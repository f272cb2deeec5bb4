package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/sentstub/sentstub"
)

// Response headers every answer carries.
const (
	headerRequestID    = "X-Request-Id"
	headerAPIVersion   = "X-API-Version"
	headerResponseTime = "X-Response-Time"
	headerSandbox      = "X-Sandbox"
	headerAPIKey       = "x-api-key"
	headerProfileID    = "x-profile-id"
	apiVersion         = "v3"
)

// canonicalAPIVersion is X-API-Version as net/http writes it (the wire
// carries X-Api-Version), and apiVersionValue its one value, shared.
var (
	canonicalAPIVersion = http.CanonicalHeaderKey(headerAPIVersion)
	apiVersionValue     = []string{apiVersion}
	apiKeyHeader        = newHeaderName(headerAPIKey)
	profileIDHeader     = newHeaderName(headerProfileID)
)

// begin starts every request: it gives it an id and the common headers,
// finds its operation, turns a panic into a 500 and writes the access log.
// Errors are handled here rather than returned, so that the log line has
// the status that was sent.
func (s *Server) begin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		r := &request{id: newRequestID(), start: time.Now(), op: s.ops[routeKey{c.Request().Method, c.Path()}]}
		req := c.Request()
		c.SetRequest(req.WithContext(context.WithValue(req.Context(), requestKey{}, r)))
		res := c.Response()
		h := res.Header()
		// Canonical names, written without Set's canonicalization.
		h[headerRequestID] = []string{r.id}
		h[canonicalAPIVersion] = apiVersionValue
		res.Before(func() { h[headerResponseTime] = []string{formatMillis(time.Since(r.start))} })
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				c.Error(fmt.Errorf("panic: %v\n%s", p, debug.Stack()))
			}
			s.accessLog(c.Request().Context(), r, req, r.recordedStatus(res.Status))
		}()
		if err := next(c); err != nil {
			c.Error(err)
		}
		return nil
	}
}

// accessLog writes the request's line of the access log: formatted here
// and written to Config.AccessLog when the server has one (the binary), else
// handed to the logger's handler itself, with no caller's program counter
// (the logger's LogAttrs would walk the stack for one on every request).
// The access log was the largest cost of a GET that a request need not
// pay: slog's handler took a twentieth of its time.
func (s *Server) accessLog(ctx context.Context, r *request, req *http.Request, status int) {
	now := time.Now()
	if s.accessOut != nil {
		bp := accessLines.Get().(*[]byte)
		b := appendAccessLine((*bp)[:0], now, r.id, req.Method, req.URL.Path, status, now.Sub(r.start))
		s.accessOut.Write(b)
		*bp = b
		accessLines.Put(bp)
		return
	}
	h := s.logger.Handler()
	if !h.Enabled(ctx, slog.LevelInfo) {
		return
	}
	rec := slog.NewRecord(now, slog.LevelInfo, "request", 0)
	rec.AddAttrs(slog.String("request_id", r.id), slog.String("method", req.Method),
		slog.String("path", req.URL.Path), slog.Int("status", status), slog.Duration("duration", now.Sub(r.start)))
	h.Handle(ctx, rec)
}

var accessLines = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// appendAccessLine appends the access log's line as slog's TextHandler
// writes it (TestAccessLineIsSlogText holds it to that).
func appendAccessLine(b []byte, t time.Time, id, method, path string, status int, d time.Duration) []byte {
	b = append(b, "time="...)
	b = t.AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
	b = append(b, " level=INFO msg=request request_id="...)
	b = appendTextValue(b, id)
	b = append(b, " method="...)
	b = appendTextValue(b, method)
	b = append(b, " path="...)
	b = appendTextValue(b, path)
	b = append(b, " status="...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, " duration="...)
	b = append(b, d.String()...)
	return append(b, '\n')
}

// appendTextValue appends s as slog's TextHandler does: as it is, or quoted
// (strconv.Quote) when it needs quoting by slog's rule.
func appendTextValue(b []byte, s string) []byte {
	if textNeedsQuoting(s) {
		return strconv.AppendQuote(b, s)
	}
	return append(b, s...)
}

// textNeedsQuoting is slog's rule: an empty string, a space or '=', ASCII
// that a JSON string would escape (but a backslash), and anything not
// printable or not UTF-8.
func textNeedsQuoting(s string) bool {
	if s == "" {
		return true
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c == ' ' || c == '=' || c == '"' || c < 0x20 {
				return true
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return true
		}
		i += size
	}
	return false
}

// formatMillis writes d as sent.dm's X-Response-Time does: "1.84ms".
func formatMillis(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64) + "ms"
}

// authenticate resolves the x-api-key header to the calling account on
// every secured operation and on every unknown path under /v3, so that an
// unauthenticated caller learns nothing about which routes exist. A
// request with more than one x-api-key names no one caller: it is refused
// here, first, as a malformed request (400), and no key is looked up.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := requestOf(c)
		if r.op != nil && !r.op.secured || r.op == nil && !underAPI(c.Request().URL.Path) {
			return next(c)
		}
		if repeated := repeatedHeaders(c.Request(), apiKeyHeader); repeated != nil {
			return &sentstub.Error{Code: sentstub.EINVALID, Message: validationFailed, Details: repeated}
		}
		key := headerValue(c.Request(), apiKeyHeader)
		if key == "" {
			return &sentstub.Error{Code: sentstub.EUNAUTHENTICATED, Message: "User is not authenticated"}
		}
		account, err := s.accountByKey(c.Request().Context(), key)
		if err != nil {
			return err
		}
		r.caller, r.account = account, account
		return next(c)
	}
}

func underAPI(path string) bool { return path == "/v3" || strings.HasPrefix(path, "/v3/") }

func (s *Server) accountByKey(ctx context.Context, key string) (*sentstub.Account, error) {
	h := sentstub.HashAPIKey(key)
	if a, ok := s.keys.Load(h); ok {
		return a.(*sentstub.Account), nil
	}
	a, err := s.store.FindAccountByKey(ctx, h)
	if sentstub.ErrorCode(err) == sentstub.ENOTFOUND {
		return nil, &sentstub.Error{Code: sentstub.EBADAPIKEY, Message: "Invalid or missing API key"}
	}
	if err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	s.keys.Store(h, a)
	return a, nil
}

func (s *Server) accountByID(ctx context.Context, id uuid.UUID) (*sentstub.Account, error) {
	if a, ok := s.accounts.Load(id); ok {
		return a.(*sentstub.Account), nil
	}
	a, err := s.store.FindAccount(ctx, id)
	if err != nil {
		return nil, err
	}
	s.accounts.Store(id, a)
	return a, nil
}

// authorize applies x-profile-id: an organization key may act for one of
// its own profiles; a profile key may not use the header at all. Both
// refusals are 403 AUTH_004, and a profile that does not exist is refused
// the same way as another organization's.
func (s *Server) authorize(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := requestOf(c)
		raw := headerValue(c.Request(), profileIDHeader)
		if r.caller == nil || raw == "" {
			return next(c)
		}
		forbidden := &sentstub.Error{Code: sentstub.EFORBIDDEN, Message: "Insufficient permissions"}
		if r.caller.IsProfile() {
			return forbidden
		}
		id, err := uuid.Parse(raw)
		if err != nil {
			return &sentstub.Error{Code: sentstub.EINVALID, Message: validationFailed,
				Details: map[string][]string{headerProfileID: {"must be a UUID"}}}
		}
		profile, err := s.accountByID(c.Request().Context(), id)
		if sentstub.ErrorCode(err) == sentstub.ENOTFOUND {
			return forbidden
		}
		if err != nil {
			return fmt.Errorf("authorize: %w", err)
		}
		if profile.OrganizationID != r.caller.ID {
			return forbidden
		}
		r.account = profile
		return next(c)
	}
}
