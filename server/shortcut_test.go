package server_test

import (
	"context"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"

	"github.com/sentstub/sentstub/api"
	"github.com/sentstub/sentstub/gen"
	"github.com/sentstub/sentstub/server"
)

// shortcutCorpus is what the tests below send through every compiled
// parameter check: ids, keys and delays, valid and not, empty, long and
// non-ASCII.
var shortcutCorpus = []string{
	orderID, strings.ToUpper(orderID), "01890a5d-ac96-774b-bcce-b302099a8057", "d4f5a6b7c8d94e0fa1b2c3d4e5f6a7b8",
	"d4f5a6b7-c8d9-4e0f-a1b2-c3d4e5f6a7b", "g4f5a6b7-c8d9-4e0f-a1b2-c3d4e5f6a7b8", "{" + orderID + "}", " " + orderID,
	"req_abc123_retry1", "a", "a b", "bad key!", "ключ", strings.Repeat("k", 255), strings.Repeat("k", 256),
	"500ms", "30s", "99999s", "123456ms", "7s;", "7S", "", " ", "\t", "-", "_", "x\x00y", "é",
	// The bytes either side of the Idempotency-Key's ranges.
	"k/", "k:", "@k", "k[", "`k", "k{", "k,", "k.", "^", "k\x7f",
}

// kinVerdict is kin-openapi's judgement of value for p, sent (present) or
// not, with the options the server validates with.
func kinVerdict(t testing.TB, doc *openapi3.T, p *openapi3.Parameter, value string, present bool) error {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://stub/", nil)
	if err != nil {
		t.Fatal(err)
	}
	input := &openapi3filter.RequestValidationInput{Request: req, PathParams: map[string]string{},
		Options: &openapi3filter.Options{MultiError: true, SkipSettingDefaults: true, SchemaValidationOptions: doc.GetSchemaValidationOptions()}}
	if present {
		if p.In == openapi3.ParameterInPath {
			input.PathParams[p.Name] = value
		} else {
			req.Header[http.CanonicalHeaderKey(p.Name)] = []string{value}
		}
	}
	return openapi3filter.ValidateParameter(context.Background(), input, p)
}

func preparedDoc(t testing.TB) *openapi3.T {
	t.Helper()
	doc, err := gen.GetSwagger()
	if err != nil {
		t.Fatal(err)
	}
	if err := api.Prepare(context.Background(), doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

func mustParamShortcuts(t testing.TB) []server.ParamShortcut {
	t.Helper()
	checks, _, err := server.ParamShortcuts()
	if err != nil {
		t.Fatal(err)
	}
	return checks
}

// The validation shortcut passes a parameter value only when kin-openapi
// would, and it passes every non-empty ASCII value kin-openapi accepts, so
// that valid requests take it. Operations whose parameters all compile
// include the ten webhook operations; list operations take query
// parameters, which are kin-openapi's alone.
func TestValidShortcutAgreesWithKin(t *testing.T) {
	doc := preparedDoc(t)
	checks, incomplete, err := server.ParamShortcuts()
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"toggleWebhookStatus", "retrieveWebhook", "updateWebhook", "deleteWebhook",
		"rotateWebhookSecret", "testWebhook", "createWebhook", "listWebhookEventTypes"} {
		if slices.Contains(incomplete, id) {
			t.Errorf("%s: the shortcut does not cover every parameter; incomplete: %v", id, incomplete)
		}
	}
	if len(checks) == 0 {
		t.Fatal("no parameter has a compiled check")
	}
	for _, c := range checks {
		for _, present := range []bool{false, true} {
			for _, value := range shortcutCorpus {
				if !present && value != "" {
					continue
				}
				fast := c.Valid(value, present)
				kin := kinVerdict(t, doc, c.Param, value, present)
				if fast && kin != nil {
					t.Errorf("%s %s %q (sent %v): shortcut passes what kin-openapi refuses: %v", c.OperationID, c.Param.Name, value, present, kin)
				}
				surely := !present || value != "" && !strings.ContainsFunc(value, func(r rune) bool { return r >= 0x80 })
				if !fast && kin == nil && surely {
					t.Errorf("%s %s %q (sent %v): kin-openapi accepts it, the shortcut does not", c.OperationID, c.Param.Name, value, present)
				}
			}
		}
	}
}

// FuzzValidShortcut holds every compiled check to kin-openapi on arbitrary
// values: the shortcut never passes what kin-openapi refuses. The seed
// corpus runs in every `go test`.
func FuzzValidShortcut(f *testing.F) {
	for _, v := range shortcutCorpus {
		f.Add(v)
	}
	doc := preparedDoc(f)
	checks := mustParamShortcuts(f)
	f.Fuzz(func(t *testing.T, value string) {
		for _, c := range checks {
			if c.Valid(value, true) {
				if err := kinVerdict(t, doc, c.Param, value, true); err != nil {
					t.Errorf("%s %s %q: shortcut passes what kin-openapi refuses: %v", c.OperationID, c.Param.Name, value, err)
				}
			}
		}
	})
}

// A body kin-openapi validated once is recognised again only under the
// same Content-Type, and binds as it did the first time: the exact member
// names, an unknown one ignored.
func TestValidShortcutBodies(t *testing.T) {
	e := newEnv(t, nil)
	body := str(`{"is_active": false}`)
	if got := wantOK(t, e.toggle(t, orderID, body))["is_active"]; got != false {
		t.Fatalf("is_active = %v, want false", got)
	}
	for range 2 {
		r := e.toggle(t, orderID, body, "Content-Type", "<unset>", "Content-Type", "text/plain")
		wantError(t, r, http.StatusBadRequest, "VALIDATION_001", "Request validation failed")
		if got := r.Env.Error.Details["Content-Type"]; !slices.Equal(got, []string{"must be application/json"}) {
			t.Errorf("details[Content-Type] = %v", got)
		}
	}
	if got := wantOK(t, e.toggle(t, orderID, str(`{"is_active": true}`)))["is_active"]; got != true {
		t.Fatalf("is_active = %v, want true", got)
	}
	// Not is_active: each toggle flips the state, the second as the first.
	for _, want := range []bool{false, true, false} {
		if got := wantOK(t, e.toggle(t, orderID, str(`{"IS_ACTIVE": true}`)))["is_active"]; got != want {
			t.Fatalf("is_active = %v, want %v", got, want)
		}
	}
	for range 2 {
		r := e.toggle(t, orderID, str(`{"is_active": "false"}`))
		wantError(t, r, http.StatusBadRequest, "VALIDATION_001", "Request validation failed")
	}
}

// A pattern that is one character class repeated over the whole value is
// checked by a table of bytes, which agrees with the regular expression on
// every ASCII value of one and two bytes; any other pattern keeps its
// regular expression.
func TestByteClassRun(t *testing.T) {
	for _, pattern := range []string{`^[a-zA-Z0-9_-]+$`, `^[^a-c]+$`, `(?i)^[a-f]+$`, `^[ -~]*$`, `^[\d\s]+$`} {
		spans, ok := server.ByteClassRun(pattern)
		if !ok {
			t.Errorf("%s: no table", pattern)
			continue
		}
		re := regexp.MustCompile(pattern)
		for a := 1; a < 0x80; a++ {
			for b := -1; b < 0x80; b++ {
				v := string(rune(a))
				if b >= 0 {
					v += string(rune(b))
				}
				if got, want := spans(v), re.MatchString(v); got != want {
					t.Fatalf("%s %q: table says %v, regexp %v", pattern, v, got, want)
				}
			}
		}
	}
	for _, pattern := range []string{`^[a-z]+`, `[a-z]+$`, `^[a-z]{2,5}$`, `^(a|b)+$`, `^[a-z]+[0-9]$`, `^a+$`, `^.+$`} {
		if _, ok := server.ByteClassRun(pattern); ok {
			t.Errorf("%s: checked by a table, which cannot express it", pattern)
		}
	}
}
