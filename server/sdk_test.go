package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sentstub/sentstub/internal/contract"
	"github.com/sentstub/sentstub/store/storetest"
)

// The official TypeScript SDK, pinned in testdata/sdk/package.json.
const sdkVersion = "0.32.0"

// TestOfficialTypeScriptSDK runs testdata/sdk/toggle.mjs, which drives the
// official TypeScript SDK (npm @sentdm/sentdm) against the binary's server,
// and checks what the SDK made of every answer. It needs node and npm, and
// the npm registry the first time (node_modules is then cached under the
// user cache directory, keyed by package.json and package-lock.json).
// runSDKScript runs testdata/sdk/<script> with node against a fresh binary
// server (SQLite in memory, the demo fixture) behind a proxy that checks
// every answer against the spec, and returns what the script printed and the
// proxy's URL (the SDK's base URL).
func runSDKScript(t *testing.T, script string) (stdout []byte, baseURL string) {
	t.Helper()
	node, nodeErr := exec.LookPath("node")
	npm, npmErr := exec.LookPath("npm")
	if err := errors.Join(nodeErr, npmErr); err != nil {
		sdkSkip(t, "node and npm are needed to run it (%s); install nodejs and npm (.ci/run does)", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	work := t.TempDir()
	if err := sdkCopyTree(filepath.Join("testdata", "sdk"), work, "node_modules"); err != nil {
		t.Fatalf("copy testdata/sdk: %v", err)
	}
	sdkInstall(t, npm, work)

	m := startMain(t, ":memory:", "")
	t.Cleanup(func() { shutdown(t, m) })
	target, err := url.Parse(m.URL())
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = contract.Transport(t, nil)
	proxy := httptest.NewServer(rp)
	t.Cleanup(proxy.Close)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Dir = work
	cmd.Env = append(sdkEnviron(), "SENT_BASE_URL="+proxy.URL, "SENT_DM_API_KEY="+storetest.AcmeOrgKey)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node %s: %v\nstderr:\n%s\nstdout:\n%s", script, err, stderr.Bytes(), out.Bytes())
	}
	if stderr.Len() > 0 {
		t.Logf("node %s stderr:\n%s", script, stderr.Bytes())
	}
	return out.Bytes(), proxy.URL
}

func TestOfficialTypeScriptSDK(t *testing.T) {
	stdout, proxyURL := runSDKScript(t, "toggle.mjs")
	var rep sdkReport
	if err := json.Unmarshal(stdout, &rep); err != nil {
		t.Fatalf("toggle.mjs output: %v\n%s", err, stdout)
	}
	defer func() {
		if t.Failed() {
			t.Logf("toggle.mjs output:\n%s", stdout)
		}
	}()
	if rep.SDKVersion != sdkVersion {
		t.Errorf("SDK version = %q, want %s", rep.SDKVersion, sdkVersion)
	}
	if rep.BaseURL != proxyURL {
		t.Errorf("SDK base URL = %q, want %s (from SENT_BASE_URL)", rep.BaseURL, proxyURL)
	}
	step := func(name string) sdkStep {
		t.Helper()
		s, ok := rep.Steps[name]
		if !ok {
			t.Fatalf("toggle.mjs reported no step %q", name)
		}
		return s
	}
	reqID := regexp.MustCompile(`^req_[A-Za-z0-9]+$`)

	// (1) Deactivate with an Idempotency-Key: the envelope of the docs' seed.
	deactivate := step("deactivate")
	w := deactivate.wantWebhook(t, "deactivate", storetest.OrderWebhookID, false)
	if string(w.SigningSecret) != "null" {
		t.Errorf("deactivate: signing_secret = %s, want null", sdkRaw(w.SigningSecret))
	}
	if !reqID.MatchString(deactivate.Body.Meta.RequestID) {
		t.Errorf("deactivate: meta.request_id = %q, want req_…", deactivate.Body.Meta.RequestID)
	}
	if h := deactivate.Request.Headers; h["idempotency-key"] != "req_abc123_retry1" || h["x-api-key"] != storetest.AcmeOrgKey {
		t.Errorf("deactivate: the SDK sent Idempotency-Key %q and x-api-key %q", h["idempotency-key"], h["x-api-key"])
	}
	if got, want := deactivate.Request.Body, `{"is_active":false,"sandbox":false}`; !sdkSameJSON(got, want) {
		t.Errorf("deactivate: the SDK sent body %s, want %s", got, want)
	}
	if got := deactivate.Headers["idempotent-replayed"]; got != "" {
		t.Errorf("deactivate: Idempotent-Replayed = %q on a first request", got)
	}

	// (2) The same call again is a replay of (1).
	replay := step("replay")
	replay.wantWebhook(t, "replay", storetest.OrderWebhookID, false)
	if replay.Body.Meta.RequestID != deactivate.Body.Meta.RequestID {
		t.Errorf("replay: meta.request_id = %q, want the original's %q", replay.Body.Meta.RequestID, deactivate.Body.Meta.RequestID)
	}
	if got := replay.Headers["idempotent-replayed"]; got != "true" {
		t.Errorf("replay: Idempotent-Replayed = %q, want true", got)
	}
	if got := replay.Headers["x-original-request-id"]; got != deactivate.Body.Meta.RequestID {
		t.Errorf("replay: X-Original-Request-Id = %q, want %q", got, deactivate.Body.Meta.RequestID)
	}

	// (3) An empty body flips; the SDK adds no Idempotency-Key of its own.
	flip := step("flip")
	flip.wantWebhook(t, "flip", storetest.OrderWebhookID, true)
	if key, ok := flip.Request.Headers["idempotency-key"]; ok {
		t.Errorf("flip: the SDK sent an Idempotency-Key of its own, %q", key)
	}
	if flip.Body.Meta.RequestID == deactivate.Body.Meta.RequestID {
		t.Errorf("flip: a new request answered the replayed request id %q", flip.Body.Meta.RequestID)
	}

	// (4) Another organization's webhook: NotFoundError.
	step("other_org").wantAPIError(t, "other_org", "NotFoundError", 404, "RESOURCE_008")
	if !rep.Steps["other_org"].IsNotFound {
		t.Errorf("other_org: the error is not an instanceof NotFoundError")
	}

	// (5) An unknown key: AuthenticationError.
	badKey := step("bad_key")
	badKey.wantAPIError(t, "bad_key", "AuthenticationError", 401, "AUTH_002")
	if !badKey.IsAuthentication {
		t.Errorf("bad_key: the error is not an instanceof AuthenticationError")
	}
	if got := badKey.Request.Headers["x-api-key"]; got != "sk_test_nobody" {
		t.Errorf("bad_key: the SDK sent x-api-key %q", got)
	}

	// (6) x-profile-id reaches the profile's webhook.
	profile := step("profile")
	profile.wantWebhook(t, "profile", storetest.EUWebhookID, false)
	if got := profile.Request.Headers["x-profile-id"]; got != storetest.AcmeEUProfileID {
		t.Errorf("profile: the SDK sent x-profile-id %q", got)
	}

	// (7) Sandbox: simulated, marked X-Sandbox.
	sandbox := step("sandbox")
	sandbox.wantWebhook(t, "sandbox", storetest.OrderWebhookID, false)
	if got := sandbox.Headers["x-sandbox"]; got != "true" {
		t.Errorf("sandbox: X-Sandbox = %q, want true", got)
	}

	// A client of defaults, awaited: the sandbox changed nothing, so the
	// webhook is still active.
	step("defaults").wantWebhook(t, "defaults", storetest.OrderWebhookID, true)

	// Every request the SDK made carried its usual headers.
	for _, name := range []string{"deactivate", "replay", "flip", "other_org", "bad_key", "profile", "sandbox", "defaults"} {
		s := rep.Steps[name]
		t.Logf("%-10s %s", name, s.summary())
		if s.Request == nil {
			continue
		}
		h := s.Request.Headers
		if s.Request.Method != "PATCH" || !strings.HasSuffix(s.Request.URL, "/toggle-status") {
			t.Errorf("%s: the SDK called %s %s", name, s.Request.Method, s.Request.URL)
		}
		if h["content-type"] != "application/json" || h["accept"] != "application/json" || h["user-agent"] != "Sent/JS "+sdkVersion || h["x-stainless-retry-count"] != "0" {
			t.Errorf("%s: the SDK sent headers %v", name, h)
		}
	}
}

// requireSDKEnv names the environment variable that, set to 1, makes the
// SDK test fail instead of skip when it cannot run. CI sets it, as it sets
// storetest.RequirePostgresEnv.
const requireSDKEnv = "SENTSTUB_REQUIRE_SDK"

// sdkSkip skips the SDK test saying why, or fails it when SENTSTUB_REQUIRE_SDK=1.
func sdkSkip(t *testing.T, format string, args ...any) {
	t.Helper()
	why := fmt.Sprintf(format, args...)
	if os.Getenv(requireSDKEnv) == "1" {
		t.Fatalf("%s=1, but the official TypeScript SDK cannot be tested: %s", requireSDKEnv, why)
	}
	t.Skipf("the official TypeScript SDK is NOT tested: %s (%s=1 makes this a failure)", why, requireSDKEnv)
}

// sdkReport is what toggle.mjs prints.
type sdkReport struct {
	SDKVersion string             `json:"sdk_version"`
	BaseURL    string             `json:"base_url"`
	Steps      map[string]sdkStep `json:"steps"`
}

type sdkStep struct {
	OK bool `json:"ok"`
	// A call that resolved: the HTTP status and some response headers (when
	// the script used .withResponse()) and the value it resolved to.
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    sdkEnvelope       `json:"body"`
	// A call that threw.
	Class            string       `json:"class"`
	IsAPIError       bool         `json:"is_api_error"`
	IsNotFound       bool         `json:"is_not_found"`
	IsAuthentication bool         `json:"is_authentication"`
	Message          string       `json:"message"`
	Error            *sdkEnvelope `json:"error"` // the APIError's .error: the parsed body
	// What the SDK sent; nil for the client of defaults.
	Request *struct {
		Method  string            `json:"method"`
		URL     string            `json:"url"`
		Headers map[string]string `json:"headers"`
		Body    string            `json:"body"`
	} `json:"request"`
}

type sdkEnvelope struct {
	Success *bool       `json:"success"`
	Data    *sdkWebhook `json:"data"`
	Error   *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Meta struct {
		RequestID string `json:"request_id"`
	} `json:"meta"`
}

type sdkWebhook struct {
	ID            string          `json:"id"`
	IsActive      *bool           `json:"is_active"`
	SigningSecret json.RawMessage `json:"signing_secret"` // "null", not absent
}

func (s sdkStep) wantWebhook(t *testing.T, name, id string, active bool) *sdkWebhook {
	t.Helper()
	if !s.OK {
		t.Fatalf("%s: the SDK threw %s (status %d): %s", name, s.Class, s.Status, s.Message)
	}
	b := s.Body
	if s.Status != 0 && s.Status != 200 {
		t.Errorf("%s: status %d, want 200", name, s.Status)
	}
	if b.Success == nil || !*b.Success || b.Error != nil || b.Data == nil {
		t.Fatalf("%s: the SDK resolved to an envelope without success and data: %+v", name, b)
	}
	if b.Data.ID != id || b.Data.IsActive == nil || *b.Data.IsActive != active {
		t.Errorf("%s: data.id %s, is_active %v; want %s, %v", name, b.Data.ID, sdkDeref(b.Data.IsActive), id, active)
	}
	return b.Data
}

// summary is one line of what a step saw.
func (s sdkStep) summary() string {
	if !s.OK {
		code := ""
		if s.Error != nil && s.Error.Error != nil {
			code = s.Error.Error.Code
		}
		return fmt.Sprintf("threw %s status=%d code=%s", s.Class, s.Status, code)
	}
	line := "resolved"
	if s.Status != 0 { // .withResponse()
		line += fmt.Sprintf(" status=%d", s.Status)
	}
	line += " request_id=" + s.Body.Meta.RequestID
	if s.Body.Data != nil {
		line += fmt.Sprintf(" is_active=%v", sdkDeref(s.Body.Data.IsActive))
	}
	for _, h := range []string{"idempotent-replayed", "x-sandbox"} {
		if v, ok := s.Headers[h]; ok {
			line += " " + h + "=" + v
		}
	}
	return line
}

func (s sdkStep) wantAPIError(t *testing.T, name, class string, status int, code string) {
	t.Helper()
	if s.OK {
		t.Fatalf("%s: the SDK resolved, want a thrown %s", name, class)
	}
	if s.Class != class || !s.IsAPIError || s.Status != status {
		t.Errorf("%s: the SDK threw %s (APIError %v) with status %d, want %s with %d", name, s.Class, s.IsAPIError, s.Status, class, status)
	}
	e := s.Error
	if e == nil || e.Success == nil || *e.Success || e.Error == nil || e.Error.Code != code || e.Data != nil {
		t.Errorf("%s: the error's body is %+v, want success false and error.code %s", name, e, code)
	} else if !strings.HasPrefix(e.Meta.RequestID, "req_") {
		t.Errorf("%s: the error's meta.request_id = %q", name, e.Meta.RequestID)
	}
	if !strings.Contains(s.Message, code) {
		t.Errorf("%s: the error's message %q does not mention %s", name, s.Message, code)
	}
}

// sdkInstall puts node_modules in dir: from the cache if it holds this
// package.json's install, else by npm install (then cached). A registry npm
// cannot reach skips the test; any other failure fails it.
func sdkInstall(t *testing.T, npm, dir string) {
	t.Helper()
	h := sha256.New()
	for _, name := range []string{"package.json", "package-lock.json"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		h.Write([]byte(name + "\x00"))
		h.Write(b)
		h.Write([]byte("\x00"))
	}
	key := hex.EncodeToString(h.Sum(nil))[:24]
	var cached string // the cache's directory of this install, "" for none
	if base, err := os.UserCacheDir(); err == nil {
		cached = filepath.Join(base, "sentstub-sdk-test", key)
	}
	if cached != "" {
		if _, err := os.Stat(filepath.Join(cached, "node_modules", "@sentdm", "sentdm", "package.json")); err == nil {
			if err := sdkCopyTree(filepath.Join(cached, "node_modules"), filepath.Join(dir, "node_modules"), ""); err != nil {
				t.Fatalf("copy cached node_modules: %v", err)
			}
			t.Logf("node_modules from the cache %s", cached)
			return
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// Shorter backoffs than npm's (10 s to 60 s), so an unreachable registry
	// skips in seconds rather than a minute.
	cmd := exec.CommandContext(ctx, npm, "install", "--no-audit", "--no-fund",
		"--fetch-retry-mintimeout=2000", "--fetch-retry-maxtimeout=10000")
	cmd.Dir = dir
	cmd.Env = sdkEnviron()
	start := time.Now()
	out, err := cmd.CombinedOutput()
	switch {
	case ctx.Err() != nil:
		sdkSkip(t, "npm install timed out after %v: the npm registry is unreachable or too slow\n%s", time.Since(start).Round(time.Second), out)
	case err != nil && sdkNetworkError.Match(out):
		sdkSkip(t, "npm install could not reach the npm registry to fetch @sentdm/sentdm %s\n%s", sdkVersion, out)
	case err != nil:
		t.Fatalf("npm install: %v\n%s", err, out)
	}
	t.Logf("npm install in %v", time.Since(start).Round(time.Millisecond))
	if cached == "" {
		return
	}
	// Populate the cache atomically: copy beside it, then rename. A
	// concurrent run that renamed first wins; a failure only costs the cache.
	if err := os.MkdirAll(filepath.Dir(cached), 0o755); err != nil {
		t.Logf("not caching node_modules: %v", err)
		return
	}
	tmp, err := os.MkdirTemp(filepath.Dir(cached), key+".tmp-")
	if err != nil {
		t.Logf("not caching node_modules: %v", err)
		return
	}
	defer os.RemoveAll(tmp)
	if err := sdkCopyTree(filepath.Join(dir, "node_modules"), filepath.Join(tmp, "node_modules"), ""); err != nil {
		t.Logf("not caching node_modules: %v", err)
		return
	}
	if err := os.Rename(tmp, cached); err != nil {
		t.Logf("not caching node_modules: %v", err)
	}
}

// sdkNetworkError matches npm's output when it cannot reach the registry.
var sdkNetworkError = regexp.MustCompile(`\b(ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ESOCKETTIMEDOUT|ENETUNREACH|EHOSTUNREACH|ENETDOWN|ENOTCACHED)\b|npm (ERR!|error) network`)

// sdkEnviron is the environment without the SDK's SENT_* settings
// (SENT_BASE_URL, SENT_DM_API_KEY, SENT_LOG, SENT_CUSTOM_HEADERS): the test
// sets what it wants.
func sdkEnviron() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(strings.ToUpper(kv), "SENT_") {
			env = append(env, kv)
		}
	}
	return env
}

// sdkCopyTree copies the directory src to dst (which must not exist),
// symbolic links included, leaving out any entry named skip.
func sdkCopyTree(src, dst, skip string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if skip != "" && d.Name() == skip && rel != "." {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(path)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		default:
			info, err := d.Info()
			if err != nil {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			return os.WriteFile(target, b, info.Mode().Perm())
		}
	})
}

func sdkSameJSON(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return bytes.Equal(xb, yb)
}

func sdkRaw(m json.RawMessage) string {
	if m == nil {
		return "(absent)"
	}
	return string(m)
}

func sdkDeref(b *bool) any {
	if b == nil {
		return "(absent)"
	}
	return *b
}
