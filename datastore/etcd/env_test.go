package etcd

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    Config
		wantErr error
	}{
		{name: "nothing set is no endpoint", env: map[string]string{}},
		{
			name: "endpoints are split at commas and trimmed, TLS and auth read",
			env: map[string]string{"DATASTORE_TYPE": "etcdv3", "ETCD_ENDPOINTS": "http://a:2379, http://b:2379,",
				"ETCD_CA_CERT_FILE": "ca", "ETCD_CERT_FILE": "c", "ETCD_KEY_FILE": "k", "ETCD_USERNAME": "u", "ETCD_PASSWORD": "p"},
			want: Config{Endpoints: []string{"http://a:2379", "http://b:2379"}, CACertFile: "ca", CertFile: "c", KeyFile: "k", Username: "u", Password: "p"},
		},
		{
			name: "a CALICO_ variable wins over the bare one, as in Calico",
			env:  map[string]string{"ETCD_ENDPOINTS": "http://a:2379", "CALICO_ETCD_ENDPOINTS": "http://b:2379"},
			want: Config{Endpoints: []string{"http://b:2379"}},
		},
		{
			name:    "another datastore type is refused",
			env:     map[string]string{"DATASTORE_TYPE": "kubernetes"},
			wantErr: ErrDatastoreType,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ConfigFromEnv(func(k string) string { return tt.env[k] })
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
