package server

import (
	"io"
	"net/http"
	"regexp"
	"regexp/syntax"
	"sync"
	"sync/atomic"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"
	"github.com/labstack/echo/v4"

	"github.com/sentstub/sentstub/api"
)

// A request that kin-openapi would accept is most often recognised as such
// without it: kin-openapi decodes every parameter through its serialization
// machinery and the body into a fresh value, which was a sixth of a
// toggle's time. Each operation's validShortcut answers "valid" only when
// it is sure: every parameter passes a check compiled from its schema once,
// and the body (if any) is one that kin-openapi validated before under the
// same Content-Type. Anything else, every invalid request included, is
// validated by kin-openapi exactly as before, so that the answer to a bad
// request never depends on the shortcut. TestValidShortcutAgreesWithKin
// holds each check to kin-openapi's verdict.

// validShortcut is an operation's shortcut; see above.
type validShortcut struct {
	params   []paramCheck // in the order of operationParameters
	complete bool         // every parameter has a check
	body     *openapi3.RequestBody
	bodies   bodyMemo
}

// paramCheck is a path or header parameter of type string whose schema
// constrains no more than length, pattern and the uuid format.
type paramCheck struct {
	name     string // canonical, for a header
	inPath   bool
	required bool
	min      uint64
	max      *uint64
	pattern  func(string) bool // nil: none
	uuid     bool
}

// newValidShortcut compiles the shortcut of route's operation.
func newValidShortcut(route *routers.Route) *validShortcut {
	v := &validShortcut{complete: true}
	if rb := route.Operation.RequestBody; rb != nil {
		v.body = rb.Value
	}
	for _, p := range operationParameters(route.PathItem, route.Operation) {
		v.add(p)
	}
	return v
}

// operationParameters lists the parameters of op on item in the order
// kin-openapi validates them: the path item's, less those op overrides,
// then op's own.
func operationParameters(item *openapi3.PathItem, op *openapi3.Operation) []*openapi3.Parameter {
	var params []*openapi3.Parameter
	for _, ref := range item.Parameters {
		if op.Parameters.GetByInAndName(ref.Value.In, ref.Value.Name) == nil {
			params = append(params, ref.Value)
		}
	}
	for _, ref := range op.Parameters {
		params = append(params, ref.Value)
	}
	return params
}

func (v *validShortcut) add(p *openapi3.Parameter) {
	check, ok := compileParamCheck(p)
	if !ok {
		v.complete = false
		return
	}
	v.params = append(v.params, check)
}

// compileParamCheck returns the check of p, or false when p's schema asks
// for more than paramCheck knows.
func compileParamCheck(p *openapi3.Parameter) (paramCheck, bool) {
	if p.Content != nil || p.Schema == nil || p.Schema.Value == nil || p.AllowEmptyValue ||
		(p.In != openapi3.ParameterInPath && p.In != openapi3.ParameterInHeader) ||
		(p.Style != "" && p.Style != openapi3.SerializationSimple) {
		return paramCheck{}, false
	}
	s := p.Schema.Value
	if !s.Type.Is(openapi3.TypeString) || len(s.Enum) > 0 || s.Const != nil || s.Not != nil ||
		len(s.AllOf) > 0 || len(s.AnyOf) > 0 || len(s.OneOf) > 0 || (s.Format != "" && s.Format != "uuid") {
		return paramCheck{}, false
	}
	c := paramCheck{name: p.Name, inPath: p.In == openapi3.ParameterInPath, required: p.Required,
		min: s.MinLength, max: s.MaxLength, uuid: s.Format == "uuid"}
	if !c.inPath {
		c.name = http.CanonicalHeaderKey(p.Name)
	}
	if s.Pattern != "" {
		re, err := regexp.Compile(s.Pattern)
		if err != nil {
			return paramCheck{}, false
		}
		c.pattern = re.MatchString
		if set, ok := byteClassRun(s.Pattern); ok {
			c.pattern = set.spans
		}
	}
	return c, true
}

// byteSet is the ASCII bytes of a character class.
type byteSet [128]bool

// byteClassRun returns the class of a pattern that is one character class
// repeated from the start of the value to its end, such as the
// Idempotency-Key's ^[a-zA-Z0-9_-]+$: a value matches it when it is not
// empty and every byte is in the class (the check is called with neither
// empty nor non-ASCII values). Matching it by table instead of by regexp
// was 1.5% of a keyed toggle's CPU.
func byteClassRun(pattern string) (*byteSet, bool) {
	re, err := syntax.Parse(pattern, syntax.Perl) // as regexp.Compile parses
	if err != nil {
		return nil, false
	}
	re = re.Simplify()
	if re.Op != syntax.OpConcat || len(re.Sub) != 3 || re.Sub[0].Op != syntax.OpBeginText ||
		re.Sub[2].Op != syntax.OpEndText {
		return nil, false
	}
	run := re.Sub[1]
	if run.Op != syntax.OpPlus && run.Op != syntax.OpStar || run.Sub[0].Op != syntax.OpCharClass {
		return nil, false
	}
	var set byteSet
	ranges := run.Sub[0].Rune
	for i := 0; i+1 < len(ranges); i += 2 {
		for c := ranges[i]; c <= ranges[i+1] && c < rune(len(set)); c++ {
			set[c] = true
		}
	}
	return &set, true
}

// spans reports whether value is one or more bytes of set.
func (set *byteSet) spans(value string) bool {
	for i := 0; i < len(value); i++ {
		if value[i] >= byte(len(set)) || !set[value[i]] {
			return false
		}
	}
	return value != ""
}

// valid reports whether value, sent (present) or not, surely passes the
// parameter's schema. An empty or non-ASCII value is never sure: kin-openapi
// has rules of its own for empty values, and counts length in UTF-16.
func (c *paramCheck) valid(value string, present bool) bool {
	if !present {
		return !c.required
	}
	if value == "" {
		return false
	}
	for i := 0; i < len(value); i++ {
		if value[i] >= 0x80 {
			return false
		}
	}
	n := uint64(len(value))
	return n >= c.min && (c.max == nil || n <= *c.max) &&
		(!c.uuid || api.ValidUUID(value)) && (c.pattern == nil || c.pattern(value))
}

// passes reports whether req, with its path parameters params and its body
// as validate read it, surely passes kin-openapi. When it does, the body on
// req carries the validated value, as kin-openapi would leave it.
func (v *validShortcut) passes(req *http.Request, params map[string]string, body []byte) bool {
	if !v.paramsValid(req, params) {
		return false
	}
	switch {
	case v.body == nil:
		return true
	case len(body) == 0:
		return !v.body.Required
	}
	value, ok := v.bodies.lookup(req.Header.Get(echo.HeaderContentType), body)
	if !ok {
		return false
	}
	req.Body = validatedBody{ReadCloser: req.Body, value: copyJSON(value)}
	return true
}

// learn remembers the body of req, which kin-openapi has just validated
// and left its value on.
func (v *validShortcut) learn(req *http.Request, body []byte) {
	if vb, ok := req.Body.(interface{ ValidatedValue() any }); ok && len(body) > 0 {
		v.bodies.remember(req.Header.Get(echo.HeaderContentType), body, vb.ValidatedValue())
	}
}

// paramsValid reports whether every parameter of req, with its path
// parameters params, surely passes, read the way kin-openapi reads them.
func (v *validShortcut) paramsValid(req *http.Request, params map[string]string) bool {
	if !v.complete {
		return false
	}
	for i := range v.params {
		c := &v.params[i]
		var value string
		var present bool
		if c.inPath {
			value, present = params[c.name]
			present = present && value != ""
		} else if values := req.Header[c.name]; len(values) > 0 {
			value, present = values[0], true
		} else if values != nil {
			return false // sent with no value: kin-openapi's to judge
		}
		if !c.valid(value, present) {
			return false
		}
	}
	return true
}

// bodyMemo remembers the bodies kin-openapi found valid, by Content-Type
// and bytes, with the value it validated. Validation depends on nothing
// else, and the document does not change while the server runs. Only small
// bodies are kept, and at most maxMemoBodies of them: when it is full it
// starts again, so that it follows what clients send now.
type bodyMemo struct {
	m sync.Map // memoKey -> any
	n atomic.Int32
}

const (
	maxMemoBody   = 256
	maxMemoBodies = 1024
)

type memoKey struct{ contentType, body string }

func (m *bodyMemo) lookup(contentType string, body []byte) (any, bool) {
	if len(body) > maxMemoBody {
		return nil, false
	}
	v, ok := m.m.Load(memoKey{contentType, string(body)})
	return v, ok
}

func (m *bodyMemo) remember(contentType string, body []byte, value any) {
	if len(body) > maxMemoBody {
		return
	}
	if m.n.Add(1) > maxMemoBodies {
		m.m.Clear()
		m.n.Store(1)
	}
	m.m.Store(memoKey{contentType, string(body)}, copyJSON(value))
}

// copyJSON copies a value decoded from JSON: the memo's values are shared
// by every request that sends the same body, and each gets its own.
func copyJSON(v any) any {
	switch v := v.(type) {
	case map[string]any:
		c := make(map[string]any, len(v))
		for k, e := range v {
			c[k] = copyJSON(e)
		}
		return c
	case []any:
		c := make([]any, len(v))
		for i, e := range v {
			c[i] = copyJSON(e)
		}
		return c
	default:
		return v // nil, bool, float64, string, json.Number: immutable
	}
}

// validatedBody is the body left on a request that the shortcut passed:
// what kin-openapi's KeepValidatedValue leaves, the value the generated
// handler binds.
type validatedBody struct {
	io.ReadCloser
	value any
}

func (b validatedBody) ValidatedValue() any { return b.value }
