package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// hashPasswordCost is bcrypt's work factor for approvers' passwords: about
// a quarter of a second per check on a small machine, which the approval
// page pays once per approval. (A variable only so tests, under the race
// detector, can take the cheapest.)
var hashPasswordCost = 12

// hashPassword is `incident-mcp hash-password [NAME]`: it reads a password
// from the first line of stdin and prints the bcrypt hash the approvers file
// takes, as a whole "NAME:hash" line when NAME is given. No htpasswd needed.
func hashPassword(args []string, stdin io.Reader, stdout io.Writer) error {
	name := ""
	switch len(args) {
	case 0:
	case 1:
		name = args[0]
	default:
		name = "-" // refused below
	}
	if strings.HasPrefix(name, "-") || strings.Contains(name, ":") {
		return errors.New("usage: incident-mcp hash-password [NAME] < password (prints NAME:hash for the --approvers file)")
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("hash-password: read the password from stdin: %w", err)
	}
	password := strings.TrimRight(line, "\r\n")
	switch {
	case password == "":
		return errors.New("hash-password: no password on stdin; e.g. printf '%s\\n' \"$PASSWORD\" | incident-mcp hash-password alice")
	case len(password) > 72:
		return errors.New("hash-password: bcrypt takes at most 72 bytes of password")
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), hashPasswordCost)
	if err != nil {
		return fmt.Errorf("hash-password: %w", err)
	}
	if name != "" {
		fmt.Fprintf(stdout, "%s:%s\n", name, hash)
		return nil
	}
	fmt.Fprintln(stdout, string(hash))
	return nil
}
