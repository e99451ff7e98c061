package main

// The start of PostgreSQL's wire protocol (version 3.0): a startup message naming user and database, and
// password authentication, cleartext (the stand-in's) or SCRAM-SHA-256 (a real PostgreSQL's, scram.go).
// Enough for the gateway to prove it reaches its database with the password both got from the env file; no
// queries.

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"time"
)

const protocol30 = 196608

func readMessage(r io.Reader, typed bool) (byte, []byte, error) {
	var kind [1]byte
	if typed {
		if _, err := io.ReadFull(r, kind[:]); err != nil {
			return 0, nil, err
		}
	}
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return 0, nil, err
	}
	size := binary.BigEndian.Uint32(n[:])
	if size < 4 || size > 1<<16 {
		return 0, nil, errors.New("bad message length")
	}
	body := make([]byte, size-4)
	_, err := io.ReadFull(r, body)
	return kind[0], body, err
}

func message(kind byte, body []byte) []byte {
	out := []byte{kind, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(out[1:], uint32(len(body)+4))
	return append(out, body...)
}

func be32(v uint32) []byte {
	b := make([]byte, 4)
	binary.BigEndian.PutUint32(b, v)
	return b
}

// pgConnect opens a session as user on database with password; nil when the server accepted it.
func pgConnect(addr, user, password, database string) error {
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	params := "user\x00" + user + "\x00database\x00" + database + "\x00\x00"
	startup := append(be32(uint32(8+len(params))), be32(protocol30)...)
	if _, err := c.Write(append(startup, params...)); err != nil {
		return err
	}
	scram := &scramClient{password: password}
	for {
		kind, body, err := readMessage(c, true)
		if err != nil {
			return err
		}
		switch kind {
		case 'R':
			var reply []byte
			switch code, rest := authCode(body); code {
			case 3: // cleartext, as the stand-in asks
				reply = message('p', append([]byte(password), 0))
			case 10: // SASL, as a real PostgreSQL asks (scram-sha-256)
				reply, err = scram.start(rest)
			case 11:
				reply, err = scram.next(string(rest))
			case 12:
				err = scram.verify(string(rest))
			}
			if err != nil {
				return err
			}
			if reply != nil {
				if _, err := c.Write(reply); err != nil {
					return err
				}
			}
		case 'Z':
			return nil
		case 'E':
			return errors.New("refused: " + strings.ReplaceAll(string(body), "\x00", " "))
		}
	}
}
