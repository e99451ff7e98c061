package main

// The LiteLLM stand-in: reads the rendered config (--config, JSON is YAML), resolves `os.environ/NAME` from its
// environment as LiteLLM does, and serves what the layers and the chat UI use: liveliness and readiness (the
// latter reaches the database in DATABASE_URL), the model list, chat completions forwarded to the model's
// provider with the provider key, and virtual keys made with the master key.

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
)

type gatewayConfig struct {
	ModelList []struct {
		ModelName     string `json:"model_name"`
		LitellmParams struct {
			Model  string `json:"model"`
			APIKey string `json:"api_key"`
		} `json:"litellm_params"`
	} `json:"model_list"`
	GeneralSettings struct {
		MasterKey   string `json:"master_key"`
		DatabaseURL string `json:"database_url"`
	} `json:"general_settings"`
}

// fromEnv resolves LiteLLM's `os.environ/NAME` references; other values are literal.
func fromEnv(v string) string {
	if name, ok := strings.CutPrefix(v, "os.environ/"); ok {
		return os.Getenv(name)
	}
	return v
}

type gateway struct {
	cfg       gatewayConfig
	masterKey string
	mu        sync.Mutex
	virtual   map[string]bool
}

func runGateway(args []string) {
	fs := flag.NewFlagSet("gateway", flag.ExitOnError)
	configPath := fs.String("config", "/app/config.yaml", "")
	port := fs.String("port", "4000", "")
	_ = fs.Parse(args)
	raw, err := os.ReadFile(*configPath)
	if err != nil {
		fail(err.Error())
	}
	g := &gateway{virtual: map[string]bool{}}
	if err := json.Unmarshal(raw, &g.cfg); err != nil {
		fail("config: " + err.Error())
	}
	g.masterKey = fromEnv(g.cfg.GeneralSettings.MasterKey)
	if g.masterKey == "" {
		fail("no master key (general_settings.master_key)")
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health/liveliness", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, "I'm alive!") })
	mux.HandleFunc("GET /health/readiness", g.readiness)
	mux.HandleFunc("GET /v1/models", g.authed(false, g.models))
	mux.HandleFunc("POST /v1/chat/completions", g.authed(false, g.chat))
	mux.HandleFunc("POST /key/generate", g.authed(true, g.generateKey))
	log.Printf("gateway stand-in listening on :%s with %d models", *port, len(g.cfg.ModelList))
	fail(http.ListenAndServe(":"+*port, mux).Error())
}

// authed lets in the master key, and a virtual key unless masterOnly.
func (g *gateway) authed(masterOnly bool, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key := bearer(r)
		g.mu.Lock()
		ok := key == g.masterKey || (!masterOnly && g.virtual[key])
		g.mu.Unlock()
		if key == "" || !ok {
			openAIError(w, 401, "Authentication Error, invalid key")
			return
		}
		h(w, r)
	}
}

func (g *gateway) readiness(w http.ResponseWriter, _ *http.Request) {
	u, err := url.Parse(fromEnv(g.cfg.GeneralSettings.DatabaseURL))
	if err == nil {
		pw, _ := u.User.Password()
		host := u.Host
		if u.Port() == "" {
			host += ":5432"
		}
		err = pgConnect(host, u.User.Username(), pw, strings.TrimPrefix(u.Path, "/"))
	}
	if err != nil {
		writeJSON(w, 503, map[string]any{"status": "unhealthy", "db": "Not connected", "error": err.Error()})
		return
	}
	writeJSON(w, 200, map[string]any{"status": "healthy", "db": "connected"})
}

func (g *gateway) models(w http.ResponseWriter, _ *http.Request) {
	data := []map[string]any{}
	for _, m := range g.cfg.ModelList {
		data = append(data, map[string]any{"id": m.ModelName, "object": "model"})
	}
	writeJSON(w, 200, map[string]any{"object": "list", "data": data})
}

func (g *gateway) chat(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil {
		openAIError(w, 400, "bad request body")
		return
	}
	name, _ := body["model"].(string)
	for _, m := range g.cfg.ModelList {
		if m.ModelName != name {
			continue
		}
		provider, model, _ := strings.Cut(m.LitellmParams.Model, "/")
		if provider != "openai" {
			openAIError(w, 400, "the stand-in only speaks to openai/ models")
			return
		}
		base := os.Getenv("OPENAI_API_BASE")
		if base == "" {
			base = "https://api.openai.com/v1"
		}
		body["model"] = model
		out, _ := json.Marshal(body)
		status, answer, err := postJSON(strings.TrimSuffix(base, "/")+"/chat/completions", fromEnv(m.LitellmParams.APIKey), out)
		if err != nil {
			openAIError(w, 502, "provider: "+err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(answer)
		return
	}
	openAIError(w, 400, "model "+name+" is not in the gateway's allowlist")
}

// generateKey makes a virtual key; like LiteLLM, a caller may choose its value (`key`, starting sk-).
func (g *gateway) generateKey(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Key string `json:"key"`
	}
	_ = json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req)
	if req.Key == "" {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		req.Key = "sk-" + hex.EncodeToString(b)
	}
	if !strings.HasPrefix(req.Key, "sk-") {
		openAIError(w, 400, "a virtual key starts with sk-")
		return
	}
	g.mu.Lock()
	g.virtual[req.Key] = true
	g.mu.Unlock()
	writeJSON(w, 200, map[string]any{"key": req.Key})
}
