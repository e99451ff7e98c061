package main

// The Open WebUI stand-in: GET /health, and a chat sent on to the OpenAI-compatible API Open WebUI is given
// (OPENAI_API_BASE_URL with OPENAI_API_KEY), as Open WebUI does with a user's chat. It keeps a file in its data
// volume, as the real one keeps its database there.

import (
	"io"
	"log"
	"net/http"
	"os"
	"strings"
)

func runChatUI() {
	base, key := os.Getenv("OPENAI_API_BASE_URL"), os.Getenv("OPENAI_API_KEY")
	if base == "" || key == "" {
		fail("OPENAI_API_BASE_URL and OPENAI_API_KEY are required")
	}
	if err := os.MkdirAll("/app/backend/data", 0o700); err != nil {
		fail(err.Error())
	}
	_ = os.WriteFile("/app/backend/data/webui.db", []byte("standin\n"), 0o600)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, map[string]any{"status": true}) })
	mux.HandleFunc("POST /api/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			openAIError(w, 400, "bad request body")
			return
		}
		status, answer, err := postJSON(strings.TrimSuffix(base, "/")+"/chat/completions", key, body)
		if err != nil {
			openAIError(w, 502, "gateway: "+err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(answer)
	})
	log.Printf("chat UI stand-in listening on :8080, models from %s", base)
	fail(http.ListenAndServe(":8080", mux).Error())
}
