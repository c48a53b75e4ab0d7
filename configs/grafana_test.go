package configs_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/troupe-chat/troupe/cmd/troupe/app/apptest"
	"github.com/troupe-chat/troupe/metrics"
	"github.com/troupe-chat/troupe/metrics/registry"
)

// dashboardFile is the Grafana dashboard checked here, relative to this package.
const dashboardFile = "grafana/troupe.json"

// gridColumns is the width of Grafana's dashboard grid.
const gridColumns = 24

// metricKind says how a metric family's name may appear in a query.
type metricKind int

const (
	kindGauge     metricKind = iota // gauge or untyped: queried bare
	kindCounter                     // queried under rate, irate or increase
	kindHistogram                   // only name_bucket, name_sum and name_count exist
	kindSummary                     // name{quantile=…} bare; name_sum and name_count are counters
)

func (k metricKind) String() string {
	return [...]string{"gauge", "counter", "histogram", "summary"}[k]
}

func kindOf(t dto.MetricType) metricKind {
	switch t {
	case dto.MetricType_COUNTER:
		return kindCounter
	case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
		return kindHistogram
	case dto.MetricType_SUMMARY:
		return kindSummary
	default:
		return kindGauge
	}
}

// recordingRegisterer registers with the wrapped registerer and remembers every
// collector, so vector families can be named before they have any children (a
// registry's Gather leaves them out until then).
type recordingRegisterer struct {
	prometheus.Registerer
	collectors []prometheus.Collector
}

func (r *recordingRegisterer) Register(c prometheus.Collector) error {
	r.collectors = append(r.collectors, c)
	return r.Registerer.Register(c)
}

func (r *recordingRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

var descName = regexp.MustCompile(`fqName: "([^"]+)"`)

// registeredFamilies returns every metric family a troupe server's registry can
// export, with its kind: the Go and process collectors of registry.New and every
// collector metrics.New registers, observed or not. fresh lists the families a
// Gather of the new registry returns, which a live server exports from the start.
func registeredFamilies(t *testing.T) (known map[string]metricKind, fresh []string) {
	t.Helper()
	reg := registry.New()
	rec := &recordingRegisterer{Registerer: reg}
	metrics.New(rec)

	known = map[string]metricKind{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather a fresh registry: %v", err)
	}
	for _, mf := range mfs {
		known[mf.GetName()] = kindOf(mf.GetType())
		fresh = append(fresh, mf.GetName())
	}

	for _, c := range rec.collectors {
		descs := make(chan *prometheus.Desc, 16)
		go func() { c.Describe(descs); close(descs) }()
		for d := range descs {
			m := descName.FindStringSubmatch(d.String())
			if m == nil {
				t.Fatalf("cannot read the metric name from %s", d)
			}
			name := m[1]
			if _, ok := known[name]; ok {
				continue // gathered: its type is known
			}
			switch c.(type) {
			case *prometheus.CounterVec:
				known[name] = kindCounter
			case *prometheus.GaugeVec:
				known[name] = kindGauge
			case *prometheus.HistogramVec:
				known[name] = kindHistogram
			case *prometheus.SummaryVec:
				known[name] = kindSummary
			default:
				t.Fatalf("metric %s: collector %T exports nothing before use and its type is unknown to this test; teach registeredFamilies about it", name, c)
			}
		}
	}
	return known, fresh
}

// scrapeLive starts a real troupe server and returns the families its /metrics
// endpoint exports, keyed by name.
func scrapeLive(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	a := apptest.Start(t, "--api-key", "k")

	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + a.Addr.String() + "/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse scrape: %v", err)
	}
	return fams
}

// TestGrafanaDashboard checks that every metric the dashboard queries is one a
// troupe server exports, used the way its type allows, that every troupe_
// family has a panel, and that the layout is one Grafana accepts.
func TestGrafanaDashboard(t *testing.T) {
	known, fresh := registeredFamilies(t)
	live := scrapeLive(t)

	// The server must serve the registry modelled here: everything a fresh
	// registry gathers is exported from the start.
	for _, name := range fresh {
		if _, ok := live[name]; !ok {
			t.Errorf("a fresh registry gathers %s but the live server does not export it", name)
		}
	}
	// Anything else the server exports counts as known too.
	for name, mf := range live {
		if _, ok := known[name]; !ok {
			t.Logf("the live server exports %s, which registry.New and metrics.New do not register", name)
			known[name] = kindOf(mf.GetType())
		}
	}

	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	res := checkDashboard(raw, known)
	for _, p := range res.problems {
		t.Error(p)
	}
	for _, name := range unusedFamilies(known, res.used) {
		t.Errorf("troupe exports %s but no panel of %s charts it", name, dashboardFile)
	}
	// The runtime and process families are always present: the live scrape
	// must have every one the dashboard charts.
	for name := range res.used {
		if !strings.HasPrefix(name, "troupe_") {
			if _, ok := live[name]; !ok {
				t.Errorf("the dashboard charts %s but the live server does not export it", name)
			}
		}
	}
	if len(res.used) == 0 {
		t.Error("the dashboard queries no metric at all")
	}
}

// TestGrafanaDashboardCheckerCatches feeds the checker broken copies of the
// dashboard and asserts it names what is wrong, so TestGrafanaDashboard can fail.
func TestGrafanaDashboardCheckerCatches(t *testing.T) {
	known, _ := registeredFamilies(t)
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	if res := checkDashboard(raw, known); len(res.problems) > 0 {
		t.Fatalf("the dashboard itself has problems: %q", res.problems)
	}

	const filter = `{job=~"$job",instance=~"$instance"}`
	// addTarget appends a target to the first panel that is not a row.
	addTarget := func(expr string) func(t *testing.T, d map[string]any) {
		return func(t *testing.T, d map[string]any) {
			p := firstPanel(d["panels"].([]any))
			p["targets"] = append(p["targets"].([]any), map[string]any{"refId": "Z", "expr": expr})
		}
	}

	cases := []struct {
		name   string
		edit   func(t *testing.T, d map[string]any)
		raw    func(string) string // edits the text instead of the parsed JSON
		want   []string            // substrings of the problems
		unused []string            // families reported as uncharted
	}{
		{
			name: "misspelt metric everywhere",
			raw: func(s string) string {
				return strings.ReplaceAll(s, "troupe_deliveries_total", "troupe_deliverys_total")
			},
			want:   []string{`"troupe_deliverys_total" is not a metric troupe exports`},
			unused: []string{"troupe_deliveries_total"},
		},
		{
			name: "bogus metric in a collapsed row",
			edit: func(t *testing.T, d map[string]any) {
				var rowPanels []any
				for _, p := range d["panels"].([]any) {
					if pm := p.(map[string]any); pm["type"] == "row" && pm["collapsed"] == true {
						rowPanels = pm["panels"].([]any)
					}
				}
				if rowPanels == nil {
					t.Fatal("the dashboard has no collapsed row")
				}
				p := rowPanels[0].(map[string]any)
				p["targets"] = append(p["targets"].([]any), map[string]any{"refId": "Z", "expr": "sum(rate(troupe_bogus_total" + filter + "[1m]))"})
			},
			want: []string{`"troupe_bogus_total" is not a metric troupe exports`},
		},
		{
			name: "bogus runtime metric",
			edit: addTarget("go_bogus_bytes" + filter),
			want: []string{`"go_bogus_bytes" is not a metric troupe exports`},
		},
		{
			name: "bucket of a counter",
			edit: addTarget("sum(rate(troupe_deliveries_total_bucket" + filter + "[1m]))"),
			want: []string{`"troupe_deliveries_total_bucket" is not a metric troupe exports`},
		},
		{
			name: "bare histogram",
			edit: addTarget("troupe_outbox_depth" + filter),
			want: []string{`histogram "troupe_outbox_depth" has no series of its own`},
		},
		{
			name: "counter without rate",
			edit: addTarget("sum(troupe_deliveries_total" + filter + ")"),
			want: []string{`counter "troupe_deliveries_total" used without rate, irate or increase`},
		},
		{
			name: "gauge under rate",
			edit: addTarget("sum(rate(troupe_rooms_active" + filter + "[1m]))"),
			want: []string{`"troupe_rooms_active" is a gauge`},
		},
		{
			name: "selector without instance filter",
			edit: addTarget(`sum(troupe_rooms_active{job=~"$job"})`),
			want: []string{`selector troupe_rooms_active{job=~"$job"} does not filter by $job and $instance`},
		},
		{
			name: "duplicate panel id",
			edit: func(t *testing.T, d map[string]any) {
				ps := d["panels"].([]any)
				ps[2].(map[string]any)["id"] = ps[1].(map[string]any)["id"]
			},
			want: []string{"duplicate panel id"},
		},
		{
			name: "panel wider than the grid",
			edit: func(t *testing.T, d map[string]any) {
				firstPanel(d["panels"].([]any))["gridPos"].(map[string]any)["w"] = 30
			},
			want: []string{"outside the 24-column grid", "overlap"},
		},
		{
			name: "overlapping panels",
			edit: func(t *testing.T, d map[string]any) {
				ps := d["panels"].([]any)
				ps[2].(map[string]any)["gridPos"] = ps[1].(map[string]any)["gridPos"]
			},
			want: []string{"overlap"},
		},
		{
			name: "panel without unit",
			edit: func(t *testing.T, d map[string]any) {
				p := firstPanel(d["panels"].([]any))
				delete(p["fieldConfig"].(map[string]any)["defaults"].(map[string]any), "unit")
			},
			want: []string{"no unit"},
		},
		{
			name: "hard-wired datasource",
			edit: func(t *testing.T, d map[string]any) {
				firstPanel(d["panels"].([]any))["datasource"] = map[string]any{"type": "prometheus", "uid": "abc123"}
			},
			want: []string{"datasource is not ${datasource}"},
		},
		{
			name: "unknown metric in a template variable",
			edit: func(t *testing.T, d map[string]any) {
				for _, v := range d["templating"].(map[string]any)["list"].([]any) {
					if vm := v.(map[string]any); vm["name"] == "job" {
						vm["definition"] = "label_values(troupe_nonexistent, job)"
					}
				}
			},
			want: []string{`"troupe_nonexistent" is not a metric troupe exports`},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			broken := raw
			if tc.raw != nil {
				broken = []byte(tc.raw(string(raw)))
			}
			if tc.edit != nil {
				var d map[string]any
				if err := json.Unmarshal(broken, &d); err != nil {
					t.Fatal(err)
				}
				tc.edit(t, d)
				if broken, err = json.Marshal(d); err != nil {
					t.Fatal(err)
				}
			}
			res := checkDashboard(broken, known)
			all := strings.Join(res.problems, "\n")
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("problems do not mention %q; got:\n%s", w, all)
				}
			}
			if got := unusedFamilies(known, res.used); !slices.Equal(got, tc.unused) {
				t.Errorf("uncharted families = %q, want %q", got, tc.unused)
			}
		})
	}
}

// firstPanel returns the first top-level panel that is not a row.
func firstPanel(ps []any) map[string]any {
	for _, p := range ps {
		if pm := p.(map[string]any); pm["type"] != "row" {
			return pm
		}
	}
	panic("no panel")
}

func TestMetricRefs(t *testing.T) {
	type ref = metricRef
	tests := []struct {
		expr string
		want []metricRef
	}{
		{
			`histogram_quantile(0.99, sum by (le, op) (rate(troupe_store_latency_seconds_bucket{job=~"$job",op="go_x"}[$__rate_interval])))`,
			[]ref{{name: "troupe_store_latency_seconds_bucket", rated: true, selector: `{job=~"$job",op="go_x"}`}},
		},
		{
			`process_resident_memory_bytes / on (instance) clamp_min(sum without (go_label) (troupe_connections_active), 1)`,
			[]ref{{name: "process_resident_memory_bytes"}, {name: "troupe_connections_active"}},
		},
		{
			`sum(increase( troupe_rooms_stopped_total [${__range}] )) or vector(0)`,
			[]ref{{name: "troupe_rooms_stopped_total", rated: true}},
		},
		{
			`label_values(troupe_connections_active{job=~"$job", x="}"}, instance)`,
			[]ref{{name: "troupe_connections_active", selector: `{job=~"$job", x="}"}`}},
		},
		{
			`irate(go_memstats_alloc_bytes_total{a='go_b'}[1m]) * 1e3 + rate(troupe_x_total[1m:10s])`,
			[]ref{{name: "go_memstats_alloc_bytes_total", rated: true, selector: `{a='go_b'}`}, {name: "troupe_x_total", rated: true}},
		},
		{`up + my_troupe_thing + on_go_x`, nil},
	}
	for _, tc := range tests {
		got := metricRefs(tc.expr)
		if !slices.Equal(got, tc.want) {
			t.Errorf("metricRefs(%s)\n got %+v\nwant %+v", tc.expr, got, tc.want)
		}
	}
}

// unusedFamilies returns, sorted, the troupe_ families in known missing from used.
func unusedFamilies(known map[string]metricKind, used map[string]bool) []string {
	var out []string
	for name := range known {
		if strings.HasPrefix(name, "troupe_") && !used[name] {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// The parts of a Grafana dashboard the checker reads.
type (
	gfDashboard struct {
		UID           string      `json:"uid"`
		Title         string      `json:"title"`
		SchemaVersion int         `json:"schemaVersion"`
		Refresh       string      `json:"refresh"`
		Time          gfTimeRange `json:"time"`
		Panels        []gfPanel   `json:"panels"`
		Templating    struct {
			List []gfVariable `json:"list"`
		} `json:"templating"`
	}
	gfTimeRange struct {
		From string `json:"from"`
		To   string `json:"to"`
	}
	gfPanel struct {
		ID          int           `json:"id"`
		Type        string        `json:"type"`
		Title       string        `json:"title"`
		GridPos     *gfGridPos    `json:"gridPos"`
		Collapsed   bool          `json:"collapsed"`
		Panels      []gfPanel     `json:"panels"`
		Datasource  *gfDatasource `json:"datasource"`
		FieldConfig struct {
			Defaults struct {
				Unit string `json:"unit"`
			} `json:"defaults"`
		} `json:"fieldConfig"`
		Targets []gfTarget `json:"targets"`
	}
	gfGridPos struct {
		H int `json:"h"`
		W int `json:"w"`
		X int `json:"x"`
		Y int `json:"y"`
	}
	gfDatasource struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	}
	gfTarget struct {
		RefID      string        `json:"refId"`
		Expr       string        `json:"expr"`
		Datasource *gfDatasource `json:"datasource"`
	}
	gfVariable struct {
		Name       string          `json:"name"`
		Type       string          `json:"type"`
		Query      json.RawMessage `json:"query"`
		Definition string          `json:"definition"`
		Datasource *gfDatasource   `json:"datasource"`
	}
)

// dashboardCheck is what checkDashboard found.
type dashboardCheck struct {
	problems []string        // everything wrong, one line each
	used     map[string]bool // metric families the panels chart
}

// checkDashboard checks a Grafana dashboard against the metric families a troupe
// server exports (known). It reports settings that differ from the expected ones,
// layout errors (duplicate or missing ids, gridPos off the grid, overlapping
// panels), panels without targets, unit or ${datasource}, and every metric a
// query names that troupe does not export or uses against its type. Panels
// nested in collapsed rows are checked like the others.
func checkDashboard(raw []byte, known map[string]metricKind) dashboardCheck {
	res := dashboardCheck{used: map[string]bool{}}
	bad := func(format string, args ...any) { res.problems = append(res.problems, fmt.Sprintf(format, args...)) }

	var d gfDashboard
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&d); err != nil {
		bad("decode dashboard: %v", err)
		return res
	}
	if d.Title != "troupe" {
		bad("title %q, want %q", d.Title, "troupe")
	}
	if d.UID == "" || len(d.UID) > 40 {
		bad("uid %q must be 1 to 40 characters", d.UID)
	}
	if d.SchemaVersion < 36 {
		bad("schemaVersion %d is older than Grafana 10", d.SchemaVersion)
	}
	if d.Refresh != "10s" {
		bad("refresh %q, want 10s", d.Refresh)
	}
	if d.Time != (gfTimeRange{From: "now-30m", To: "now"}) {
		bad("time range %+v, want the last 30m", d.Time)
	}

	// Template variables: a Prometheus datasource variable, and queries over
	// exported metrics only.
	hasDS := false
	for _, v := range d.Templating.List {
		if v.Type == "datasource" && v.Name == "datasource" && strings.Trim(string(v.Query), `"`) == "prometheus" {
			hasDS = true
		}
		if v.Type != "query" {
			continue
		}
		exprs := []string{v.Definition}
		var q struct {
			Query string `json:"query"`
		}
		var s string
		if json.Unmarshal(v.Query, &s) == nil {
			exprs = append(exprs, s)
		} else if json.Unmarshal(v.Query, &q) == nil {
			exprs = append(exprs, q.Query)
		}
		for _, e := range exprs {
			for _, r := range metricRefs(e) {
				if _, _, ok := resolveMetric(r.name, known); !ok {
					bad("variable %q: %q is not a metric troupe exports", v.Name, r.name)
				}
			}
		}
		if !isDatasourceVar(v.Datasource) {
			bad("variable %q: datasource is not ${datasource}", v.Name)
		}
	}
	if !hasDS {
		bad(`no template variable "datasource" of type datasource for prometheus`)
	}

	ids := map[int]string{}
	var checkLevel func(ps []gfPanel)
	checkLevel = func(ps []gfPanel) {
		var placed []gfPanel // panels laid out together at this level
		for _, p := range ps {
			if p.ID <= 0 {
				bad("panel %q has no id", p.Title)
			} else if other, dup := ids[p.ID]; dup {
				bad("duplicate panel id %d (%q and %q)", p.ID, other, p.Title)
			} else {
				ids[p.ID] = p.Title
			}
			if g := p.GridPos; g == nil {
				bad("panel %d %q has no gridPos", p.ID, p.Title)
			} else {
				if g.W <= 0 || g.H <= 0 || g.X < 0 || g.Y < 0 || g.X+g.W > gridColumns {
					bad("panel %d %q: gridPos %+v outside the %d-column grid", p.ID, p.Title, *g, gridColumns)
				}
				for _, o := range placed {
					if overlap(*g, *o.GridPos) {
						bad("panels %d %q and %d %q overlap", o.ID, o.Title, p.ID, p.Title)
					}
				}
				placed = append(placed, p)
			}

			if p.Type == "row" {
				if p.GridPos != nil && (p.GridPos.W != gridColumns || p.GridPos.H != 1 || p.GridPos.X != 0) {
					bad("row %d %q: gridPos %+v, want a full-width row of height 1", p.ID, p.Title, *p.GridPos)
				}
				if !p.Collapsed && len(p.Panels) > 0 {
					bad("row %d %q is expanded but holds panels", p.ID, p.Title)
				}
				// A collapsed row's panels are laid out when it opens,
				// apart from the panels outside it.
				checkLevel(p.Panels)
				continue
			}
			checkPanel(p, known, &res, bad)
		}
	}
	checkLevel(d.Panels)
	return res
}

// checkPanel checks one panel that is not a row and records the families it uses.
func checkPanel(p gfPanel, known map[string]metricKind, res *dashboardCheck, bad func(string, ...any)) {
	where := fmt.Sprintf("panel %d %q", p.ID, p.Title)
	if !isDatasourceVar(p.Datasource) {
		bad("%s: datasource is not ${datasource}", where)
	}
	if p.FieldConfig.Defaults.Unit == "" {
		bad("%s: no unit", where)
	}
	if len(p.Targets) == 0 {
		bad("%s: no targets", where)
	}
	refIDs := map[string]bool{}
	for _, tg := range p.Targets {
		if refIDs[tg.RefID] {
			bad("%s: duplicate refId %q", where, tg.RefID)
		}
		refIDs[tg.RefID] = true
		if tg.Datasource != nil && !isDatasourceVar(tg.Datasource) {
			bad("%s: target %s: datasource is not ${datasource}", where, tg.RefID)
		}
		refs := metricRefs(tg.Expr)
		if len(refs) == 0 {
			bad("%s: target %s queries no troupe, process or Go metric: %q", where, tg.RefID, tg.Expr)
		}
		for _, r := range refs {
			family, kind, ok := resolveMetric(r.name, known)
			if !ok {
				bad("%s: %q is not a metric troupe exports", where, r.name)
				continue
			}
			res.used[family] = true
			switch {
			case kind == kindHistogram && family == r.name:
				bad("%s: histogram %q has no series of its own; query %[2]s_bucket, _sum or _count", where, r.name)
			case (kind == kindCounter || family != r.name) && !r.rated:
				bad("%s: counter %q used without rate, irate or increase", where, r.name)
			case kind != kindCounter && family == r.name && r.rated:
				bad("%s: %q is a %s; rate, irate and increase are for counters", where, r.name, kind)
			}
			if !strings.Contains(r.selector, "$job") || !strings.Contains(r.selector, "$instance") {
				bad("%s: selector %s%s does not filter by $job and $instance", where, r.name, r.selector)
			}
		}
	}
}

func isDatasourceVar(ds *gfDatasource) bool {
	return ds != nil && ds.Type == "prometheus" && (ds.UID == "${datasource}" || ds.UID == "$datasource")
}

func overlap(a, b gfGridPos) bool {
	return a.X < b.X+b.W && b.X < a.X+a.W && a.Y < b.Y+b.H && b.Y < a.Y+a.H
}

// resolveMetric maps a series name to the family that exports it: the family
// itself, or a histogram's _bucket, _sum and _count or a summary's _sum and
// _count series.
func resolveMetric(name string, known map[string]metricKind) (family string, kind metricKind, ok bool) {
	if k, ok := known[name]; ok {
		return name, k, true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, found := strings.CutSuffix(name, suffix)
		if !found {
			continue
		}
		if k, ok := known[base]; ok && (k == kindHistogram || (k == kindSummary && suffix != "_bucket")) {
			return base, k, true
		}
	}
	return "", 0, false
}

// metricRef is one metric a PromQL expression selects.
type metricRef struct {
	name     string // series name as written
	rated    bool   // the first argument of rate, irate or increase
	selector string // the label matchers after the name, braces included, or ""
}

// metricPrefixes start the names of the metrics a troupe server exports.
var metricPrefixes = []string{"troupe_", "process_", "go_"}

// metricRefs returns, in order, the metrics an expression selects whose names
// start with one of metricPrefixes. It skips string literals, label matchers,
// range and subquery brackets, Grafana variables and the label lists of by,
// without, on, ignoring, group_left and group_right, so label names and values
// are never taken for metrics; an identifier followed by '(' is a function.
func metricRefs(expr string) []metricRef {
	var refs []metricRef
	isStart := func(c byte) bool { return c == '_' || c == ':' || 'a' <= c|0x20 && c|0x20 <= 'z' }
	isPart := func(c byte) bool { return isStart(c) || '0' <= c && c <= '9' }
	skipSpace := func(i int) int {
		for i < len(expr) && strings.IndexByte(" \t\r\n", expr[i]) >= 0 {
			i++
		}
		return i
	}
	// skipString returns the index after the literal opening at i.
	skipString := func(i int) int {
		q := expr[i]
		for i++; i < len(expr); i++ {
			if expr[i] == '\\' && q != '`' {
				i++
			} else if expr[i] == q {
				return i + 1
			}
		}
		return i
	}
	// skipTo returns the index after the first close at or after i that is
	// not inside a string literal.
	skipTo := func(i int, close byte) int {
		for i < len(expr) {
			switch c := expr[i]; {
			case c == '"' || c == '\'' || c == '`':
				i = skipString(i)
			case c == close:
				return i + 1
			default:
				i++
			}
		}
		return i
	}
	rated := func(start int) bool { // is the identifier at start the first argument of rate?
		j := start
		for j > 0 && strings.IndexByte(" \t\r\n", expr[j-1]) >= 0 {
			j--
		}
		if j == 0 || expr[j-1] != '(' {
			return false
		}
		j--
		for j > 0 && strings.IndexByte(" \t\r\n", expr[j-1]) >= 0 {
			j--
		}
		end := j
		for j > 0 && isPart(expr[j-1]) {
			j--
		}
		switch expr[j:end] {
		case "rate", "irate", "increase":
			return true
		}
		return false
	}

	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			i = skipString(i)
		case c == '{':
			i = skipTo(i+1, '}')
		case c == '[':
			i = skipTo(i+1, ']')
		case c == '$':
			i++
			if i < len(expr) && expr[i] == '{' {
				i = skipTo(i+1, '}')
			}
			for i < len(expr) && isPart(expr[i]) {
				i++
			}
		case '0' <= c && c <= '9' || c == '.':
			for i < len(expr) && (isPart(expr[i]) || expr[i] == '.') {
				i++ // numbers, durations and exponents are not names
			}
		case isStart(c):
			start := i
			for i < len(expr) && isPart(expr[i]) {
				i++
			}
			word := expr[start:i]
			next := skipSpace(i)
			if next < len(expr) && expr[next] == '(' {
				switch word {
				case "by", "without", "on", "ignoring", "group_left", "group_right":
					i = skipTo(next+1, ')') // label names
				}
				continue // a function or aggregation
			}
			if !slices.ContainsFunc(metricPrefixes, func(p string) bool { return strings.HasPrefix(word, p) }) {
				continue
			}
			r := metricRef{name: word, rated: rated(start)}
			if next < len(expr) && expr[next] == '{' {
				i = skipTo(next+1, '}')
				r.selector = expr[next:i]
			}
			refs = append(refs, r)
		default:
			i++
		}
	}
	return refs
}
