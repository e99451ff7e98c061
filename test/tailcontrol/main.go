// tailcontrol: a local Tailscale coordination server for tests (tailscale.com/tstest/integration/testcontrol)
// over plain HTTP, with a DERP server of its own so a node needs nothing from the internet.
//
//	tailcontrol -listen 10.0.0.1:0 -authkey-file FILE -tags tag:a,tag:b
//
// It prints its URL alone on the first line of stdout, then serves until killed. The required auth key is
// read from a file (never argv) and is one-off: once a node that registered with it polls for its map,
// no other registration is accepted until POST /demesne/authkey (the new key as the body) sets another.
// GET /demesne/nodes lists the registered nodes with their tags. With -own-map-stream, POST
// /demesne/packetfilter?hostname=H sets the packet filter that node gets (filter.go).
//
// What testcontrol does not model: key expiry (an expired key is refused only as a wrong one is),
// pre-authorization (every node is authorized: RequireMachineAuth is off), and tag ownership at signup.
// It also asks for the key on every registration, where Tailscale's accepts a known node without one.
package main

import (
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"

	"tailscale.com/derp/derpserver"
	"tailscale.com/tailcfg"
	"tailscale.com/tstest/integration/testcontrol"
	"tailscale.com/types/key"
)

// The tailnet's MagicDNS suffix: with it testcontrol gives each node a cert domain, which `tailscale serve
// --https` wants before it sets a mapping.
const magicDNS = "demesne-test.ts.net"

type nodeView struct {
	Name       string   `json:"name"`
	Hostname   string   `json:"hostname"`
	Tags       []string `json:"tags"`
	Authorized bool     `json:"authorized"`
	Addresses  []string `json:"addresses"`
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on (host:port)")
	keyFile := flag.String("authkey-file", "", "file holding the auth key every node must present (required)")
	tags := flag.String("tags", "", "comma-separated tags a node may request at signup")
	ownMapStream := flag.Bool("own-map-stream", false, "serve the map long-poll here, so POST /demesne/packetfilter can set a node's filter (filter.go)")
	flag.Parse()
	if *keyFile == "" {
		log.Fatal("-authkey-file is required")
	}
	raw, err := os.ReadFile(*keyFile)
	if err != nil {
		log.Fatal(err)
	}
	authKey := strings.TrimSpace(string(raw))
	if authKey == "" {
		log.Fatalf("%s is empty", *keyFile)
	}
	host, _, err := net.SplitHostPort(*listen)
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	baseURL := "http://" + ln.Addr().String()

	// testcontrol assigns a node the tags it requests at signup only when TagOwners is set (without checking
	// them against it), so no -tags means untagged nodes. Owners matter only for later retagging.
	var owners map[string][]string
	for _, t := range strings.Split(*tags, ",") {
		if t = strings.TrimSpace(t); t != "" {
			if owners == nil {
				owners = map[string][]string{}
			}
			owners[t] = nil
		}
	}
	control := &testcontrol.Server{
		DERPMap:          startDERP(host),
		RequireAuthKey:   authKey,
		AllNodesSameUser: true,
		TagOwners:        owners,
		MagicDNSDomain:   magicDNS,
		DNSConfig:        &tailcfg.DNSConfig{},
		ExplicitBaseURL:  baseURL,
	}
	// testcontrol sends a node the capability map set for it (none by default), so HTTPS is granted per node
	// on its first map request, as a tailnet with HTTPS certificates enabled would.
	// The same first map request spends the key the node registered with. testcontrol reads RequireAuthKey
	// without a lock: a registration racing this write could see either key (tests join one node at a time).
	var granted sync.Map
	var keyMu sync.Mutex
	control.HoldMapRequest = func(req *tailcfg.MapRequest) func() {
		if _, done := granted.LoadOrStore(req.NodeKey, true); !done {
			keyMu.Lock()
			control.RequireAuthKey = "spent-" + key.NewNode().Public().String()
			keyMu.Unlock()
			go control.SetNodeCapMap(req.NodeKey, tailcfg.NodeCapMap{tailcfg.CapabilityHTTPS: nil})
		}
		return nil
	}

	mux := http.NewServeMux()
	if *ownMapStream {
		f := &filters{}
		control.AltMapStream = f.mapStream(control)
		mux.HandleFunc("/demesne/packetfilter", f.handle)
	}
	mux.HandleFunc("/demesne/nodes", func(w http.ResponseWriter, r *http.Request) {
		out := []nodeView{}
		for _, n := range control.AllNodes() {
			v := nodeView{Name: n.Name, Hostname: n.Hostinfo.Hostname(), Tags: n.Tags, Authorized: n.MachineAuthorized}
			for _, a := range n.Addresses {
				v.Addresses = append(v.Addresses, a.String())
			}
			out = append(out, v)
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(out)
	})
	mux.HandleFunc("/demesne/authkey", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 4096))
		k := strings.TrimSpace(string(body))
		if r.Method != http.MethodPost || err != nil || k == "" {
			http.Error(w, "POST the new key as the body", http.StatusBadRequest)
			return
		}
		keyMu.Lock()
		control.RequireAuthKey = k
		keyMu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.Handle("/", control)
	fmt.Println(baseURL)
	log.Fatal(http.Serve(ln, mux))
}

// startDERP serves DERP over TLS with a throwaway certificate (the node skips verification: InsecureForTests)
// on host, and returns the one-region map that points at it. STUN is off: a single node needs no path discovery.
func startDERP(host string) *tailcfg.DERPMap {
	d := derpserver.New(key.NewNode(), log.Printf)
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(derpserver.Handler(d))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Config.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){}
	srv.StartTLS()
	node := &tailcfg.DERPNode{
		Name: "d1", RegionID: 1, HostName: host, IPv4: host, IPv6: "none",
		STUNPort: -1, DERPPort: ln.Addr().(*net.TCPAddr).Port, InsecureForTests: true,
	}
	return &tailcfg.DERPMap{Regions: map[int]*tailcfg.DERPRegion{
		1: {RegionID: 1, RegionCode: "test", RegionName: "demesne test", Nodes: []*tailcfg.DERPNode{node}},
	}}
}
