// A node's packet filter set by the test, as a tailnet policy file's grants would be compiled into it.
//
// testcontrol always sends every node an allow-all filter and offers no way to change it, so with
// -own-map-stream the map long-poll is served here instead (testcontrol's AltMapStream): each response is
// testcontrol's own (MapResponse) with the filter replaced for a node whose hostname has one, sent whenever
// it changes (checked every half second) and with a keep-alive in between. The node's reported endpoints,
// disco key and home DERP are recorded as testcontrol's own handler records them.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"tailscale.com/tailcfg"
	"tailscale.com/tstest/integration/testcontrol"
)

// filters maps a node's hostname to the packet filter it gets; a node without one gets testcontrol's.
type filters struct {
	mu     sync.Mutex
	byHost map[string][]tailcfg.FilterRule
}

// handle serves POST /demesne/packetfilter?hostname=H with the rules ([]tailcfg.FilterRule as JSON) as the body.
// An empty list denies everything: it is sent as one rule with no source (the field cannot carry an empty list).
func (f *filters) handle(w http.ResponseWriter, r *http.Request) {
	host := r.URL.Query().Get("hostname")
	var rules []tailcfg.FilterRule
	if r.Method != http.MethodPost || host == "" || json.NewDecoder(r.Body).Decode(&rules) != nil || rules == nil {
		http.Error(w, "POST ?hostname=H with a JSON list of tailcfg.FilterRule as the body", http.StatusBadRequest)
		return
	}
	if len(rules) == 0 {
		rules = []tailcfg.FilterRule{{SrcIPs: []string{}, DstPorts: []tailcfg.NetPortRange{{IP: "*", Ports: tailcfg.PortRangeAny}}}}
	}
	f.mu.Lock()
	if f.byHost == nil {
		f.byHost = map[string][]tailcfg.FilterRule{}
	}
	f.byHost[host] = rules
	f.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (f *filters) forHost(host string) []tailcfg.FilterRule {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.byHost[host]
}

// mapStream is the AltMapStream: testcontrol's responses with the node's filter in place.
func (f *filters) mapStream(s *testcontrol.Server) testcontrol.AltMapStreamFunc {
	return func(ctx context.Context, w testcontrol.MapStreamWriter, req *tailcfg.MapRequest) {
		// What testcontrol's handler records from a request that is not a read-only stream (v68+ clients
		// send their updates in separate non-streaming requests).
		if !req.ReadOnly && !(req.Stream && req.Version >= 68) {
			if n := s.Node(req.NodeKey); n != nil {
				n.Endpoints = req.Endpoints
				n.DiscoKey = req.DiscoKey
				n.Cap = req.Version
				if req.Hostinfo != nil {
					n.Hostinfo = req.Hostinfo.View()
					if ni := req.Hostinfo.NetInfo; ni != nil && ni.PreferredDERP != 0 {
						n.HomeDERP = ni.PreferredDERP
					}
				}
				s.UpdateNode(n)
			}
		}
		var last []byte
		lastSent := time.Now()
		for {
			res, err := s.MapResponse(req)
			if err != nil || res == nil {
				return
			}
			if rules := f.forHost(res.Node.Hostinfo.Hostname()); rules != nil {
				res.PacketFilter = rules
			}
			b, err := json.Marshal(res)
			if err != nil {
				return
			}
			if !bytes.Equal(b, last) {
				if w.SendMapMessage(res) != nil {
					return
				}
				last, lastSent = b, time.Now()
			} else if time.Since(lastSent) > 30*time.Second {
				if w.SendMapMessage(&tailcfg.MapResponse{KeepAlive: true}) != nil {
					return
				}
				lastSent = time.Now()
			}
			if !req.Stream {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(500 * time.Millisecond):
			}
		}
	}
}
