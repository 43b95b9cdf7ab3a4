package openstack

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fault is a misbehaviour the fake cloud can be told to show on one path.
type fault int

const (
	faultNone fault = iota
	faultStatus500
	faultStatus503Once
	faultMalformed
	faultMissingKey
	faultHang
	faultExpireToken // the token is revoked before the answer: 401, then works after re-authentication
	fault401Always
)

// collections maps Neutron URL resources to their JSON collection keys.
var collections = map[string]string{
	"ports": "ports", "security-groups": "security_groups", "networks": "networks",
	"subnets": "subnets", "floatingips": "floatingips",
}

// fakeCloud is one OpenStack region served by httptest: Keystone under
// /identity (POST /v3/auth/tokens, GET /v3/projects) and Neutron under
// /network (GET /v2.0/<collection>), answering with the shapes of the
// OpenStack API reference and the fixtures of testdata.
type fakeCloud struct {
	t      testing.TB
	srv    *httptest.Server
	region string

	mu        sync.Mutex
	items     map[string][]map[string]any // collection key → items
	faults    map[string]fault            // path → fault
	password  string
	token     string
	tokens    int
	authCalls int
	hang      chan struct{}
}

// newFakeCloud serves the fixtures of testdata/<dir> as region.
func newFakeCloud(t testing.TB, dir, region string) *fakeCloud {
	t.Helper()
	f := &fakeCloud{t: t, region: region, items: map[string][]map[string]any{}, faults: map[string]fault{},
		password: "secret", hang: make(chan struct{})}
	for res, key := range collections {
		f.items[key] = readItems(t, filepath.Join("testdata", dir, res+".json"), key)
	}
	f.items["projects"] = readItems(t, filepath.Join("testdata", "projects.json"), "projects")
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() {
		close(f.hang)
		f.srv.Close()
	})
	return f
}

func readItems(t testing.TB, path, key string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var items []map[string]any
	if err := json.Unmarshal(doc[key], &items); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return items
}

// config returns a client configuration for the cloud with fast retries.
func (f *fakeCloud) config() Config {
	return Config{AuthURL: f.srv.URL + "/identity/v3", Username: "tabby", Password: "secret", UserDomainName: "Default",
		ProjectName: "service", ProjectDomainName: "Default", RegionName: f.region,
		Timeout: 2 * time.Second, MaxRetries: 2, Backoff: time.Millisecond}
}

func (f *fakeCloud) client(t testing.TB) *Client {
	t.Helper()
	c, err := NewClient(f.config())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// setFault makes path ("/network/v2.0/ports", "/identity/v3/projects",
// "/identity/v3/auth/tokens") misbehave.
func (f *fakeCloud) setFault(path string, x fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults[path] = x
}

// edit changes the cloud's state under its lock.
func (f *fakeCloud) edit(fn func(items map[string][]map[string]any)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f.items)
}

func (f *fakeCloud) authCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.authCalls
}

func (f *fakeCloud) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	x := f.faults[r.URL.Path]
	if x == faultStatus503Once {
		delete(f.faults, r.URL.Path)
	}
	if x == faultExpireToken {
		delete(f.faults, r.URL.Path)
		f.token = ""
	}
	f.mu.Unlock()
	switch x {
	case faultStatus500:
		http.Error(w, `{"NeutronError": {"type": "HTTPInternalServerError", "message": "Request Failed: internal server error while processing your request.", "detail": ""}}`, http.StatusInternalServerError)
		return
	case faultStatus503Once:
		http.Error(w, "503 Service Unavailable", http.StatusServiceUnavailable)
		return
	case faultHang:
		select {
		case <-r.Context().Done():
		case <-f.hang:
		}
		return
	case fault401Always:
		http.Error(w, `{"error": {"code": 401, "title": "Unauthorized", "message": "The request you have made requires authentication."}}`, http.StatusUnauthorized)
		return
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/identity/v3/auth/tokens":
		f.authenticate(w, r)
	case r.Method == http.MethodGet && r.URL.Path == "/identity/v3/projects":
		f.list(w, r, "projects", x)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/network/v2.0/"):
		key, ok := collections[strings.TrimPrefix(r.URL.Path, "/network/v2.0/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		f.list(w, r, key, x)
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeCloud) authenticate(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Auth struct {
			Identity struct {
				Methods  []string `json:"methods"`
				Password struct {
					User struct {
						Name     string `json:"name"`
						Password string `json:"password"`
					} `json:"user"`
				} `json:"password"`
				AppCred struct {
					ID     string `json:"id"`
					Secret string `json:"secret"`
				} `json:"application_credential"`
			} `json:"identity"`
		} `json:"auth"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Auth.Identity.Methods) != 1 {
		http.Error(w, `{"error": {"code": 400, "title": "Bad Request", "message": "Invalid input"}}`, http.StatusBadRequest)
		return
	}
	id := req.Auth.Identity
	f.mu.Lock()
	defer f.mu.Unlock()
	f.authCalls++
	ok := (id.Methods[0] == "password" && id.Password.User.Name == "tabby" && id.Password.User.Password == f.password) ||
		(id.Methods[0] == "application_credential" && id.AppCred.ID == "appcred-1" && id.AppCred.Secret == f.password)
	if !ok {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error": {"code": 401, "title": "Unauthorized", "message": "The request you have made requires authentication."}}`)
		return
	}
	data, err := os.ReadFile(filepath.Join("testdata", "token.json"))
	if err != nil {
		f.t.Error(err)
		return
	}
	now := time.Now().UTC()
	body := strings.NewReplacer("{{BASE}}", f.srv.URL, "{{REGION}}", f.region,
		"{{EXPIRES}}", now.Add(time.Hour).Format(keystoneTime), "{{ISSUED}}", now.Format(keystoneTime)).Replace(string(data))
	f.tokens++
	f.token = "gAAAAAB-token-" + strconv.Itoa(f.tokens)
	w.Header().Set("X-Subject-Token", f.token)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	fmt.Fprint(w, body)
}

// list serves one page of a collection, sorted by id, honouring limit and
// marker and linking the next page as Neutron does.
func (f *fakeCloud) list(w http.ResponseWriter, r *http.Request, key string, x fault) {
	f.mu.Lock()
	valid := f.token != "" && r.Header.Get("X-Auth-Token") == f.token
	items := append([]map[string]any{}, f.items[key]...)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if !valid {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error": {"code": 401, "title": "Unauthorized", "message": "The request you have made requires authentication."}}`)
		return
	}
	switch x {
	case faultMalformed:
		fmt.Fprintf(w, `{"%s": [{"id": "0a1b2c3d", "name": `, key)
		return
	case faultMissingKey:
		fmt.Fprint(w, `{"NeutronError": "the answer lost its collection"}`)
		return
	}
	sort.Slice(items, func(i, j int) bool { return items[i]["id"].(string) < items[j]["id"].(string) })
	if m := r.URL.Query().Get("marker"); m != "" {
		i := sort.Search(len(items), func(i int) bool { return items[i]["id"].(string) > m })
		items = items[i:]
	}
	doc := map[string]any{}
	if n, err := strconv.Atoi(r.URL.Query().Get("limit")); err == nil && n > 0 && len(items) > n {
		items = items[:n]
		q := r.URL.Query()
		q.Set("marker", items[n-1]["id"].(string))
		doc[key+"_links"] = []map[string]string{{"href": f.srv.URL + r.URL.Path + "?" + q.Encode(), "rel": "next"}}
	}
	if key == "projects" {
		doc["links"] = map[string]any{"next": nil, "self": f.srv.URL + r.URL.Path, "previous": nil}
	}
	doc[key] = items
	data, err := json.Marshal(doc)
	if err != nil {
		f.t.Error(err)
		return
	}
	data = []byte(strings.ReplaceAll(string(data), "{{BASE}}", f.srv.URL))
	w.Write(data)
}

// keystoneTime is how Keystone writes expires_at and issued_at.
const keystoneTime = "2006-01-02T15:04:05.000000Z"
