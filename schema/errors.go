package schema

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
)

// Code classifies an error the same way whatever vendor raised it, so the
// tools can tell the model what to do next.
type Code string

// Portable error codes.
const (
	CodeInvalidArgument    Code = "invalid_argument"
	CodeNotFound           Code = "not_found"
	CodePermissionDenied   Code = "permission_denied"
	CodeUnauthenticated    Code = "unauthenticated"
	CodeRateLimited        Code = "rate_limited"
	CodeUnavailable        Code = "unavailable"
	CodeDeadlineExceeded   Code = "deadline_exceeded"
	CodeUnsupported        Code = "unsupported"
	CodeFailedPrecondition Code = "failed_precondition"
	CodeInternal           Code = "internal"
)

// Error is an error with a portable code. The portable layer creates it once,
// around whatever a driver or the filter compiler returned.
type Error struct {
	Code Code
	// Arg names the tool argument at fault, when there is one.
	Arg string
	// Msg is written for a model: what went wrong and what to do next.
	Msg string
	// RequestID is the vendor's request id, for support tickets.
	RequestID string
	// Ref is a correlation id: the server log has Err in full under it,
	// while the model is shown only Msg (Err may hold internal URLs, host
	// names or tenant ids).
	Ref string
	Err error
}

func (e *Error) Error() string {
	msg := e.Msg
	if msg == "" && e.Err != nil {
		msg = e.Err.Error()
	} else if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	if e.Arg != "" {
		msg = e.Arg + ": " + msg
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// NewRef returns a short random correlation id for Error.Ref.
func NewRef() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Public renders the error for a model: the messages written for it along
// the chain, never the text of a wrapped non-portable error, which is
// replaced by a pointer to the server log.
func (e *Error) Public() string {
	msg := e.Msg
	if e.Err != nil {
		if inner, ok := errors.AsType[*Error](e.Err); ok {
			msg = joinMsg(msg, inner.Public())
		} else {
			detail := "details are in the server log"
			if e.Ref != "" {
				detail += " (ref " + e.Ref + ")"
			}
			msg = joinMsg(msg, detail)
		}
	}
	if e.Arg != "" {
		msg = e.Arg + ": " + msg
	}
	return msg
}

// PublicMessage renders any error for a model: Public for an *Error in
// the chain, a pointer to the log for anything else.
func PublicMessage(err error) string {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Public()
	}
	return "internal error; the server log has the details"
}

func joinMsg(a, b string) string {
	if a == "" {
		return b
	}
	return a + ": " + b
}

// Errorf returns an *Error with code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// ArgError returns an invalid-argument error naming the argument at fault.
func ArgError(arg, format string, args ...any) *Error {
	return &Error{Code: CodeInvalidArgument, Arg: arg, Msg: fmt.Sprintf(format, args...)}
}

// CodeOf returns the code of the first *Error in err's chain, or
// CodeInternal when there is none.
func CodeOf(err error) Code {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Code
	}
	return CodeInternal
}
