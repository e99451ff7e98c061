package main

// The PostgreSQL stand-in: takes POSTGRES_USER, POSTGRES_DB and POSTGRES_PASSWORD as the official image does,
// keeps a PG_VERSION file in its data volume, and lets in only that user with that password on that database.

import (
	"bytes"
	"log"
	"net"
	"os"
	"path/filepath"
)

func runPostgres() {
	user, db, password := os.Getenv("POSTGRES_USER"), os.Getenv("POSTGRES_DB"), os.Getenv("POSTGRES_PASSWORD")
	if password == "" {
		fail("POSTGRES_PASSWORD is empty (the official image refuses to start without it too)")
	}
	data := "/var/lib/postgresql/data"
	if err := os.MkdirAll(data, 0o700); err != nil {
		fail(err.Error())
	}
	_ = os.WriteFile(filepath.Join(data, "PG_VERSION"), []byte("standin\n"), 0o600)
	ln, err := net.Listen("tcp", ":5432")
	if err != nil {
		fail(err.Error())
	}
	log.Printf("postgres stand-in listening on :5432 for user %s, database %s", user, db)
	for {
		c, err := ln.Accept()
		if err != nil {
			continue
		}
		go pgSession(c, user, db, password)
	}
}

func pgSession(c net.Conn, user, db, password string) {
	defer c.Close()
	_, body, err := readMessage(c, false)
	if err != nil || len(body) < 4 {
		return
	}
	fields := bytes.Split(body[4:], []byte{0})
	got := map[string]string{}
	for i := 0; i+1 < len(fields); i += 2 {
		got[string(fields[i])] = string(fields[i+1])
	}
	_, _ = c.Write(message('R', be32(3)))
	kind, pw, err := readMessage(c, true)
	if err != nil || kind != 'p' {
		return
	}
	if got["user"] != user || got["database"] != db || string(bytes.TrimRight(pw, "\x00")) != password {
		_, _ = c.Write(message('E', []byte("SFATAL\x00C28P01\x00Mpassword authentication failed\x00\x00")))
		return
	}
	_, _ = c.Write(message('R', be32(0)))
	_, _ = c.Write(message('Z', []byte{'I'}))
}
