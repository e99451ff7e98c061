package main

// The client side of SCRAM-SHA-256 (RFC 5802 / 7677, as PostgreSQL speaks it over SASL): what a real
// PostgreSQL asks of the gateway by default (the image built from Debian's package, postgres-image.ts, and the
// official one), where the PostgreSQL stand-in asks for a cleartext password.

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
)

const scramMechanism = "SCRAM-SHA-256"

type scramClient struct {
	password    string
	clientFirst string // client-first-message-bare
	authMessage string
	salted      []byte
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// pbkdf2SHA256 is PBKDF2 with HMAC-SHA-256 for one 32-byte block, all SCRAM-SHA-256 needs.
func pbkdf2SHA256(password, salt []byte, iterations int) []byte {
	m := hmac.New(sha256.New, password)
	m.Write(salt)
	m.Write([]byte{0, 0, 0, 1})
	u := m.Sum(nil)
	out := append([]byte(nil), u...)
	for i := 1; i < iterations; i++ {
		m.Reset()
		m.Write(u)
		u = m.Sum(nil)
		for j := range out {
			out[j] ^= u[j]
		}
	}
	return out
}

// start answers AuthenticationSASL (its body: the mechanisms offered) with a SASLInitialResponse message.
func (s *scramClient) start(mechanisms []byte) ([]byte, error) {
	if !bytes.Contains(mechanisms, []byte(scramMechanism+"\x00")) {
		return nil, errors.New("the server offers no " + scramMechanism)
	}
	nonce := make([]byte, 18)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	// PostgreSQL takes the user from the startup message: the SCRAM user name is left empty, as libpq does.
	s.clientFirst = "n=,r=" + base64.StdEncoding.EncodeToString(nonce)
	first := "n,," + s.clientFirst
	body := append([]byte(scramMechanism+"\x00"), be32(uint32(len(first)))...)
	return message('p', append(body, first...)), nil
}

// next answers AuthenticationSASLContinue (the server-first-message) with the client-final-message.
func (s *scramClient) next(serverFirst string) ([]byte, error) {
	attrs := map[string]string{}
	for _, kv := range strings.Split(serverFirst, ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			attrs[k] = v
		}
	}
	salt, err := base64.StdEncoding.DecodeString(attrs["s"])
	iterations, ierr := strconv.Atoi(attrs["i"])
	if err != nil || ierr != nil || iterations < 1 || !strings.HasPrefix(attrs["r"], strings.TrimPrefix(s.clientFirst, "n=,r=")) {
		return nil, errors.New("bad SCRAM server-first-message")
	}
	s.salted = pbkdf2SHA256([]byte(s.password), salt, iterations)
	clientKey := hmacSHA256(s.salted, "Client Key")
	stored := sha256.Sum256(clientKey)
	withoutProof := "c=biws,r=" + attrs["r"] // biws: base64 of the GS2 header "n,,"
	s.authMessage = s.clientFirst + "," + serverFirst + "," + withoutProof
	proof := hmacSHA256(stored[:], s.authMessage)
	for i := range proof {
		proof[i] ^= clientKey[i]
	}
	return message('p', []byte(withoutProof+",p="+base64.StdEncoding.EncodeToString(proof))), nil
}

// verify checks AuthenticationSASLFinal: the server proves it knew the password too.
func (s *scramClient) verify(serverFinal string) error {
	want := "v=" + base64.StdEncoding.EncodeToString(hmacSHA256(hmacSHA256(s.salted, "Server Key"), s.authMessage))
	if !hmac.Equal([]byte(serverFinal), []byte(want)) {
		return errors.New("the server's SCRAM signature is wrong")
	}
	return nil
}

// authCode splits an Authentication message into its code and the rest.
func authCode(body []byte) (uint32, []byte) {
	if len(body) < 4 {
		return 0xffffffff, nil
	}
	return binary.BigEndian.Uint32(body), body[4:]
}
