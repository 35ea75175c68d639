package deploy_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/app"
	"github.com/gatehouse-dev/gatehouse/internal/config"
)

const grafanaDashboard = "grafana/gatehouse.json"

// selector is a metric name with its label matchers, which every query of
// the dashboard uses, so that each names its metrics this way.
var (
	selector    = regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)\{`)
	labelValues = regexp.MustCompile(`label_values\(([a-zA-Z_:][a-zA-Z0-9_:]*)`)
)

// TestGrafanaDashboardMetrics: every metric the dashboard queries is in
// the /metrics of a running process that served a few requests. A metric
// renamed in the code fails here instead of leaving a panel empty.
func TestGrafanaDashboardMetrics(t *testing.T) {
	b, err := os.ReadFile(grafanaDashboard)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatal(err)
	}
	queried := map[string]string{} // metric -> where
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			ms := selector.FindAllStringSubmatch(tg.Expr, -1)
			if len(ms) == 0 {
				t.Errorf("panel %q: no metric selector in %q", p.Title, tg.Expr)
			}
			for _, m := range ms {
				queried[m[1]] = p.Title
			}
		}
	}
	for _, v := range dash.Templating.List {
		for _, m := range labelValues.FindAllStringSubmatch(v.Definition, -1) {
			queried[m[1]] = "variable " + v.Definition
		}
	}

	exposition := scrapeProcess(t)
	for name, where := range queried {
		if !strings.Contains(exposition, "\n"+name+"{") && !strings.Contains(exposition, "\n"+name+" ") {
			t.Errorf("%s: %s is not in /metrics", where, name)
		}
	}
}

// scrapeProcess starts Gatehouse in process, sends it a request of each
// kind the dashboard shows (HTTP, and gRPC through the REST facade), and
// returns its /metrics.
func scrapeProcess(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.Load([]string{"--data-dir", dir, "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.Start(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Shutdown)
	get := func(path string) string {
		t.Helper()
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://"+a.HTTPAddr()+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	get("/healthz")
	get("/v1/clients") // refused: an auth failure, and a gRPC call's series
	return "\n" + get("/metrics")
}
