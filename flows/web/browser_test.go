package web

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tabby-project/tabby/analysis"
	v3 "github.com/tabby-project/tabby/api/v3"
)

// chromiumPath finds the headless browser: Debian's chromium package, or
// another Chrome on PATH. Without one the browser test skips, except under
// CI=true, where it fails.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no chromium on PATH: install Debian's chromium package (apt-get install -y chromium)")
	}
	t.Skip("no chromium on PATH (apt-get install -y chromium)")
	return ""
}

// screenshotDir is $TABBY_SCREENSHOTS, created if needed, else a
// temporary directory of the test.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("TABBY_SCREENSHOTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestBrowser loads every page in headless Chromium, checks what a user
// sees against the engine, and saves a screenshot of each page.
func TestBrowser(t *testing.T) {
	exe := chromiumPath(t)
	srv, m, _ := newTestServer(t)
	dir := screenshotDir(t)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox, // tests run as root in containers
		chromedp.DisableGPU,
		chromedp.WindowSize(1400, 1000),
		chromedp.UserDataDir(t.TempDir()),
	)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium %s: %v", exe, err)
	}

	shoot := func(t *testing.T, name string) {
		t.Helper()
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		path := filepath.Join(dir, name+".png")
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot %s (%d bytes)", path, len(png))
	}
	load := func(t *testing.T, path string) string {
		t.Helper()
		if err := chromedp.Do(bctx,
			chromedp.Navigate(srv.URL+path),
			chromedp.WaitVisible(chromedp.CSS("h1")),
		); err != nil {
			t.Fatalf("load %s: %v", path, err)
		}
		title, err := chromedp.Run(bctx, chromedp.Title())
		if err != nil {
			t.Fatalf("title of %s: %v", path, err)
		}
		return title
	}

	t.Run("the index and endpoints pages load", func(t *testing.T) {
		if title := load(t, "/"); !strings.Contains(title, "Tabby") {
			t.Errorf("index title %q", title)
		}
		shoot(t, "index")
		load(t, "/endpoints")
		names, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](
			`Array.from(document.querySelectorAll('tr[data-endpoint]')).map(r => r.dataset.endpoint)`))
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, ep := range m.Endpoints() {
			want = append(want, ep.Name)
		}
		if strings.Join(names, " ") != strings.Join(want, " ") {
			t.Errorf("endpoints shown %q, want %q", names, want)
		}
		shoot(t, "endpoints")
	})

	t.Run("the matrix shown is the engine's", func(t *testing.T) {
		load(t, "/matrix")
		cells, err := chromedp.Run(bctx, chromedp.Evaluate[[][]string](
			`Array.from(document.querySelectorAll('td[data-verdict]')).map(c => [c.dataset.from, c.dataset.to, c.dataset.service, c.innerText.trim()])`))
		if err != nil {
			t.Fatal(err)
		}
		want, err := m.Matrix(ctx, []int{80, 81}, []string{"TCP"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(cells) != len(want.Cells) {
			t.Fatalf("%d cells shown, want %d", len(cells), len(want.Cells))
		}
		for _, c := range cells {
			var svc analysis.Service
			for _, s := range want.Services {
				if s.String() == c[2] {
					svc = s
				}
			}
			if v, ok := want.Verdict(c[0], c[1], svc); !ok || string(v) != c[3] {
				t.Errorf("%s → %s %s shows %q, engine says %s", c[0], c[1], c[2], c[3], v)
			}
		}
		shoot(t, "matrix")
	})

	t.Run("a denied flow appears in the log with its policy", func(t *testing.T) {
		load(t, "/flows")
		if err := chromedp.Do(bctx,
			chromedp.Click(chromedp.CSS(`input[name="denied"]`)),
			chromedp.Submit(chromedp.CSS(`input[name="denied"]`)),
		); err != nil {
			t.Fatal(err)
		}
		// The form's GET replaces the page; wait for the filtered one.
		if err := chromedp.Do(bctx, chromedp.WaitVisible(chromedp.CSS(`table#flows[data-denied="true"]`))); err != nil {
			t.Fatalf("the filtered page did not load: %v", err)
		}
		rows, err := chromedp.Run(bctx, chromedp.Evaluate[[][]string](
			`Array.from(document.querySelectorAll('tr[data-policy]')).map(r => [r.dataset.policy, r.dataset.action, r.innerText])`))
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 1 || rows[0][0] != "z.deny-egress" || rows[0][1] != string(v3.Deny) ||
			!strings.Contains(rows[0][2], "default/z.deny-egress rule 0") || !strings.Contains(rows[0][2], "z/a") {
			t.Errorf("denied flows shown %q, want the one of z.deny-egress rule 0 from z/a", rows)
		}
		shoot(t, "flows")
	})

	t.Run("the trace form traces a flow as the engine does", func(t *testing.T) {
		load(t, "/trace")
		shoot(t, "trace-form")
		if err := chromedp.Do(bctx,
			chromedp.SetValue(chromedp.CSS(`input[name="from"]`), "z/a"),
			chromedp.SetValue(chromedp.CSS(`input[name="to"]`), "x/a"),
			chromedp.SetValue(chromedp.CSS(`input[name="protocol"]`), "TCP"),
			chromedp.SetValue(chromedp.CSS(`input[name="port"]`), "80"),
			chromedp.Submit(chromedp.CSS(`input[name="port"]`)),
			chromedp.WaitVisible(chromedp.CSS(`#verdict`)),
		); err != nil {
			t.Fatal(err)
		}
		verdict, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(`#verdict`)))
		if err != nil {
			t.Fatal(err)
		}
		res, err := m.Trace(analysis.FlowSpec{From: "z/a", To: "x/a", Protocol: "TCP", Port: 80})
		if err != nil {
			t.Fatal(err)
		}
		if verdict != string(res.Verdict) {
			t.Errorf("verdict shown %q, engine %s", verdict, res.Verdict)
		}
		shoot(t, "trace")
	})
}
