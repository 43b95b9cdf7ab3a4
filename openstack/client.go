package openstack

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
)

// Sentinel errors; the errors of Client wrap them with what failed.
var (
	// ErrConfig: the client configuration is incomplete or contradictory.
	ErrConfig = errors.New("openstack: bad configuration")
	// ErrAuth: Keystone rejected the credentials, or a service rejected
	// a fresh token.
	ErrAuth = errors.New("openstack: authentication failed")
	// ErrForbidden: the credentials lack a role the request needs.
	ErrForbidden = errors.New("openstack: forbidden")
	// ErrNoEndpoint: the Keystone catalog has no endpoint for the service
	// in the region and interface asked for.
	ErrNoEndpoint = errors.New("openstack: no endpoint in the service catalog")
	// ErrBadResponse: a service answered with something that is not the
	// documented JSON.
	ErrBadResponse = errors.New("openstack: malformed response")
	// ErrUnavailable: a service could not be reached, timed out or kept
	// failing (5xx, 429) after the retries.
	ErrUnavailable = errors.New("openstack: service unavailable")
)

// Defaults of Config.
const (
	// DefaultTimeout bounds each HTTP attempt.
	DefaultTimeout = 30 * time.Second
	// DefaultMaxRetries is how often a failed request is retried.
	DefaultMaxRetries = 4
	// DefaultBackoff is the first retry delay.
	DefaultBackoff = 500 * time.Millisecond
	// DefaultPageSize is the number of items asked per Neutron page.
	DefaultPageSize = 1000
	maxBackoff      = 10 * time.Second
)

// Config says how to reach and authenticate with an OpenStack region. Its
// fields are those of the OS_* environment variables of the openstack CLI.
type Config struct {
	// AuthURL is the Keystone identity endpoint (OS_AUTH_URL), with or
	// without its /v3 suffix.
	AuthURL string

	// Password authentication: a user by name (with its domain) or ID,
	// scoped to a project by name (with its domain) or ID.
	Username, UserID, Password         string
	UserDomainName, UserDomainID       string
	ProjectName, ProjectID             string
	ProjectDomainName, ProjectDomainID string

	// Application-credential authentication (used instead of the password
	// when ApplicationCredentialSecret is set): by ID, or by name with
	// the owning user.
	ApplicationCredentialID, ApplicationCredentialName, ApplicationCredentialSecret string

	// RegionName picks the catalog endpoints (OS_REGION_NAME); empty
	// accepts an endpoint of any region when the catalog has one only.
	RegionName string
	// Interface is the catalog interface: public (default), internal or
	// admin (OS_INTERFACE).
	Interface string
	// CACertFile is a PEM bundle trusted for https (OS_CACERT); empty
	// means the system roots.
	CACertFile string

	// Timeout bounds each HTTP attempt (DefaultTimeout if zero).
	Timeout time.Duration
	// MaxRetries is how often a failed GET is retried (DefaultMaxRetries
	// if zero; negative for none).
	MaxRetries int
	// Backoff is the first retry delay, doubled each time up to 10 s, with
	// jitter (DefaultBackoff if zero).
	Backoff time.Duration
	// PageSize is the limit asked of each Neutron list page
	// (DefaultPageSize if zero).
	PageSize int
	// HTTPClient sends the requests; nil builds one from CACertFile.
	HTTPClient *http.Client
}

// Client reads one OpenStack region: Keystone projects and the Neutron
// ports, security groups, networks, subnets and floating IPs. It is safe
// for concurrent use and implements Source.
type Client struct {
	cfg  Config
	http *http.Client

	mu      sync.Mutex
	token   string
	expires time.Time
	neutron string // Neutron base URL, ending in /v2.0
}

// NewClient checks cfg and returns a client. It does not contact Keystone:
// the first request authenticates.
func NewClient(cfg Config) (*Client, error) {
	if cfg.AuthURL == "" {
		return nil, fmt.Errorf("%w: no Keystone auth URL (OS_AUTH_URL)", ErrConfig)
	}
	if u, err := url.Parse(cfg.AuthURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: auth URL %q: want http(s)://host[:port][/v3]", ErrConfig, cfg.AuthURL)
	}
	switch {
	case cfg.ApplicationCredentialSecret != "":
		if cfg.ApplicationCredentialID == "" && (cfg.ApplicationCredentialName == "" || (cfg.Username == "" && cfg.UserID == "")) {
			return nil, fmt.Errorf("%w: an application credential secret needs OS_APPLICATION_CREDENTIAL_ID, or its name and the user", ErrConfig)
		}
	case cfg.Password != "":
		if cfg.Username == "" && cfg.UserID == "" {
			return nil, fmt.Errorf("%w: a password needs OS_USERNAME or OS_USER_ID", ErrConfig)
		}
	default:
		return nil, fmt.Errorf("%w: no credentials: set OS_PASSWORD (with OS_USERNAME) or OS_APPLICATION_CREDENTIAL_ID and _SECRET", ErrConfig)
	}
	switch cfg.Interface {
	case "":
		cfg.Interface = "public"
	case "public", "internal", "admin":
	default:
		return nil, fmt.Errorf("%w: interface %q: want public, internal or admin", ErrConfig, cfg.Interface)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = DefaultMaxRetries
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = DefaultPageSize
	}
	c := &Client{cfg: cfg, http: cfg.HTTPClient}
	if c.http == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		if cfg.CACertFile != "" {
			pem, err := os.ReadFile(cfg.CACertFile)
			if err != nil {
				return nil, fmt.Errorf("%w: CA file (OS_CACERT): %w", ErrConfig, err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("%w: CA file %s holds no PEM certificate", ErrConfig, cfg.CACertFile)
			}
			tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		}
		c.http = &http.Client{Transport: tr}
	}
	return c, nil
}

// identityBase is the Keystone v3 base URL, ending in /v3.
func (c *Client) identityBase() string {
	base := strings.TrimRight(c.cfg.AuthURL, "/")
	return strings.TrimSuffix(base, "/v3") + "/v3"
}

// Token response, as Keystone's POST /v3/auth/tokens documents it.
type tokenResponse struct {
	Token *struct {
		ExpiresAt time.Time `json:"expires_at"`
		Catalog   []struct {
			Type      string `json:"type"`
			Name      string `json:"name"`
			Endpoints []struct {
				Interface string `json:"interface"`
				Region    string `json:"region"`
				RegionID  string `json:"region_id"`
				URL       string `json:"url"`
			} `json:"endpoints"`
		} `json:"catalog"`
	} `json:"token"`
}

// authBody builds the POST /v3/auth/tokens request.
func (c *Client) authBody() map[string]any {
	cfg := c.cfg
	user := map[string]any{}
	if cfg.UserID != "" {
		user["id"] = cfg.UserID
	} else if cfg.Username != "" {
		user["name"] = cfg.Username
		user["domain"] = domainRef(cfg.UserDomainID, cfg.UserDomainName)
	}
	if cfg.ApplicationCredentialSecret != "" {
		ac := map[string]any{"secret": cfg.ApplicationCredentialSecret}
		if cfg.ApplicationCredentialID != "" {
			ac["id"] = cfg.ApplicationCredentialID
		} else {
			ac["name"] = cfg.ApplicationCredentialName
			ac["user"] = user
		}
		// An application credential carries its own project scope.
		return map[string]any{"auth": map[string]any{"identity": map[string]any{
			"methods": []string{"application_credential"}, "application_credential": ac}}}
	}
	user["password"] = cfg.Password
	auth := map[string]any{"identity": map[string]any{
		"methods": []string{"password"}, "password": map[string]any{"user": user}}}
	switch {
	case cfg.ProjectID != "":
		auth["scope"] = map[string]any{"project": map[string]any{"id": cfg.ProjectID}}
	case cfg.ProjectName != "":
		auth["scope"] = map[string]any{"project": map[string]any{
			"name": cfg.ProjectName, "domain": domainRef(cfg.ProjectDomainID, cfg.ProjectDomainName)}}
	}
	return map[string]any{"auth": auth}
}

func domainRef(id, name string) map[string]any {
	switch {
	case id != "":
		return map[string]any{"id": id}
	case name != "":
		return map[string]any{"name": name}
	}
	return map[string]any{"id": "default"}
}

// who names the credentials in error messages, never the secret.
func (c *Client) who() string {
	cfg := c.cfg
	switch {
	case cfg.ApplicationCredentialSecret != "" && cfg.ApplicationCredentialID != "":
		return "application credential " + cfg.ApplicationCredentialID
	case cfg.ApplicationCredentialSecret != "":
		return "application credential " + cfg.ApplicationCredentialName
	case cfg.UserID != "":
		return "user ID " + cfg.UserID
	}
	d := cfg.UserDomainName
	if d == "" {
		d = cfg.UserDomainID
	}
	if d == "" {
		d = "default"
	}
	return fmt.Sprintf("user %q (domain %s)", cfg.Username, d)
}

// authenticate gets a token and the Neutron endpoint. The caller holds
// c.mu.
func (c *Client) authenticate(ctx context.Context) error {
	body, err := json.Marshal(c.authBody())
	if err != nil {
		return fmt.Errorf("encode Keystone auth request: %w", err)
	}
	tokenURL := c.identityBase() + "/auth/tokens"
	var tr tokenResponse
	hdr, err := c.send(ctx, http.MethodPost, tokenURL, body, "", &tr)
	if err != nil {
		var se *statusError
		switch {
		case errors.As(err, &se) && se.code == http.StatusUnauthorized:
			return fmt.Errorf("%w: Keystone at %s rejected the credentials of %s", ErrAuth, tokenURL, c.who())
		case errors.As(err, &se) && se.code == http.StatusNotFound:
			return fmt.Errorf("%w: %s answered 404: is OS_AUTH_URL the Keystone identity endpoint?", ErrConfig, tokenURL)
		}
		return fmt.Errorf("authenticate with Keystone: %w", err)
	}
	tok := hdr.Get("X-Subject-Token")
	if tok == "" || tr.Token == nil {
		return fmt.Errorf("%w: Keystone at %s returned no X-Subject-Token or token body", ErrBadResponse, tokenURL)
	}
	ep, err := c.findEndpoint(&tr, "network")
	if err != nil {
		return err
	}
	ep = strings.TrimRight(ep, "/")
	if !strings.HasSuffix(ep, "/v2.0") {
		ep += "/v2.0"
	}
	c.token, c.neutron = tok, ep
	c.expires = tr.Token.ExpiresAt
	return nil
}

func (c *Client) findEndpoint(tr *tokenResponse, service string) (string, error) {
	var seen []string
	for _, svc := range tr.Token.Catalog {
		if svc.Type != service {
			continue
		}
		var match []string
		for _, ep := range svc.Endpoints {
			region := ep.RegionID
			if region == "" {
				region = ep.Region
			}
			seen = append(seen, region+"/"+ep.Interface)
			if ep.Interface != c.cfg.Interface {
				continue
			}
			if c.cfg.RegionName == "" || region == c.cfg.RegionName || ep.Region == c.cfg.RegionName {
				match = append(match, ep.URL)
			}
		}
		if len(match) == 1 || (len(match) > 1 && c.cfg.RegionName != "") {
			return match[0], nil
		}
		if len(match) > 1 {
			return "", fmt.Errorf("%w: the %s service has endpoints in several regions (%s): set OS_REGION_NAME", ErrNoEndpoint, service, strings.Join(seen, ", "))
		}
	}
	sort.Strings(seen)
	return "", fmt.Errorf("%w: no %s endpoint with interface %s in region %q (the catalog has: %s)",
		ErrNoEndpoint, service, c.cfg.Interface, c.cfg.RegionName, strings.Join(seen, ", "))
}

// session returns a valid token and the Neutron URL, authenticating when
// there is none, it expires within a minute, or stale is the token a
// service just refused.
func (c *Client) session(ctx context.Context, stale string) (token, neutron string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token == "" || c.token == stale || (!c.expires.IsZero() && time.Until(c.expires) < time.Minute) {
		if err := c.authenticate(ctx); err != nil {
			return "", "", err
		}
	}
	return c.token, c.neutron, nil
}

// statusError is an HTTP answer outside 2xx.
type statusError struct {
	method, url string
	code        int
	body        string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s %s: HTTP %d: %s", e.method, e.url, e.code, e.body)
}

func retryable(code int) bool {
	return code == http.StatusTooManyRequests || code >= 500
}

// send performs one request with retries on network errors, timeouts, 429,
// 5xx and bodies that do not decode (a connection cut mid-answer looks
// like one), decoding a 2xx JSON body into out.
func (c *Client) send(ctx context.Context, method, u string, body []byte, token string, out any) (http.Header, error) {
	delay := c.cfg.Backoff
	var last error
	for attempt := 0; ; attempt++ {
		hdr, err := c.once(ctx, method, u, body, token, out)
		if err == nil {
			return hdr, nil
		}
		var se *statusError
		switch {
		case ctx.Err() != nil:
			return nil, fmt.Errorf("%s %s: %w", method, u, ctx.Err())
		case errors.As(err, &se) && !retryable(se.code):
			return nil, err
		}
		last = err
		if attempt >= c.cfg.MaxRetries {
			break
		}
		jitter := time.Duration(rand.Int64N(int64(delay)/5 + 1))
		t := time.NewTimer(delay + jitter)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%s %s: %w", method, u, ctx.Err())
		case <-t.C:
		}
		delay = min(2*delay, maxBackoff)
	}
	return nil, fmt.Errorf("%w: %w (after %d retries)", ErrUnavailable, last, c.cfg.MaxRetries)
}

func (c *Client) once(ctx context.Context, method, u string, body []byte, token string, out any) (http.Header, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, fmt.Errorf("%w: request %s: %w", ErrConfig, u, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, &statusError{method: method, url: u, code: resp.StatusCode, body: strings.TrimSpace(string(msg))}
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s %s: read body: %w", method, u, err)
		}
		return nil, fmt.Errorf("%w: %s %s: %w", ErrBadResponse, method, u, err)
	}
	return resp.Header, nil
}

// get fetches u with the current token; a 401 re-authenticates once and
// retries.
func (c *Client) get(ctx context.Context, u string, out any) error {
	token, _, err := c.session(ctx, "")
	if err != nil {
		return err
	}
	_, err = c.send(ctx, http.MethodGet, u, nil, token, out)
	var se *statusError
	if errors.As(err, &se) && se.code == http.StatusUnauthorized {
		if token, _, err = c.session(ctx, token); err != nil {
			return err
		}
		_, err = c.send(ctx, http.MethodGet, u, nil, token, out)
		if errors.As(err, &se) && se.code == http.StatusUnauthorized {
			return fmt.Errorf("%w: a fresh token for %s was refused: %w", ErrAuth, c.who(), err)
		}
	}
	if errors.As(err, &se) && se.code == http.StatusForbidden {
		return fmt.Errorf("%w: %s lacks the role to read it (the sync needs admin, or reader on every project): %w", ErrForbidden, c.who(), err)
	}
	return err
}

// listAll reads every page of a list: the items under the collection key,
// following Neutron's <key>_links or Keystone's links.next. A page without
// the key fails with ErrBadResponse, so an empty answer is never read as
// "nothing exists".
func listAll[T any](ctx context.Context, c *Client, u, key string) ([]T, error) {
	var all []T
	for seen := map[string]bool{}; u != ""; {
		if seen[u] {
			return nil, fmt.Errorf("%w: list %s: the next link loops back to %s", ErrBadResponse, key, u)
		}
		seen[u] = true
		var raw map[string]json.RawMessage
		if err := c.get(ctx, u, &raw); err != nil {
			return nil, fmt.Errorf("list %s: %w", key, err)
		}
		items, ok := raw[key]
		if !ok || bytes.Equal(bytes.TrimSpace(items), []byte("null")) {
			return nil, fmt.Errorf("%w: list %s: GET %s has no %q array", ErrBadResponse, key, u, key)
		}
		var page []T
		if err := json.Unmarshal(items, &page); err != nil {
			return nil, fmt.Errorf("%w: list %s: GET %s: %w", ErrBadResponse, key, u, err)
		}
		all = append(all, page...)
		next, err := nextLink(raw, key)
		if err != nil {
			return nil, fmt.Errorf("%w: list %s: GET %s: %w", ErrBadResponse, key, u, err)
		}
		u = next
	}
	return all, nil
}

func nextLink(raw map[string]json.RawMessage, key string) (string, error) {
	if l, ok := raw[key+"_links"]; ok {
		var links []struct{ Href, Rel string }
		if err := json.Unmarshal(l, &links); err != nil {
			return "", err
		}
		for _, x := range links {
			if x.Rel == "next" {
				return x.Href, nil
			}
		}
		return "", nil
	}
	if l, ok := raw["links"]; ok {
		var links struct {
			Next *string `json:"next"`
		}
		if err := json.Unmarshal(l, &links); err != nil {
			return "", err
		}
		if links.Next != nil {
			return *links.Next, nil
		}
	}
	return "", nil
}

func (c *Client) neutronURL(ctx context.Context, resource string, fields ...string) (string, error) {
	_, base, err := c.session(ctx, "")
	if err != nil {
		return "", err
	}
	q := url.Values{}
	q.Set("limit", fmt.Sprint(c.cfg.PageSize))
	for _, f := range fields {
		q.Add("fields", f)
	}
	return base + "/" + resource + "?" + q.Encode(), nil
}

// Snapshot reads the region: ports, security groups with their rules,
// networks, subnets and floating IPs from Neutron, then projects from
// Keystone. Any failure fails the whole snapshot, so that a sync never
// acts on partial data.
func (c *Client) Snapshot(ctx context.Context) (*Snapshot, error) {
	var s Snapshot
	var err error
	u, err := c.neutronURL(ctx, "ports", "id", "name", "network_id", "project_id", "tenant_id", "device_id",
		"device_owner", "binding:host_id", "mac_address", "status", "fixed_ips", "allowed_address_pairs", "security_groups")
	if err != nil {
		return nil, err
	}
	if s.Ports, err = listAll[Port](ctx, c, u, "ports"); err != nil {
		return nil, err
	}
	if u, err = c.neutronURL(ctx, "security-groups"); err != nil {
		return nil, err
	}
	if s.SecurityGroups, err = listAll[SecurityGroup](ctx, c, u, "security_groups"); err != nil {
		return nil, err
	}
	if u, err = c.neutronURL(ctx, "networks", "id", "name", "subnets"); err != nil {
		return nil, err
	}
	if s.Networks, err = listAll[Network](ctx, c, u, "networks"); err != nil {
		return nil, err
	}
	if u, err = c.neutronURL(ctx, "subnets", "id", "network_id", "ip_version", "gateway_ip"); err != nil {
		return nil, err
	}
	if s.Subnets, err = listAll[Subnet](ctx, c, u, "subnets"); err != nil {
		return nil, err
	}
	if u, err = c.neutronURL(ctx, "floatingips", "id", "floating_ip_address", "fixed_ip_address", "port_id"); err != nil {
		return nil, err
	}
	if s.FloatingIPs, err = listAll[FloatingIP](ctx, c, u, "floatingips"); err != nil {
		return nil, err
	}
	if s.Projects, err = listAll[Project](ctx, c, c.identityBase()+"/projects", "projects"); err != nil {
		return nil, err
	}
	return &s, nil
}
