// Command promtail_pipeline measures how fast a rendered Promtail pipeline
// moves log lines, with Go's regexp engine (the one Promtail runs).
//
// It reads a JSON document {"pipelines": {"<name>": [stages...]}, "lines":
// [...], "rounds": N} on stdin, runs every pipeline over the lines N times,
// interleaved so that machine noise hits all of them alike, and prints one
// JSON object per pipeline with its median lines-per-second figure.
//
// The model follows Promtail 3.6.15 (grafana/loki, clients/pkg/logentry/
// stages): each stage is a goroutine joined to the next by an unbuffered
// channel; a replace stage runs FindStringSubmatch and then
// FindAllStringSubmatchIndex on every line and parses its template for every
// line that matched; a match stage checks its label matchers and line
// filters (`|=` is bytes.Contains, `|~` an unsimplified regexp) and hands
// matching entries to a nested pipeline whose output a relay goroutine
// merges back. Its selectors are read in Promtail's own grammar
// (clients/pkg/logentry/logql/expr.y: no `or`, no parsers, no label
// filters) with Go's text/scanner as Promtail lexes them, so the model
// refuses what Promtail refuses. Written from that description with the
// standard library only. Left out: JSON paths are plain dotted lookups and
// `||` where Promtail runs JMESPath; a pipeline does not copy labels into
// the extracted map at its start; templates get only the functions the
// rendered stages use; Promtail's reading, batching and sending. An
// unknown stage type is an error, so the model cannot silently drift from
// the rendered config. The figures that count are the real Promtail's
// (bench/log_redaction.py --promtail); this model is what `make bench`
// runs where no Promtail binary is at hand.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/scanner"
	"text/template"
	"time"
)

type entry struct {
	labels    map[string]string
	extracted map[string]any
	metadata  map[string]string
	line      string
	ts        time.Time
}

// stage turns a channel of entries into another, like Promtail's Stage.Run.
type stage func(in chan entry) chan entry

// processor is a synchronous stage body; false drops the entry.
type processor func(e *entry) bool

func run(p processor) stage {
	return func(in chan entry) chan entry {
		out := make(chan entry)
		go func() {
			defer close(out)
			for e := range in {
				if p(&e) {
					out <- e
				}
			}
		}()
		return out
	}
}

var templateFuncs = template.FuncMap{
	"ToLower": strings.ToLower, "ToUpper": strings.ToUpper, "TrimSpace": strings.TrimSpace, "TrimSuffix": strings.TrimSuffix,
	// sprig's regexMatch, which Promtail's template functions include.
	"regexMatch": func(pattern, s string) bool { return regexp.MustCompile(pattern).MatchString(s) },
}

func asString(v any) (string, bool) {
	switch t := v.(type) {
	case string:
		return t, true
	case nil:
		return "", false
	default:
		b, err := json.Marshal(t)
		return string(b), err == nil
	}
}

func replaceStage(cfg map[string]any) processor {
	re := regexp.MustCompile(cfg["expression"].(string))
	replacement := cfg["replace"].(string)
	return func(e *entry) bool {
		re.FindStringSubmatch(e.line) // Promtail keeps it for named groups
		all := re.FindAllStringSubmatchIndex(e.line, -1)
		if all == nil {
			return true
		}
		data := map[string]string{}
		for k, v := range e.extracted {
			if s, ok := asString(v); ok {
				data[k] = s
			}
		}
		tmpl := template.Must(template.New("replace").Funcs(templateFuncs).Parse(replacement))
		var out strings.Builder
		last := 0
		for _, m := range all {
			for i := 2; i < len(m); i += 2 {
				if m[i] < 0 || (last != 0 && m[i] < last) {
					continue
				}
				data["Value"] = e.line[m[i]:m[i+1]]
				var buf bytes.Buffer
				if err := tmpl.Execute(&buf, data); err != nil {
					panic(err)
				}
				out.WriteString(e.line[last:m[i]])
				out.WriteString(buf.String())
				last = m[i+1]
			}
		}
		out.WriteString(e.line[last:])
		e.line = out.String()
		return true
	}
}

type lineFilter func([]byte) bool

// positiveFilter finds one string: `|=` and `!=` with bytes.Contains, `|~`
// and `!~` with an unsimplified regexp.
func positiveFilter(op, value string) lineFilter {
	if op == "|=" || op == "!=" {
		literal := []byte(value)
		return func(b []byte) bool { return bytes.Contains(b, literal) }
	}
	return regexp.MustCompile(value).Match
}

// selectorTokens lexes a match selector as Promtail's does: Go's
// text/scanner in its default mode (comments skipped), a String token
// unquoted with strconv.Unquote, an operator as the token plus the next
// character when that pair is one, anything else an identifier.
func selectorTokens(selector string) []string {
	operators := map[string]bool{",": true, ".": true, "{": true, "}": true, "=": true, "!=": true, "=~": true, "!~": true, "|=": true, "|~": true}
	var s scanner.Scanner
	s.Init(strings.NewReader(selector))
	s.Error = func(_ *scanner.Scanner, msg string) { panic("selector " + selector + ": " + msg) }
	var tokens []string
	for r := s.Scan(); r != scanner.EOF; r = s.Scan() {
		text := s.TokenText()
		switch {
		case r == scanner.String:
			value, err := strconv.Unquote(text)
			if err != nil {
				panic("selector " + selector + ": " + err.Error())
			}
			tokens = append(tokens, "S"+value)
		case operators[text+string(s.Peek())]:
			tokens = append(tokens, "O"+text+string(s.Next()))
		case operators[text]:
			tokens = append(tokens, "O"+text)
		default:
			tokens = append(tokens, "I"+text)
		}
	}
	return tokens
}

// parseSelector reads a selector in the grammar of Promtail's match stage
// (clients/pkg/logentry/logql/expr.y at v3.6.15): `{name OP "v", ...}` with
// OP one of = != =~ !~, then any number of `|=`, `!=`, `|~`, `!~` filters
// over one string each, ANDed left to right. Nothing else: an `or`, a
// parser or a label filter panics here as Promtail refuses to start.
func parseSelector(selector string) (func(map[string]string) bool, lineFilter) {
	tokens := selectorTokens(selector)
	take := func(kind byte, allowed ...string) string {
		if len(tokens) == 0 || tokens[0][0] != kind {
			panic(fmt.Sprintf("selector %s: syntax error at %q", selector, tokens))
		}
		value := tokens[0][1:]
		tokens = tokens[1:]
		for _, a := range allowed {
			if value == a {
				return value
			}
		}
		if len(allowed) > 0 {
			panic(fmt.Sprintf("selector %s: unexpected %q, expecting one of %v", selector, value, allowed))
		}
		return value
	}
	type matcher struct {
		name, op string
		re       *regexp.Regexp
		value    string
	}
	var matchers []matcher
	take('O', "{")
	for {
		name := take('I')
		op := take('O', "=", "!=", "=~", "!~")
		value := take('S')
		// Prometheus' labels.NewMatcher anchors a regex as ^(?s:...)$.
		matchers = append(matchers, matcher{name, op, regexp.MustCompile("^(?s:" + value + ")$"), value})
		if take('O', ",", "}") == "}" {
			break
		}
	}
	labelsMatch := func(labels map[string]string) bool {
		for _, m := range matchers {
			v := labels[m.name]
			var ok bool
			switch {
			case m.op == "=":
				ok = v == m.value
			case m.op == "!=":
				ok = v != m.value
			case m.value == ".*": // Prometheus' FastRegexMatcher runs no regex for these
				ok = m.op == "=~"
			case m.value == ".+":
				ok = (v != "") == (m.op == "=~")
			default:
				ok = m.re.MatchString(v) == (m.op == "=~")
			}
			if !ok {
				return false
			}
		}
		return true
	}
	var filters []lineFilter
	for len(tokens) > 0 {
		op := take('O', "|=", "!=", "|~", "!~")
		found := positiveFilter(op, take('S'))
		negated := op == "!=" || op == "!~"
		filters = append(filters, func(b []byte) bool { return found(b) != negated })
	}
	return labelsMatch, func(b []byte) bool {
		for _, f := range filters {
			if !f(b) {
				return false
			}
		}
		return true
	}
}

func matchStage(cfg map[string]any) stage {
	labelsMatch, filter := parseSelector(cfg["selector"].(string))
	nested := buildPipeline(cfg["stages"].([]any))
	return func(in chan entry) chan entry {
		next, out := make(chan entry), make(chan entry)
		nestedOut := nested(next)
		done := make(chan struct{})
		go func() { // the relay Promtail runs for the nested pipeline's output
			for e := range nestedOut {
				out <- e
			}
			close(done)
		}()
		go func() {
			for e := range in {
				if labelsMatch(e.labels) && filter([]byte(e.line)) {
					next <- e
				} else {
					out <- e
				}
			}
			close(next)
			<-done
			close(out)
		}()
		return out
	}
}

func multilineStage(cfg map[string]any) stage {
	first := regexp.MustCompile(cfg["firstline"].(string))
	return func(in chan entry) chan entry {
		out := make(chan entry)
		go func() {
			defer close(out)
			buffers := map[uint64]*entry{}
			for e := range in {
				h := fnv.New64a()
				keys := make([]string, 0, len(e.labels))
				for k := range e.labels {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				for _, k := range keys {
					h.Write([]byte(k + "\xff" + e.labels[k] + "\xff"))
				}
				key := h.Sum64()
				held := buffers[key]
				if first.MatchString(e.line) || held == nil {
					if held != nil {
						out <- *held
					}
					copy := e
					buffers[key] = &copy
				} else {
					held.line += "\n" + e.line
				}
			}
			for _, held := range buffers {
				out <- *held
			}
		}()
		return out
	}
}

// jsonPath evaluates the JMESPath subset the rendered config uses: dotted
// field paths joined by `||` (the first that is not null wins).
func jsonPath(doc any, expression string) any {
	for _, path := range strings.Split(expression, "||") {
		if v := dottedPath(doc, strings.TrimSpace(path)); v != nil {
			return v
		}
	}
	return nil
}

func dottedPath(doc any, path string) any {
	for _, part := range strings.Split(path, ".") {
		object, ok := doc.(map[string]any)
		if !ok {
			return nil
		}
		doc = object[part]
	}
	return doc
}

func jsonStage(cfg map[string]any) processor {
	expressions := cfg["expressions"].(map[string]any)
	return func(e *entry) bool {
		var doc any
		if json.Unmarshal([]byte(e.line), &doc) != nil {
			return true
		}
		for name, path := range expressions {
			if path == nil {
				path = name
			}
			if v := jsonPath(doc, path.(string)); v != nil {
				e.extracted[name], _ = asString(v)
			}
		}
		return true
	}
}

func regexStage(cfg map[string]any) processor {
	re := regexp.MustCompile(cfg["expression"].(string))
	return func(e *entry) bool {
		m := re.FindStringSubmatch(e.line)
		for i, name := range re.SubexpNames() {
			if m != nil && name != "" {
				e.extracted[name] = m[i]
			}
		}
		return true
	}
}

func templateStage(cfg map[string]any) processor {
	source := cfg["source"].(string)
	tmpl := template.Must(template.New("t").Funcs(templateFuncs).Parse(cfg["template"].(string)))
	return func(e *entry) bool {
		data := map[string]any{"Entry": e.line}
		for k, v := range e.extracted {
			if s, ok := asString(v); ok {
				data[k] = s
				if k == source {
					data["Value"] = s
				}
			}
		}
		var buf bytes.Buffer
		if tmpl.Execute(&buf, data) != nil {
			return true // Promtail logs at debug level and leaves the entry as it was
		}
		if buf.Len() == 0 {
			delete(e.extracted, source)
		} else {
			e.extracted[source] = buf.String()
		}
		return true
	}
}

func dropStage(cfg map[string]any) processor {
	re := regexp.MustCompile(cfg["expression"].(string))
	source := cfg["source"].(string)
	return func(e *entry) bool {
		v, ok := asString(e.extracted[source])
		return !(ok && re.MatchString(v))
	}
}

func copyStage(cfg map[string]any, into func(*entry) map[string]string) processor {
	return func(e *entry) bool {
		for name, source := range cfg {
			if source == nil {
				source = name
			}
			if v, ok := asString(e.extracted[source.(string)]); ok && v != "" {
				into(e)[name] = v
			}
		}
		return true
	}
}

func staticLabelsStage(cfg map[string]any) processor {
	return func(e *entry) bool {
		for k, v := range cfg {
			e.labels[k] = v.(string)
		}
		return true
	}
}

func timestampStage(cfg map[string]any) processor {
	source := cfg["source"].(string)
	return func(e *entry) bool {
		if v, ok := asString(e.extracted[source]); ok {
			if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
				e.ts = t
			}
		}
		return true
	}
}

func labelDropStage(names []any) processor {
	return func(e *entry) bool {
		for _, name := range names {
			delete(e.labels, name.(string))
		}
		return true
	}
}

// outputStage sets the line to an extracted value, if there is one.
func outputStage(cfg map[string]any) processor {
	source := cfg["source"].(string)
	return func(e *entry) bool {
		if s, ok := asString(e.extracted[source]); ok {
			e.line = s
		}
		return true
	}
}

func buildStage(kind string, raw any) stage {
	if kind == "labeldrop" {
		return run(labelDropStage(raw.([]any)))
	}
	cfg, _ := raw.(map[string]any)
	if cfg == nil {
		cfg = map[string]any{}
	}
	switch kind {
	case "match":
		return matchStage(cfg)
	case "multiline":
		return multilineStage(cfg)
	case "replace":
		return run(replaceStage(cfg))
	case "json":
		return run(jsonStage(cfg))
	case "regex":
		return run(regexStage(cfg))
	case "template":
		return run(templateStage(cfg))
	case "drop":
		return run(dropStage(cfg))
	case "labels":
		return run(copyStage(cfg, func(e *entry) map[string]string { return e.labels }))
	case "structured_metadata":
		return run(copyStage(cfg, func(e *entry) map[string]string { return e.metadata }))
	case "static_labels":
		return run(staticLabelsStage(cfg))
	case "timestamp":
		return run(timestampStage(cfg))
	case "output":
		return run(outputStage(cfg))
	}
	panic("unknown stage type " + kind + ": teach bench/promtail_pipeline/main.go")
}

func buildPipeline(stages []any) stage {
	var built []stage
	for _, s := range stages {
		for kind, cfg := range s.(map[string]any) {
			built = append(built, buildStage(kind, cfg))
		}
	}
	return func(in chan entry) chan entry {
		for _, s := range built {
			in = s(in)
		}
		return in
	}
}

// linesPerSecond pushes every line through a fresh instance of the pipeline.
func linesPerSecond(pipeline stage, lines []string, labels map[string]string) (float64, int) {
	in := make(chan entry)
	out := pipeline(in)
	start := time.Now()
	go func() {
		for _, line := range lines {
			l := make(map[string]string, len(labels))
			for k, v := range labels {
				l[k] = v
			}
			in <- entry{labels: l, extracted: map[string]any{}, metadata: map[string]string{}, line: line}
		}
		close(in)
	}()
	kept := 0
	for range out {
		kept++
	}
	return float64(len(lines)) / time.Since(start).Seconds(), kept
}

func main() {
	var input struct {
		Pipelines map[string][]any  `json:"pipelines"`
		Lines     []string          `json:"lines"`
		Labels    map[string]string `json:"labels"`
		Rounds    int               `json:"rounds"`
	}
	if err := json.NewDecoder(os.Stdin).Decode(&input); err != nil {
		fmt.Fprintln(os.Stderr, "promtail_pipeline: bad input:", err)
		os.Exit(2)
	}
	names := make([]string, 0, len(input.Pipelines))
	for name := range input.Pipelines {
		names = append(names, name)
	}
	sort.Strings(names)
	rates := map[string][]float64{}
	kept := map[string]int{}
	for round := 0; round < input.Rounds; round++ {
		for _, name := range names {
			rate, n := linesPerSecond(buildPipeline(input.Pipelines[name]), input.Lines, input.Labels)
			rates[name] = append(rates[name], rate)
			kept[name] = n
		}
	}
	for _, name := range names {
		sort.Float64s(rates[name])
		median := rates[name][len(rates[name])/2]
		out, _ := json.Marshal(map[string]any{"pipeline": name, "lines_per_second": median, "lines_out": kept[name]})
		fmt.Println(string(out))
	}
}
