// Stand-ins for the images the service layer runs (LiteLLM, Open WebUI, PostgreSQL), built with no download
// for the control-plane test host (test/controlplane/standins.ts). One static binary; the first argument
// says which one it plays. Each speaks only the part of the real program's interface the layers and tests use.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fail("usage: standin gateway|chat-ui|postgres [args]")
	}
	switch os.Args[1] {
	case "gateway":
		runGateway(os.Args[2:])
	case "chat-ui":
		runChatUI()
	case "postgres":
		runPostgres()
	default:
		fail("unknown stand-in " + os.Args[1])
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "standin: "+msg)
	os.Exit(2)
}
